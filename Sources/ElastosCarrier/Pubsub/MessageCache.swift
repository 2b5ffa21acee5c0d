// The GossipSub message cache (mcache, gossipsub-v1.0.md "Message Cache"): a sliding window of
// heartbeats. Messages stay retrievable for IWANT for `length` heartbeats; IHAVE advertises the
// IDs of the most recent `gossip` windows. Plus the time-bounded seen-cache for de-duplication.
import CarrierWire

struct MessageCache {
    private struct Entry {
        let message: PubsubWireMessage
        /// How often each peer has been sent this message in answer to IWANT.
        var retransmissions: [Libp2pPeerID: Int] = [:]
    }

    private var messages: [[UInt8]: Entry] = [:]
    /// windows[0] is the current heartbeat: (id, topic) pairs.
    private var windows: [[(id: [UInt8], topic: String)]]
    private let gossipWindows: Int

    init(length: Int, gossip: Int) {
        windows = Array(repeating: [], count: max(1, length))
        gossipWindows = max(1, min(gossip, length))
    }

    var count: Int { messages.count }

    mutating func put(id: [UInt8], _ message: PubsubWireMessage) {
        guard messages[id] == nil else { return }
        messages[id] = Entry(message: message)
        windows[0].append((id, message.topic))
    }

    func contains(_ id: [UInt8]) -> Bool { messages[id] != nil }

    /// The message for an IWANT from `peer`, unless it was already sent to it `limit` times.
    mutating func take(_ id: [UInt8], for peer: Libp2pPeerID, limit: Int) -> PubsubWireMessage? {
        guard var entry = messages[id] else { return nil }
        let sent = entry.retransmissions[peer, default: 0]
        guard sent < limit else { return nil }
        entry.retransmissions[peer] = sent + 1
        messages[id] = entry
        return entry.message
    }

    /// IDs to advertise for `topic`.
    func gossipIDs(for topic: String) -> [[UInt8]] {
        windows.prefix(gossipWindows).flatMap { $0.filter { $0.topic == topic }.map(\.id) }
    }

    /// Ends a heartbeat: the oldest window's messages leave the cache.
    mutating func shift() {
        for (id, _) in windows.removeLast() { messages.removeValue(forKey: id) }
        windows.insert([], at: 0)
    }
}

/// Message IDs seen within the last `ttl`, for de-duplication; pruned at each heartbeat (expiry
/// order is insertion order, so pruning walks from the front), and bounded in size: past
/// `maxEntries` the oldest IDs go first, so a flood of distinct (validly signed, from fresh keys)
/// messages costs a bounded amount of memory (at worst an evicted ID is delivered twice).
struct SeenCache {
    private var expiry: [[UInt8]: ContinuousClock.Instant] = [:]
    private var order: [(id: [UInt8], expires: ContinuousClock.Instant)] = []
    private var head = 0
    let ttl: Duration
    let maxEntries: Int
    private(set) var evicted = 0

    init(ttl: Duration, maxEntries: Int = 100_000) { self.ttl = ttl; self.maxEntries = max(1, maxEntries) }

    var count: Int { expiry.count }

    func contains(_ id: [UInt8]) -> Bool { expiry[id] != nil }

    /// Records `id`; false if it was already there.
    mutating func insert(_ id: [UInt8], now: ContinuousClock.Instant) -> Bool {
        guard expiry[id] == nil else { return false }
        while expiry.count >= maxEntries, head < order.count {
            expiry.removeValue(forKey: order[head].id)
            head += 1
            evicted += 1
        }
        compact()
        let expires = now + ttl
        expiry[id] = expires
        order.append((id, expires))
        return true
    }

    mutating func expire(now: ContinuousClock.Instant) {
        while head < order.count, order[head].expires <= now {
            expiry.removeValue(forKey: order[head].id)
            head += 1
        }
        compact()
    }

    private mutating func compact() {
        if head > 1024, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}
