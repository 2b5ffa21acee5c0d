// The GossipSub v1.1 router (with v1.0 and floodsub peers):
//   https://github.com/libp2p/specs/blob/master/pubsub/gossipsub/gossipsub-v1.0.md
//   https://github.com/libp2p/specs/blob/master/pubsub/gossipsub/gossipsub-v1.1.md
// As go- and py-libp2p do, each peer gets one long-lived outbound stream that we write RPCs to,
// and we read RPCs from the streams the peer opens to us. What is implemented (and what not) is
// listed in docs/CARRIER.md, "GossipSub".
public import CarrierWire
import ElastosCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a local pubsub call failed.
public enum PubsubError: Error, Equatable, Sendable, CustomStringConvertible {
    case messageTooLarge(size: Int, limit: Int)
    case stopped

    public var description: String {
        switch self {
        case .messageTooLarge(let size, let limit): "a pubsub message of \(size) bytes exceeds the limit of \(limit)"
        case .stopped: "the pubsub router is stopped"
        }
    }
}

/// Counters for tests, diagnostics and the benchmark.
public struct PubsubStats: Sendable, Equatable {
    /// Messages delivered to local subscribers (once per message, not per subscriber).
    public var delivered = 0
    /// Received messages already seen (not delivered, not forwarded again).
    public var duplicates = 0
    /// Received messages that failed validation (signature, author, seqno).
    public var rejected = 0
    /// RPCs ignored because their sender was graylisted.
    public var graylistedRPCs = 0
    /// RPCs dropped because a peer's outbound queue was full (it stopped reading).
    public var droppedOutbound = 0
    /// Messages dropped because a local subscriber's buffer was full.
    public var droppedDeliveries = 0
    /// Subscriptions ignored because the peer already had `maxTopicsPerPeer` topics.
    public var ignoredSubscriptions = 0
    /// RPCs that did not decode (the stream is then closed).
    public var malformedRPCs = 0
    public var iwantSent = 0
    public var ihaveSent = 0
    public var messagesServedForIWant = 0
    public var graftsSent = 0
    public var prunesSent = 0
}

/// A GossipSub router on a ``CarrierNode``: subscribe, publish, and the mesh in between.
/// Told when the node joins (`true`) or leaves (`false`) a topic.
public typealias TopicObserver = @Sendable (_ topic: String, _ joined: Bool) -> Void

