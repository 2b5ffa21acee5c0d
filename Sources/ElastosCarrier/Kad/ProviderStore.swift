// Provider records: which peers said (ADD_PROVIDER) they can serve a key, until the record expires.
// Bounded in keys and in providers per key; the soonest-expiring entry makes room for a new one.
public import CarrierWire

public struct ProviderStore: Sendable {
    public struct Provider: Sendable, Equatable {
        public let peer: Libp2pPeerID
        public var addrs: [Multiaddr]
        public var expires: ContinuousClock.Instant
    }

    public let ttl: Duration
    public let maxKeys: Int
    public let maxProvidersPerKey: Int
    private var records: [[UInt8]: [Provider]] = [:]

    public init(ttl: Duration = .seconds(48 * 3600), maxKeys: Int = 10_000, maxProvidersPerKey: Int = 20) {
        self.ttl = ttl
        self.maxKeys = max(1, maxKeys)
        self.maxProvidersPerKey = max(1, maxProvidersPerKey)
    }

    /// Records that `peer` provides `key` (or renews it), for `ttl` from `now`.
    public mutating func add(key: [UInt8], peer: Libp2pPeerID, addrs: [Multiaddr], now: ContinuousClock.Instant = .now) {
        removeExpired(now: now)
        let addrs = Array(addrs.map(\.withoutPeerID).uniqued().prefix(RoutingTable.maxAddrsPerPeer))
        var providers = records[key] ?? []
        if let i = providers.firstIndex(where: { $0.peer == peer }) {
            providers[i].expires = now + ttl
            if !addrs.isEmpty { providers[i].addrs = addrs }
        } else {
            if records[key] == nil, records.count >= maxKeys, let victim = soonestExpiringKey() { records.removeValue(forKey: victim) }
            if providers.count >= maxProvidersPerKey, let i = providers.indices.min(by: { providers[$0].expires < providers[$1].expires }) {
                providers.remove(at: i)
            }
            providers.append(Provider(peer: peer, addrs: addrs, expires: now + ttl))
        }
        records[key] = providers
    }

    /// The live providers of `key`.
    public func providers(for key: [UInt8], now: ContinuousClock.Instant = .now) -> [Provider] {
        (records[key] ?? []).filter { $0.expires > now }
    }

    public mutating func removeExpired(now: ContinuousClock.Instant = .now) {
        for (key, providers) in records {
            let live = providers.filter { $0.expires > now }
            records[key] = live.isEmpty ? nil : live
        }
    }

    public var keyCount: Int { records.count }

    private func soonestExpiringKey() -> [UInt8]? {
        records.min { a, b in (a.value.map(\.expires).max() ?? .now) < (b.value.map(\.expires).max() ?? .now) }?.key
    }
}
