// The k-bucket routing table: bucket i holds peers whose key shares exactly i leading bits with
// ours (i = 0…255), at most k each. A full bucket keeps its long-lived peers and refuses
// newcomers (Kademlia's preference for peers that have stayed up); a peer that fails a request
// is removed, which makes room.
public import CarrierWire
import NIOCore

/// A peer in the routing table, with the addresses we may dial it on.
public struct RoutingTableEntry: Sendable, Equatable {
    public let peer: Libp2pPeerID
    public let key: KadKey
    public var addrs: [Multiaddr]
    public var lastSeen: ContinuousClock.Instant
}

public struct RoutingTable: Sendable {
    public enum Insertion: Equatable, Sendable {
        case added, updated
        /// The peer's bucket already holds `bucketSize` live peers.
        case bucketFull
        /// Our own PeerID never enters the table.
        case isSelf
    }

    public let localKey: KadKey
    public let bucketSize: Int
    /// Addresses kept per peer: enough for a few transports and both IP versions.
    public static let maxAddrsPerPeer = 8
    private var buckets: [[RoutingTableEntry]]

    public init(local: Libp2pPeerID, bucketSize: Int = 20) {
        localKey = KadKey(peer: local)
        self.bucketSize = max(1, bucketSize)
        buckets = Array(repeating: [], count: KadKey.bitCount)
    }

    /// The bucket a key belongs in (its common prefix length with ours).
    public func bucketIndex(for key: KadKey) -> Int? {
        let cpl = localKey.commonPrefixLength(with: key)
        return cpl < KadKey.bitCount ? cpl : nil
    }

    /// Adds `peer` or refreshes its addresses and last-seen time.
    @discardableResult
    public mutating func insert(_ peer: Libp2pPeerID, addrs: [Multiaddr], now: ContinuousClock.Instant = .now) -> Insertion {
        let key = KadKey(peer: peer)
        guard let index = bucketIndex(for: key) else { return .isSelf }
        let kept = Array(addrs.map(\.withoutPeerID).uniqued().prefix(Self.maxAddrsPerPeer))
        if let position = buckets[index].firstIndex(where: { $0.peer == peer }) {
            if !kept.isEmpty { buckets[index][position].addrs = kept }
            buckets[index][position].lastSeen = now
            return .updated
        }
        guard buckets[index].count < bucketSize else { return .bucketFull }
        buckets[index].append(RoutingTableEntry(peer: peer, key: key, addrs: kept, lastSeen: now))
        return .added
    }

    /// Drops `peer` (it failed a request or went away).
    public mutating func remove(_ peer: Libp2pPeerID) {
        guard let index = bucketIndex(for: KadKey(peer: peer)) else { return }
        buckets[index].removeAll { $0.peer == peer }
    }

    public func entry(for peer: Libp2pPeerID) -> RoutingTableEntry? {
        guard let index = bucketIndex(for: KadKey(peer: peer)) else { return nil }
        return buckets[index].first { $0.peer == peer }
    }

    /// The `count` peers nearest to `target` by XOR distance, nearest first.
    public func closest(to target: KadKey, count: Int) -> [RoutingTableEntry] {
        // At most 256 × k entries, so sorting them all is cheap.
        let all = buckets.joined().map { ($0.key.distance(to: target), $0) }
        return all.sorted { $0.0 < $1.0 }.prefix(max(0, count)).map(\.1)
    }

    public var count: Int { buckets.reduce(0) { $0 + $1.count } }
    public var allEntries: [RoutingTableEntry] { Array(buckets.joined()) }
    /// How many peers each non-empty bucket holds, by bucket index.
    public var bucketSizes: [Int: Int] {
        var sizes: [Int: Int] = [:]
        for (i, b) in buckets.enumerated() where !b.isEmpty { sizes[i] = b.count }
        return sizes
    }
}

extension Sequence where Element: Hashable {
    func uniqued() -> [Element] {
        var seen: Set<Element> = []
        return filter { seen.insert($0).inserted }
    }
}
