// The Kademlia DHT (`/ipfs/kad/1.0.0`) on a CarrierNode:
// https://github.com/libp2p/specs/blob/master/kad-dht/README.md
// Peers enter the routing table only once identify shows they serve the DHT protocol; lookups
// are iterative (α requests in flight, converging on the k closest peers); provider records and
// our own signed value records (`/elastos/…`, see SignedDHTRecord) are stored by server-mode
// nodes. Everything is bounded: the table (256 × k), the stores, lookups in flight, inbound
// streams and requests per stream (KadConfig).
public import CarrierWire
import ElastosCore
import Foundation

public actor KademliaDHT {
    public nonisolated let node: CarrierNode
    public nonisolated let config: KadConfig
    private let identity: SigningKey
    private let localKey: KadKey
    private var table: RoutingTable
    private var providerStore: ProviderStore
    private var valueStore: ValueStore
    private var lookupsRunning = 0
    private var lookupWaiters: [CheckedContinuation<Void, Never>] = []
    private var inboundStreams = 0
    private var refreshTask: Task<Void, Never>?
    /// What we provide and publish, with when we last announced it (for republishing).
    private var providedKeys: [[UInt8]: ContinuousClock.Instant] = [:]
    private var publishedValues: [String: (value: [UInt8], sequence: UInt64?, at: ContinuousClock.Instant)] = [:]
    private var started = false
    private var stopped = false
    /// Records that failed validation, on receipt or in answers (for tests and diagnostics).
    public private(set) var rejectedRecords = 0

    /// A DHT for `node`, whose identity signs our value records. Call ``start()`` next.
    init(node: CarrierNode, identity: SigningKey, config: KadConfig) {
        self.node = node
        self.config = config
        self.identity = identity
        localKey = KadKey(peer: node.libp2pPeerID)
        table = RoutingTable(local: node.libp2pPeerID, bucketSize: config.bucketSize)
        providerStore = ProviderStore(ttl: config.providerTTL, maxKeys: config.maxProviderKeys, maxProvidersPerKey: config.maxProvidersPerKey)
        valueStore = ValueStore(maxRecords: config.maxValueRecords)
    }

    /// Serves the protocol (server mode), watches identify for DHT peers, starts refreshing.
    func start() async {
        guard !started else { return }
        started = true
        if config.mode == .server {
            for protocolID in config.protocolIDs {
                node.handle(protocolID) { [weak self] stream in await self?.serve(stream) }
            }
        }
        node.onIdentify { [weak self] info in await self?.peerIdentified(info) }
        for info in await node.peers() where info.agentVersion != nil { peerIdentified(info) }
        if let interval = config.refreshInterval {
            refreshTask = Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    guard let self, !Task.isCancelled else { return }
                    await self.refresh()
                }
            }
        }
    }

    /// Stops refreshing; lookups still running finish on their own deadlines.
    public func stop() {
        stopped = true
        refreshTask?.cancel()
        refreshTask = nil
    }

    // MARK: Public operations

    /// Connects to `peers`, adds those that serve the DHT, then looks up our own PeerID so the
    /// table fills with our neighbours. Returns how many peers the table holds afterwards.
    @discardableResult
    public func bootstrap(_ peers: [Multiaddr]) async throws(KadError) -> Int {
        var failures: [String] = []
        for address in peers {
            do {
                let peer = try await node.dial(address)
                guard let info = await node.waitForIdentify(peer, timeout: config.identifyTimeout) else {
                    failures.append("\(address): no identify"); continue
                }
                peerIdentified(info)
                if table.entry(for: peer) == nil { failures.append("\(address): does not serve \(config.protocolIDs.joined(separator: " or "))") }
            } catch {
                failures.append("\(address): \(error)")
            }
        }
        guard table.count > 0 else { throw .bootstrapFailed(failures.isEmpty ? ["no bootstrap peers given"] : failures) }
        _ = await closestPeers(to: node.libp2pPeerID.multihash.bytes)
        return table.count
    }

    /// The k peers closest to `key` that answered, found by an iterative FIND_NODE lookup.
    public func closestPeers(to key: [UInt8]) async -> [PeerAddresses] {
        let request = KadMessage(type: .findNode, key: key)
        return await lookup(key: key, request: request) { _, _ in false }
    }

    /// Finds `peer`'s addresses: from a connection, the routing table, or a FIND_NODE lookup that
    /// stops as soon as some peer names it.
    public func findPeer(_ peer: Libp2pPeerID) async throws(KadError) -> PeerAddresses {
        if let info = await node.peers().first(where: { $0.peer == peer }) {
            let addrs = Self.dialable(info)
            if !addrs.isEmpty { return PeerAddresses(peer: peer, addrs: addrs) }
        }
        if let entry = table.entry(for: peer), !entry.addrs.isEmpty { return PeerAddresses(peer: peer, addrs: entry.addrs) }
        guard table.count > 0 else { throw .noPeers }
        var found: PeerAddresses?
        let request = KadMessage(type: .findNode, key: peer.multihash.bytes)
        _ = await lookup(key: request.key, request: request) { _, answer in
            for entry in answer.closerPeers where entry.peerID == peer {
                let addrs = entry.parsedAddrs.filter { $0.tcpEndpoint != nil }
                if !addrs.isEmpty { found = PeerAddresses(peer: peer, addrs: addrs.map(\.withoutPeerID).uniqued()) }
            }
            return found != nil
        }
        guard let found else { throw .peerNotFound(peer) }
        return found
    }

    /// Announces this node as a provider of `key` to the k closest peers (and stores it here).
    /// Returns how many peers took the announcement.
    @discardableResult
    public func provide(key: [UInt8]) async throws(KadError) -> Int {
        let me = node.libp2pPeerID
        providerStore.add(key: key, peer: me, addrs: node.advertisedAddrs)
        if providedKeys[key] != nil || providedKeys.count < config.maxRepublished { providedKeys[key] = .now }
        guard table.count > 0 else { throw .noPeers }
        let closest = await closestPeers(to: key)
        let announcement = KadMessage(type: .addProvider, key: key, providerPeers: [selfRecord()])
        return await sendToAll(announcement, peers: closest) { _ in true }
    }

    /// Peers that provide `key`: our store, then a GET_PROVIDERS lookup that stops once `count`
    /// distinct providers are known.
    public func findProviders(key: [UInt8], count: Int = 20) async throws(KadError) -> [PeerAddresses] {
        var found: [PeerAddresses] = providerStore.providers(for: key).map { PeerAddresses(peer: $0.peer, addrs: $0.addrs) }
        if found.count >= count { return Array(found.prefix(count)) }
        guard table.count > 0 else {
            if found.isEmpty { throw .noPeers }
            return found
        }
        let request = KadMessage(type: .getProviders, key: key)
        _ = await lookup(key: key, request: request) { _, answer in
            for entry in answer.providerPeers {
                guard let peer = entry.peerID else { continue }
                let addrs = entry.parsedAddrs.filter { $0.tcpEndpoint != nil }.map(\.withoutPeerID).uniqued()
                if let i = found.firstIndex(where: { $0.peer == peer }) {
                    if found[i].addrs.isEmpty { found[i].addrs = addrs }
                } else if found.count < count {
                    found.append(PeerAddresses(peer: peer, addrs: addrs))
                }
            }
            return found.count >= count
        }
        return found
    }

    /// Publishes `value` under `/elastos/<our PeerID>/<name>`, signed by this node, at the k closest
    /// peers. `sequence` defaults to the current time in milliseconds, so later puts win.
    /// Returns the record and how many peers stored it.
    @discardableResult
    public func putValue(name: String, value: [UInt8], sequence: UInt64? = nil) async throws(KadError) -> (record: SignedDHTRecord, storedAt: Int) {
        let now = Self.unixNow()
        let record: SignedDHTRecord
        do {
            record = try SignedDHTRecord(
                name: name, value: value, sequence: sequence ?? UInt64(Date().timeIntervalSince1970 * 1000),
                expiresAt: now + config.recordLifetimeSeconds, signingKey: identity)
        } catch { throw .invalidRecord(error) }
        valueStore.put(record, now: now)
        if publishedValues[name] != nil || publishedValues.count < config.maxRepublished {
            publishedValues[name] = (value, sequence, .now)
        }
        guard table.count > 0 else { throw .noPeers }
        let key = Array(record.key.utf8)
        let closest = await closestPeers(to: key)
        let put = KadMessage(type: .putValue, key: key, record: KadMessage.Record(key: key, value: record.bytes))
        let stored = await sendToAll(put, peers: closest) { answer in answer?.record?.value == put.record?.value }
        return (record, stored)
    }

    /// The best valid record for `key` (highest sequence, then latest expiry) among ours and the
    /// answers of a GET_VALUE lookup. Invalid or forged answers are counted and ignored.
    public func getValue(key: String) async throws(KadError) -> SignedDHTRecord {
        let keyBytes = Array(key.utf8)
        guard SignedDHTRecord.isInNamespace(keyBytes) else {
            throw .invalidRecord(.kad("key \(key.prefix(80).debugDescription) is outside the \(SignedDHTRecord.namespace) namespace"))
        }
        let now = Self.unixNow()
        var best = valueStore.get(key, now: now)
        var valid = 0
        if table.count > 0 {
            let request = KadMessage(type: .getValue, key: keyBytes)
            _ = await lookup(key: keyBytes, request: request) { _, answer in
                guard let record = answer.record else { return false }
                guard record.key == keyBytes, let candidate = try? SignedDHTRecord(key: record.key, value: record.value, now: now) else {
                    rejectedRecords += 1
                    return false
                }
                valid += 1
                if best.map({ candidate.supersedes($0) }) ?? true { best = candidate }
                return valid >= config.valueQuorum
            }
        }
        guard let best else { throw table.count > 0 ? .valueNotFound(key) : .noPeers }
        valueStore.put(best, now: now)
        return best
    }

    /// Number of peers in the routing table.
    public var routingTableSize: Int { table.count }
    /// A copy of the routing table (for diagnostics and tests).
    public var routingTable: RoutingTable { table }
    /// Live provider records stored here for `key`.
    public func storedProviders(for key: [UInt8]) -> [Libp2pPeerID] { providerStore.providers(for: key).map(\.peer) }
    /// The record stored here for `key`, if valid now.
    public func storedValue(for key: String) -> SignedDHTRecord? { valueStore.get(key, now: Self.unixNow()) }

    // MARK: Routing table upkeep

    private func peerIdentified(_ info: PeerInfo) {
        guard info.protocols.contains(where: config.protocolIDs.contains) else {
            // A peer that stopped serving the DHT (identify push) leaves the table.
            table.remove(info.peer)
            return
        }
        table.insert(info.peer, addrs: Self.dialable(info))
    }

    /// A peer's listen addresses we can dial; the connection's address if it lists none.
    private static func dialable(_ info: PeerInfo) -> [Multiaddr] {
        let listed = info.listenAddrs.filter { $0.tcpEndpoint != nil }
        if !listed.isEmpty { return listed.map(\.withoutPeerID) }
        if info.isOutbound, let remote = info.remoteAddress { return [remote] }
        return []
    }

    private func refresh() async {
        guard !stopped, table.count > 0 else { return }
        _ = await closestPeers(to: node.libp2pPeerID.multihash.bytes)
        let random = (0..<32).map { _ in UInt8.random(in: 0...255) }
        _ = await closestPeers(to: random)
        await republishDue()
    }

    /// Announces again what we provide and publish, once `republishInterval` has passed, so
    /// our records outlive the TTLs of the peers that hold them.
    private func republishDue() async {
        let due = ContinuousClock.now - config.republishInterval
        for (key, at) in providedKeys where at <= due && !stopped { _ = try? await provide(key: key) }
        for (name, entry) in publishedValues where entry.at <= due && !stopped {
            _ = try? await putValue(name: name, value: entry.value, sequence: entry.sequence)
        }
    }

    private func selfRecord() -> KadMessage.Peer {
        KadMessage.Peer(id: node.libp2pPeerID.multihash.bytes, addrs: node.advertisedAddrs.map(\.bytes), connection: .connected)
    }

    static func unixNow() -> UInt64 { UInt64(max(0, Date().timeIntervalSince1970)) }

    // MARK: Iterative lookup

    private enum CandidateState { case waiting, querying, answered, failed }

    private struct Candidate {
        let peer: Libp2pPeerID
        let distance: KadKey
        var addrs: [Multiaddr]
        var state: CandidateState
    }

    /// Queries the closest known peers to `key` with `request`, α at a time, adding the closer
    /// peers each answer names, until the k closest have all answered (or failed), `answered`
    /// returns true, or the lookup deadline passes. Returns the closest peers that answered.
    private func lookup(
        key: [UInt8], request: KadMessage, answered: (Libp2pPeerID, KadMessage) -> Bool
    ) async -> [PeerAddresses] {
        await acquireLookupSlot()
        defer { releaseLookupSlot() }
        let target = KadKey(hashing: key)
        let me = node.libp2pPeerID
        var initial: [Libp2pPeerID: Candidate] = [:]
        for entry in table.closest(to: target, count: config.bucketSize) {
            initial[entry.peer] = Candidate(peer: entry.peer, distance: entry.key.distance(to: target), addrs: entry.addrs, state: .waiting)
        }
        let k = config.bucketSize, alpha = max(1, config.alpha)
        let node = self.node, protocolIDs = config.protocolIDs, timeout = config.requestTimeout
        let deadline = ContinuousClock.now + config.lookupTimeout

        func nearest(_ candidates: [Libp2pPeerID: Candidate]) -> [Candidate] {
            Array(candidates.values.filter { $0.state != .failed }.sorted { $0.distance < $1.distance }.prefix(k))
        }

        let final = await withTaskGroup(of: (Libp2pPeerID, Result<KadMessage?, KadRequest.Failure>)?.self) { group in
            var candidates = initial
            group.addTask {
                try? await Task.sleep(until: deadline)
                return nil  // the lookup's deadline
            }
            var inFlight = 0
            var done = false
            while !done {
                for candidate in nearest(candidates) where candidate.state == .waiting && inFlight < alpha {
                    candidates[candidate.peer]?.state = .querying
                    inFlight += 1
                    let peer = candidate.peer, addrs = candidate.addrs
                    group.addTask {
                        (peer, await KadRequest.send(request, to: peer, addrs: addrs, node: node, protocolIDs: protocolIDs, timeout: timeout))
                    }
                }
                guard inFlight > 0, let next = await group.next(), let (peer, result) = next else { break }
                inFlight -= 1
                switch result {
                case .success(let answer?):
                    candidates[peer]?.state = .answered
                    for entry in answer.closerPeers {
                        guard let closer = entry.peerID, closer != me else { continue }
                        let addrs = Array(entry.parsedAddrs.filter { $0.tcpEndpoint != nil }.map(\.withoutPeerID).uniqued().prefix(RoutingTable.maxAddrsPerPeer))
                        if var known = candidates[closer] {
                            if known.addrs.isEmpty { known.addrs = addrs; candidates[closer] = known }
                        } else if !addrs.isEmpty ? true : await node.isConnected(to: closer) {
                            // Bounded: only candidates that could be among the k nearest are kept.
                            candidates[closer] = Candidate(peer: closer, distance: KadKey(peer: closer).distance(to: target), addrs: addrs, state: .waiting)
                        }
                    }
                    if candidates.count > 4 * k {
                        let keep = Set(candidates.values.sorted { $0.distance < $1.distance }.prefix(4 * k).map(\.peer))
                        candidates = candidates.filter { keep.contains($0.key) || $0.value.state == .querying }
                    }
                    if answered(peer, answer) { done = true }
                case .success(nil):
                    candidates[peer]?.state = .answered
                case .failure:
                    candidates[peer]?.state = .failed
                    table.remove(peer)
                }
            }
            group.cancelAll()
            return candidates
        }
        return nearest(final).filter { $0.state == .answered }.map { PeerAddresses(peer: $0.peer, addrs: $0.addrs) }
    }

    /// Sends `message` to each of `peers` at once; counts those whose answer `accepts`.
    private func sendToAll(_ message: KadMessage, peers: [PeerAddresses], accepts: @escaping @Sendable (KadMessage?) -> Bool) async -> Int {
        let node = self.node, protocolIDs = config.protocolIDs, timeout = config.requestTimeout
        return await withTaskGroup(of: Bool.self) { group in
            for target in peers {
                group.addTask {
                    switch await KadRequest.send(message, to: target.peer, addrs: target.addrs, node: node, protocolIDs: protocolIDs, timeout: timeout) {
                    case .success(let answer): accepts(answer)
                    case .failure: false
                    }
                }
            }
            var count = 0
            for await ok in group where ok { count += 1 }
            return count
        }
    }

    private func acquireLookupSlot() async {
        if lookupsRunning < config.maxConcurrentLookups {
            lookupsRunning += 1
            return
        }
        await withCheckedContinuation { lookupWaiters.append($0) }
    }

    private func releaseLookupSlot() {
        if lookupWaiters.isEmpty { lookupsRunning -= 1 } else { lookupWaiters.removeFirst().resume() }
    }

    // MARK: Serving

    private enum Reply {
        case answer(KadMessage)
        case noAnswer
        /// The request broke a rule; per the spec the stream is reset.
        case reject
    }

    private nonisolated func serve(_ stream: CarrierStream) async {
        guard await acquireInboundSlot() else { return stream.reset() }
        for _ in 0..<config.maxRequestsPerStream {
            guard let bytes = try? await stream.readLengthPrefixed(limit: KadMessage.maxLength) else { break }
            guard let request = try? KadMessage(decoding: bytes) else {
                stream.reset()
                return await releaseInboundSlot()
            }
            switch await reply(to: request, from: stream.remotePeer) {
            case .answer(let answer):
                guard (try? await stream.writeLengthPrefixed(answer.bytes)) != nil else { return await releaseInboundSlot() }
            case .noAnswer: continue
            case .reject:
                stream.reset()
                return await releaseInboundSlot()
            }
        }
        try? await stream.closeWrite()
        await releaseInboundSlot()
    }

    private func acquireInboundSlot() -> Bool {
        guard inboundStreams < config.maxInboundStreams else { return false }
        inboundStreams += 1
        return true
    }

    private func releaseInboundSlot() { inboundStreams -= 1 }

    private func reply(to request: KadMessage, from requester: Libp2pPeerID) async -> Reply {
        let connected = Dictionary(await node.peers().map { ($0.peer, $0) }, uniquingKeysWith: { a, _ in a })
        func closer(to key: [UInt8]) -> [KadMessage.Peer] {
            table.closest(to: KadKey(hashing: key), count: config.bucketSize + 1)
                .filter { $0.peer != requester }
                .prefix(config.bucketSize)
                .map { KadMessage.Peer(id: $0.peer.multihash.bytes, addrs: $0.addrs.map(\.bytes), connection: connected[$0.peer] != nil ? .connected : .canConnect) }
        }
        switch request.type {
        case .ping:
            return .answer(KadMessage(type: .ping))
        case .findNode:
            var peers = closer(to: request.key)
            if request.key == node.libp2pPeerID.multihash.bytes {
                peers.insert(selfRecord(), at: 0)
            } else if let target = try? Multihash(bytes: request.key), let info = connected[Libp2pPeerID(multihash: target)],
                      !peers.contains(where: { $0.id == request.key }) {
                // A peer we are connected to but that is not in the table (a client): name it too,
                // so a rendezvous through us works.
                let addrs = Self.dialable(info)
                if !addrs.isEmpty { peers.insert(KadMessage.Peer(id: request.key, addrs: addrs.map(\.bytes), connection: .connected), at: 0) }
            }
            return .answer(KadMessage(type: .findNode, key: request.key, closerPeers: peers))
        case .getProviders:
            let providers = providerStore.providers(for: request.key).map { provider in
                KadMessage.Peer(id: provider.peer.multihash.bytes, addrs: provider.addrs.map(\.bytes),
                                connection: connected[provider.peer] != nil ? .connected : .canConnect)
            }
            return .answer(KadMessage(type: .getProviders, key: request.key, closerPeers: closer(to: request.key), providerPeers: providers))
        case .addProvider:
            guard !request.key.isEmpty, request.key.count <= 256 else { return .reject }
            // Only the sender may announce itself (spec); other entries are ignored.
            for entry in request.providerPeers where entry.peerID == requester {
                var addrs = entry.parsedAddrs.filter { $0.tcpEndpoint != nil }
                if addrs.isEmpty, let info = connected[requester] { addrs = Self.dialable(info) }
                providerStore.add(key: request.key, peer: requester, addrs: addrs)
            }
            return .noAnswer
        case .putValue:
            guard let record = request.record, record.key == request.key else { return .reject }
            let now = Self.unixNow()
            guard let valid = try? SignedDHTRecord(key: record.key, value: record.value, now: now) else {
                rejectedRecords += 1
                return .reject
            }
            if valueStore.put(valid, now: now) == .full { return .reject }
            return .answer(request)
        case .getValue:
            var answer = KadMessage(type: .getValue, key: request.key, closerPeers: closer(to: request.key))
            if let key = String(validating: request.key, as: UTF8.self), let record = valueStore.get(key, now: Self.unixNow()) {
                answer.record = KadMessage.Record(key: request.key, value: record.bytes, timeReceived: nil)
            }
            return .answer(answer)
        }
    }
}

extension CarrierNode {
    /// Starts the Kademlia DHT on this node (once; later calls return the same DHT). Its value
    /// records are signed with the node's identity.
    public func startDHT(_ config: KadConfig = KadConfig()) async -> KademliaDHT {
        if let existing = dht { return existing }
        let dht = KademliaDHT(node: self, identity: identity, config: config)
        attach(dht)
        await dht.start()
        return dht
    }
}