public actor GossipSub {
    /// What we propose on our outbound stream, best first.
    public static let protocols = [PubsubRPC.gossipsubV11, PubsubRPC.gossipsubV10, PubsubRPC.floodsub]

    private struct Peer {
        /// The protocol of our outbound stream (nil until it is open).
        var protocolID: String?
        var outbox: AsyncStream<[UInt8]>.Continuation?
        var outboundStream: CarrierStream?
        /// Counts the outbound streams opened, so a closing old one cannot clear a newer one.
        var outboundGeneration = 0
        var outboundOpenedAt: ContinuousClock.Instant?
        /// Outbound streams reopened in a row after one died while the peer stayed connected.
        var reopens = 0
        var pendingFrames = 0
        var topics: Set<String> = []
        var ihavesThisHeartbeat = 0
        var idsAskedThisHeartbeat = 0
        var isGossip: Bool { protocolID == PubsubRPC.gossipsubV11 || protocolID == PubsubRPC.gossipsubV10 }
        var isFlood: Bool { protocolID == PubsubRPC.floodsub }
    }

    private struct Subscriber {
        let continuation: AsyncStream<PubsubMessage>.Continuation
    }

    public nonisolated let node: CarrierNode
    public nonisolated let config: GossipSubConfig
    private var peers: [Libp2pPeerID: Peer] = [:]
    private var opening: Set<Libp2pPeerID> = []
    private var mesh: [String: Set<Libp2pPeerID>] = [:]
    private var fanout: [String: Set<Libp2pPeerID>] = [:]
    private var fanoutLastPublished: [String: ContinuousClock.Instant] = [:]
    private var backoff: [String: [Libp2pPeerID: ContinuousClock.Instant]] = [:]
    private var subscribers: [String: [Int: Subscriber]] = [:]
    private var topicObservers: [TopicObserver] = []
    private var nextSubscriberID = 0
    private var messageCache: MessageCache
    private var seen: SeenCache
    private var scores: PeerScores
    private var nextSeqno: UInt64
    private var heartbeatTask: Task<Void, Never>?
    private var stopped = false
    public private(set) var stats = PubsubStats()

    /// A router for `node`: registers the pubsub protocols, opens a stream to each peer that
    /// speaks one, and runs the heartbeat until ``stop()``.
    public init(node: CarrierNode, config: GossipSubConfig = GossipSubConfig()) {
        self.node = node
        self.config = config
        messageCache = MessageCache(length: config.messageCacheLength, gossip: config.messageCacheGossip)
        seen = SeenCache(ttl: config.seenTTL, maxEntries: config.seenMaxEntries)
        scores = PeerScores(config: config.score)
        // As go does: seeded with the time, so a restarted node does not reuse sequence numbers.
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        nextSeqno = UInt64(clamping: now.tv_sec) &* 1_000_000_000 &+ UInt64(clamping: now.tv_nsec)
        for protocolID in Self.protocols {
            node.handle(protocolID) { [weak self] stream in await self?.serveInbound(stream) }
        }
        node.observeConnections { [weak self] peer, connected in
            guard let self else { return }
            Task { connected ? await self.openOutbound(to: peer) : await self.peerDisconnected(peer) }
        }
    }

    /// Starts the heartbeat and opens streams to peers already connected.
    public func start() async {
        guard heartbeatTask == nil, !stopped else { return }
        let interval = config.heartbeatInterval
        heartbeatTask = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self, !Task.isCancelled else { return }
                await self.heartbeat()
            }
        }
        for info in await node.peers() { await openOutbound(to: info.peer) }
    }

    /// Stops the heartbeat, ends every subscription and resets our outbound streams. Call it
    /// before stopping the node.
    public func stop() {
        stopped = true
        heartbeatTask?.cancel()
        heartbeatTask = nil
        for (_, topicSubscribers) in subscribers { for (_, s) in topicSubscribers { s.continuation.finish() } }
        subscribers = [:]
        // Reset while the node's event loops still run (call this before `node.stop()`); a
        // blocked write fails and its sender task ends.
        for (_, peer) in peers {
            peer.outbox?.finish()
            peer.outboundStream?.reset()
        }
        peers = [:]
    }

    // MARK: Public API

    /// Joins `topic` and returns its verified messages (including our own publications, as
    /// go-libp2p delivers them). Ending the iteration (or ``unsubscribe(_:)``) leaves the topic
    /// when it was the last subscriber. The buffer holds `subscriberBufferLimit` messages; a
    /// subscriber that falls further behind loses new messages (counted in `droppedDeliveries`).
    public func subscribe(_ topic: String) -> AsyncStream<PubsubMessage> {
        let (stream, continuation) = AsyncStream.makeStream(of: PubsubMessage.self, bufferingPolicy: .bufferingOldest(config.subscriberBufferLimit))
        guard !stopped else {
            continuation.finish()
            return stream
        }
        let id = nextSubscriberID
        nextSubscriberID += 1
        let isNew = subscribers[topic] == nil
        subscribers[topic, default: [:]][id] = Subscriber(continuation: continuation)
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            Task { await self.removeSubscriber(id, from: topic) }
        }
        if isNew { join(topic) }
        return stream
    }

    /// Calls `observer` when this node joins a topic (its first local subscriber) and when it
    /// leaves one (its last subscriber ended); rendezvous discovery starts and stops on these.
    /// It runs on the router's executor: keep it short.
    public func observeTopics(_ observer: @escaping TopicObserver) {
        topicObservers.append(observer)
    }

    /// Leaves `topic`: every subscription to it ends.
    public func unsubscribe(_ topic: String) {
        guard let topicSubscribers = subscribers.removeValue(forKey: topic) else { return }
        for (_, s) in topicSubscribers { s.continuation.finish() }
        leave(topic)
    }

    /// Signs and sends `data` to `topic`: to every topic peer (flood publishing), or to the mesh
    /// (or fanout when not subscribed) with `floodPublish` off. Returns the message ID.
    @discardableResult
    public func publish(_ topic: String, _ data: [UInt8]) throws(PubsubError) -> [UInt8] {
        guard !stopped else { throw .stopped }
        guard data.count <= config.maxMessageDataSize else { throw .messageTooLarge(size: data.count, limit: config.maxMessageDataSize) }
        nextSeqno &+= 1
        let message = PubsubSigning.signedMessage(topic: topic, data: data, seqno: nextSeqno, node: node)
        let id = message.defaultID
        let now = ContinuousClock.now
        _ = seen.insert(id, now: now)
        messageCache.put(id: id, message)

        var recipients: Set<Libp2pPeerID>
        if config.floodPublish {
            recipients = Set(peers(inTopic: topic).filter { scores.score(of: $0) >= config.score.publishThreshold })
        } else {
            recipients = Set(peers(inTopic: topic).filter { peers[$0]?.isFlood == true })
            if let meshPeers = mesh[topic] {
                recipients.formUnion(meshPeers)
            } else {
                recipients.formUnion(fanoutPeers(for: topic))
            }
        }
        if mesh[topic] == nil {
            _ = fanoutPeers(for: topic)
            fanoutLastPublished[topic] = now
        }
        let frame = PubsubRPC(messages: [message]).framed
        for peer in recipients { send(frame, to: peer) }
        deliver(PubsubMessage(topic: topic, data: data, from: Libp2pPeerID(node.peerID), seqno: message.seqno ?? [], id: id, receivedFrom: nil))
        return id
    }

    /// Peers that announced a subscription to `topic` and that we have a stream to.
    public func peers(in topic: String) -> [Libp2pPeerID] { peers(inTopic: topic) }

    /// Our mesh peers for `topic` (empty when not subscribed).
    public func meshPeers(for topic: String) -> [Libp2pPeerID] { Array(mesh[topic] ?? []) }

    /// The topics we are subscribed to.
    public var topics: [String] { Array(subscribers.keys).sorted() }

    /// The peers we have a pubsub stream to, with the protocol negotiated.
    public func pubsubPeers() -> [(peer: Libp2pPeerID, protocolID: String)] {
        peers.compactMap { peer, state in state.protocolID.map { (peer, $0) } }
    }

    /// A peer's current score (0 for a well-behaved one; negative after penalties).
    public func score(of peer: Libp2pPeerID) -> Double { scores.score(of: peer) }

    /// Waits until every queued RPC has been written to its stream, or `timeout` passes.
    public func flush(timeout: Duration = .seconds(5)) async {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, peers.values.contains(where: { $0.pendingFrames > 0 }) {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    // MARK: Streams

    /// Opens (once) our outbound stream to `peer`, proposing meshsub 1.1, 1.0, then floodsub, and
    /// announces our subscriptions on it.
    private func openOutbound(to peer: Libp2pPeerID) async {
        guard !stopped, peer != Libp2pPeerID(node.peerID), peers[peer]?.outbox == nil, !opening.contains(peer) else { return }
        opening.insert(peer)
        defer { opening.remove(peer) }
        guard let stream = try? await node.openStream(to: peer, proposing: Self.protocols), !stopped else { return }
        let (frames, continuation) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .bufferingOldest(config.peerOutboundQueueLimit))
        var state = peers[peer] ?? Peer()
        state.protocolID = stream.protocolID
        state.outbox = continuation
        state.outboundStream = stream
        state.outboundGeneration += 1
        state.outboundOpenedAt = .now
        let generation = state.outboundGeneration
        peers[peer] = state
        scores.connected(peer)
        Task { [weak self] in
            for await frame in frames {
                let written = (try? await stream.write(frame)) != nil
                await self?.frameWritten(to: peer)
                guard written else { break }
            }
            await self?.outboundClosed(peer, generation: generation)
        }
        // The peer never writes on our stream, so a read ends only when the stream or the
        // connection under it dies (as go's handlePeerDead watches): then the writer stops too,
        // and if the peer is still connected another way (a relayed connection upgraded to a
        // direct one and then closed) a new stream is opened on what remains.
        Task {
            while true {
                do {
                    guard try await stream.read() != nil else { return }  // it closed its side: harmless
                } catch {
                    continuation.finish()
                    return
                }
            }
        }
        let hello = PubsubRPC(subscriptions: subscribers.keys.sorted().map { PubsubSubscription(subscribe: true, topic: $0) })
        if !hello.isEmpty { send(hello.framed, to: peer) }
    }

    private func frameWritten(to peer: Libp2pPeerID) { peers[peer]?.pendingFrames -= 1 }

    private func outboundClosed(_ peer: Libp2pPeerID, generation: Int) async {
        // A newer stream may already have replaced this one, or the peer is gone.
        guard let state = peers[peer], state.outboundGeneration == generation, let outbox = state.outbox else { return }
        outbox.finish()
        peers[peer]?.outbox = nil
        peers[peer]?.outboundStream = nil
        peers[peer]?.protocolID = nil
        peers[peer]?.pendingFrames = 0
        removeFromMeshes(peer)
        guard !stopped, await node.isConnected(peer) else { return }
        // A stream that lived a while starts the backoff afresh; one that keeps dying right
        // after opening is retried ever more slowly, then given up (go's backoff, 100 ms to 10 s).
        if let opened = state.outboundOpenedAt, ContinuousClock.now - opened > config.outboundReopenReset { peers[peer]?.reopens = 0 }
        let reopens = peers[peer]?.reopens ?? 0
        guard reopens < config.maxOutboundReopens else { return }
        peers[peer]?.reopens = reopens + 1
        try? await Task.sleep(for: min(.milliseconds(100) * (1 << min(reopens, 10)), .seconds(10)))
        guard !stopped, peers[peer]?.outbox == nil, await node.isConnected(peer) else { return }
        await openOutbound(to: peer)
    }

    private func peerDisconnected(_ peer: Libp2pPeerID) async {
        // A second connection may have replaced the one that closed.
        guard await !node.isConnected(peer) else { return }
        peers.removeValue(forKey: peer)?.outbox?.finish()
        removeFromMeshes(peer)
        scores.disconnected(peer, now: .now)
    }

    private func removeFromMeshes(_ peer: Libp2pPeerID) {
        for topic in mesh.keys { mesh[topic]?.remove(peer) }
        for topic in fanout.keys { fanout[topic]?.remove(peer) }
    }

    /// Reads RPCs from a stream the peer opened until it ends or sends something malformed.
    private nonisolated func serveInbound(_ stream: CarrierStream) async {
        let peer = stream.remotePeer
        await openOutbound(to: peer)
        while true {
            let bytes: [UInt8]
            do { bytes = try await stream.readLengthPrefixed(limit: PubsubRPC.maxLength) } catch {
                switch error {
                case .malformed, .messageTooLarge:
                    await countMalformed(from: peer)
                    stream.reset()
                default:
                    break  // closed by the peer or with the connection: nothing to reset
                }
                return
            }
            let rpc: PubsubRPC
            do { rpc = try PubsubRPC(decoding: bytes) } catch {
                await countMalformed(from: peer)
                stream.reset()
                return
            }
            guard await handle(rpc, from: peer) else {
                stream.reset()
                return
            }
        }
    }

    private func countMalformed(from peer: Libp2pPeerID) {
        stats.malformedRPCs += 1
        scores.recordInvalidMessage(from: peer)
    }

    /// Queues one framed RPC for `peer`; drops it (and counts) when the peer's queue is full.
    private func send(_ frame: [UInt8], to peer: Libp2pPeerID) {
        guard let outbox = peers[peer]?.outbox else { return }
        switch outbox.yield(frame) {
        case .enqueued: peers[peer]?.pendingFrames += 1
        case .dropped: stats.droppedOutbound += 1
        case .terminated: break
        @unknown default: break
        }
    }

    private func send(_ rpc: PubsubRPC, to peer: Libp2pPeerID) {
        guard !rpc.isEmpty else { return }
        send(rpc.framed, to: peer)
    }

    // MARK: Receiving

    /// Handles one RPC; false once the router has stopped.
    private func handle(_ rpc: PubsubRPC, from peer: Libp2pPeerID) -> Bool {
        guard !stopped else { return false }
        guard scores.score(of: peer) >= config.score.graylistThreshold else {
            stats.graylistedRPCs += 1
            return true
        }
        for sub in rpc.subscriptions {
            if sub.subscribe {
                let known = peers[peer]?.topics ?? []
                guard known.contains(sub.topic) || known.count < config.maxTopicsPerPeer else {
                    stats.ignoredSubscriptions += 1
                    continue
                }
                peers[peer, default: Peer()].topics.insert(sub.topic)
            } else {
                peers[peer]?.topics.remove(sub.topic)
                mesh[sub.topic]?.remove(peer)
                fanout[sub.topic]?.remove(peer)
            }
        }
        for message in rpc.messages { receive(message, from: peer) }
        if let control = rpc.control, peers[peer]?.isGossip ?? true { handle(control, from: peer) }
        return true
    }

    private func receive(_ message: PubsubWireMessage, from peer: Libp2pPeerID) {
        // Messages for topics we have not joined are neither delivered nor relayed (as go does
        // without relay subscriptions).
        guard subscribers[message.topic] != nil else { return }
        let id = message.defaultID
        guard !seen.contains(id) else {
            stats.duplicates += 1
            return
        }
        let author: Libp2pPeerID
        do { author = try PubsubSigning.verify(message) } catch {
            stats.rejected += 1
            scores.recordInvalidMessage(from: peer)
            return
        }
        _ = seen.insert(id, now: .now)
        messageCache.put(id: id, message)
        deliver(PubsubMessage(topic: message.topic, data: message.data ?? [], from: author, seqno: message.seqno ?? [],
                              id: id, receivedFrom: peer))
        forward(message, from: peer, author: author)
    }

    private func forward(_ message: PubsubWireMessage, from source: Libp2pPeerID, author: Libp2pPeerID) {
        var recipients = mesh[message.topic] ?? []
        recipients.formUnion(peers(inTopic: message.topic).filter { peers[$0]?.isFlood == true })
        recipients.remove(source)
        recipients.remove(author)
        guard !recipients.isEmpty else { return }
        let frame = PubsubRPC(messages: [message]).framed
        for peer in recipients { send(frame, to: peer) }
    }

    private func deliver(_ message: PubsubMessage) {
        guard let topicSubscribers = subscribers[message.topic] else { return }
        stats.delivered += 1
        for (_, s) in topicSubscribers {
            if case .dropped = s.continuation.yield(message) { stats.droppedDeliveries += 1 }
        }
    }

    private func handle(_ control: PubsubControl, from peer: Libp2pPeerID) {
        var reply = PubsubControl()
        var messagesForIWant: [PubsubWireMessage] = []
        let gossipAllowed = scores.score(of: peer) >= config.score.gossipThreshold

        if gossipAllowed {
            for ihave in control.ihave {
                peers[peer]?.ihavesThisHeartbeat += 1
                guard let asked = peers[peer]?.ihavesThisHeartbeat, asked <= config.maxIHaveMessages else { break }
                guard subscribers[ihave.topic] != nil else { continue }
                for id in ihave.messageIDs where !seen.contains(id) && !reply.iwant.contains(id) {
                    guard (peers[peer]?.idsAskedThisHeartbeat ?? 0) < config.maxIHaveLength else { break }
                    peers[peer]?.idsAskedThisHeartbeat += 1
                    reply.iwant.append(id)
                }
            }
            for id in control.iwant {
                if let message = messageCache.take(id, for: peer, limit: config.maxIWantRetransmissions) {
                    messagesForIWant.append(message)
                }
            }
        }

        let now = ContinuousClock.now
        for topic in control.graft {
            guard subscribers[topic] != nil else {
                // Not joined: refuse (the peer backs off; we record nothing).
                reply.prune.append(PubsubPrune(topic: topic, backoffSeconds: config.pruneBackoff.wholeSeconds))
                continue
            }
            if let until = backoff[topic]?[peer], until > now {
                // GRAFT while backed off: a protocol violation (P7).
                scores.recordMisbehaviour(of: peer)
                reply.prune.append(PubsubPrune(topic: topic, backoffSeconds: config.pruneBackoff.wholeSeconds))
                continue
            }
            guard scores.score(of: peer) >= 0 else {
                reply.prune.append(PubsubPrune(topic: topic, backoffSeconds: config.pruneBackoff.wholeSeconds))
                continue
            }
            mesh[topic, default: []].insert(peer)
        }
        for prune in control.prune {
            mesh[prune.topic]?.remove(peer)
            let seconds = prune.backoffSeconds.map { Duration.seconds(Int64(clamping: min($0, 86_400))) } ?? config.pruneBackoff
            setBackoff(peer, topic: prune.topic, until: now + seconds)
            // Peer exchange records are not followed: we do not dial peers on a PRUNE's word.
        }

        stats.iwantSent += reply.iwant.isEmpty ? 0 : 1
        stats.prunesSent += reply.prune.count
        stats.messagesServedForIWant += messagesForIWant.count
        // Answered messages may be many: split so no RPC exceeds the limit.
        var batch: [PubsubWireMessage] = []
        var batchSize = 0
        for message in messagesForIWant {
            let size = message.bytes.count + 8
            if batchSize + size > PubsubRPC.maxLength - 1024, !batch.isEmpty {
                send(PubsubRPC(messages: batch), to: peer)
                batch = []
                batchSize = 0
            }
            batch.append(message)
            batchSize += size
        }
        send(PubsubRPC(messages: batch, control: reply.isEmpty ? nil : reply), to: peer)
    }

    private func setBackoff(_ peer: Libp2pPeerID, topic: String, until: ContinuousClock.Instant) {
        if let existing = backoff[topic]?[peer], existing > until { return }
        backoff[topic, default: [:]][peer] = until
    }

    private func isBackedOff(_ peer: Libp2pPeerID, topic: String, now: ContinuousClock.Instant) -> Bool {
        guard let until = backoff[topic]?[peer] else { return false }
        return until > now
    }

    // MARK: Mesh

    private func peers(inTopic topic: String) -> [Libp2pPeerID] {
        peers.compactMap { peer, state in state.outbox != nil && state.topics.contains(topic) ? peer : nil }
    }

    /// GossipSub peers of `topic` that may join our mesh now.
    private func graftCandidates(_ topic: String, excluding: Set<Libp2pPeerID>, now: ContinuousClock.Instant) -> [Libp2pPeerID] {
        peers(inTopic: topic).filter {
            peers[$0]?.isGossip == true && !excluding.contains($0) && !isBackedOff($0, topic: topic, now: now)
                && scores.score(of: $0) >= 0
        }.shuffled()
    }

    private func fanoutPeers(for topic: String) -> Set<Libp2pPeerID> {
        var chosen = fanout[topic] ?? []
        if chosen.count < config.meshDegree {
            let candidates = peers(inTopic: topic).filter {
                peers[$0]?.isGossip == true && !chosen.contains($0) && scores.score(of: $0) >= config.score.publishThreshold
            }.shuffled()
            chosen.formUnion(candidates.prefix(config.meshDegree - chosen.count))
        }
        fanout[topic] = chosen
        return chosen
    }

    private func join(_ topic: String) {
        for observer in topicObservers { observer(topic, true) }
        let now = ContinuousClock.now
        var members = (fanout.removeValue(forKey: topic) ?? []).filter { scores.score(of: $0) >= 0 && !isBackedOff($0, topic: topic, now: now) }
        fanoutLastPublished.removeValue(forKey: topic)
        if members.count < config.meshDegree {
            members.formUnion(graftCandidates(topic, excluding: members, now: now).prefix(config.meshDegree - members.count))
        }
        members = Set(members.prefix(config.meshDegree))
        mesh[topic] = members
        let announcement = PubsubRPC(subscriptions: [PubsubSubscription(subscribe: true, topic: topic)])
        for peer in peers.keys where peers[peer]?.outbox != nil {
            var rpc = announcement
            if members.contains(peer) {
                rpc.control = PubsubControl(graft: [topic])
                stats.graftsSent += 1
            }
            send(rpc, to: peer)
        }
    }

    private func leave(_ topic: String) {
        for observer in topicObservers { observer(topic, false) }
        let members = mesh.removeValue(forKey: topic) ?? []
        let now = ContinuousClock.now
        let announcement = PubsubRPC(subscriptions: [PubsubSubscription(subscribe: false, topic: topic)])
        for peer in peers.keys where peers[peer]?.outbox != nil {
            var rpc = announcement
            if members.contains(peer) {
                rpc.control = PubsubControl(prune: [PubsubPrune(topic: topic, backoffSeconds: config.unsubscribeBackoff.wholeSeconds)])
                setBackoff(peer, topic: topic, until: now + config.unsubscribeBackoff)
                stats.prunesSent += 1
            }
            send(rpc, to: peer)
        }
    }

    private func removeSubscriber(_ id: Int, from topic: String) {
        guard subscribers[topic]?.removeValue(forKey: id) != nil else { return }
        if subscribers[topic]?.isEmpty == true {
            subscribers.removeValue(forKey: topic)
            leave(topic)
        }
    }

    // MARK: Heartbeat

    /// Mesh maintenance, fanout upkeep, gossip emission, cache shifts and score decay.
    func heartbeat() {
        guard !stopped else { return }
        let now = ContinuousClock.now
        scores.decay(now: now)
        var control: [Libp2pPeerID: PubsubControl] = [:]

        for topic in mesh.keys.sorted() {
            var members = mesh[topic] ?? []
            // Peers that left, lost their stream or fell below zero leave the mesh.
            for peer in members where peers[peer]?.outbox == nil || peers[peer]?.topics.contains(topic) != true {
                members.remove(peer)
            }
            for peer in members where scores.score(of: peer) < 0 {
                members.remove(peer)
                control[peer, default: PubsubControl()].prune.append(PubsubPrune(topic: topic, backoffSeconds: config.pruneBackoff.wholeSeconds))
                setBackoff(peer, topic: topic, until: now + config.pruneBackoff)
            }
            if members.count < config.meshDegreeLow {
                for peer in graftCandidates(topic, excluding: members, now: now).prefix(config.meshDegree - members.count) {
                    members.insert(peer)
                    control[peer, default: PubsubControl()].graft.append(topic)
                }
            }
            if members.count > config.meshDegreeHigh {
                // Keep the best-scored D (ties broken at random), prune the rest.
                let ranked = members.shuffled().sorted { scores.score(of: $0) > scores.score(of: $1) }
                for peer in ranked.dropFirst(config.meshDegree) {
                    members.remove(peer)
                    control[peer, default: PubsubControl()].prune.append(PubsubPrune(topic: topic, backoffSeconds: config.pruneBackoff.wholeSeconds))
                    setBackoff(peer, topic: topic, until: now + config.pruneBackoff)
                }
            }
            mesh[topic] = members
        }

        for topic in fanout.keys.sorted() {
            if let last = fanoutLastPublished[topic], now - last > config.fanoutTTL {
                fanout.removeValue(forKey: topic)
                fanoutLastPublished.removeValue(forKey: topic)
                continue
            }
            fanout[topic] = fanout[topic]?.filter {
                peers[$0]?.topics.contains(topic) == true && scores.score(of: $0) >= config.score.publishThreshold
            }
            _ = fanoutPeers(for: topic)
        }

        for topic in Set(mesh.keys).union(fanout.keys).sorted() {
            let ids = Array(messageCache.gossipIDs(for: topic).suffix(config.maxIHaveLength))
            guard !ids.isEmpty else { continue }
            let excluded = (mesh[topic] ?? []).union(fanout[topic] ?? [])
            let eligible = peers(inTopic: topic).filter {
                peers[$0]?.isGossip == true && !excluded.contains($0) && scores.score(of: $0) >= config.score.gossipThreshold
            }
            let target = max(config.gossipDegree, Int((config.gossipFactor * Double(eligible.count)).rounded(.up)))
            for peer in eligible.shuffled().prefix(target) {
                control[peer, default: PubsubControl()].ihave.append(PubsubIHave(topic: topic, messageIDs: ids))
            }
        }

        for (peer, c) in control {
            stats.graftsSent += c.graft.count
            stats.prunesSent += c.prune.count
            stats.ihaveSent += c.ihave.count
            send(PubsubRPC(control: c), to: peer)
        }

        messageCache.shift()
        seen.expire(now: now)
        for topic in backoff.keys {
            backoff[topic] = backoff[topic]?.filter { $0.value > now }
            if backoff[topic]?.isEmpty == true { backoff.removeValue(forKey: topic) }
        }
        for peer in peers.keys {
            peers[peer]?.ihavesThisHeartbeat = 0
            peers[peer]?.idsAskedThisHeartbeat = 0
        }
    }
}

extension Duration {
    /// Whole seconds, for PRUNE backoffs.
    var wholeSeconds: UInt64 { UInt64(clamping: max(0, components.seconds)) }
}
