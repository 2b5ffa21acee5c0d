import CarrierWire
import ElastosCore
import Testing
@testable import ElastosCarrier

/// GossipSub routers on Swift nodes over real TCP on loopback.
@Suite(.serialized) struct GossipSubLoopbackTests {
    static let loopback = try! Multiaddr(parsing: "/ip4/127.0.0.1/tcp/0")
    static let topic = "elastos/loopback"

    struct Member {
        let node: CarrierNode
        let router: GossipSub
        let address: Multiaddr
        var peer: Libp2pPeerID { Libp2pPeerID(node.peerID) }
    }

    static func fastConfig() -> GossipSubConfig {
        var config = GossipSubConfig()
        config.heartbeatInterval = .milliseconds(100)
        config.score.decay = 1.0  // penalties stay put for the length of a test
        return config
    }

    func members(_ count: Int, config: GossipSubConfig = fastConfig()) async throws -> [Member] {
        var out: [Member] = []
        for _ in 0..<count {
            let node = CarrierNode(identity: SigningKey())
            let bound = try await node.start(listening: [Self.loopback])
            let router = GossipSub(node: node, config: config)
            await router.start()
            out.append(Member(node: node, router: router, address: try #require(bound.first).appending(peer: node.peerID)))
        }
        return out
    }

    func stop(_ all: [Member]) async {
        for m in all {
            await m.router.stop()
            await m.node.stop()
        }
    }

    /// Polls `condition` until it holds or `timeout` passes.
    func eventually(_ timeout: Duration = .seconds(10), _ condition: () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return await condition()
    }

    /// The next message of `stream` within `timeout`, or nil.
    func next(_ stream: AsyncStream<PubsubMessage>, within timeout: Duration = .seconds(10)) async -> PubsubMessage? {
        await withTaskGroup(of: PubsubMessage?.self) { group in
            group.addTask {
                var iterator = stream.makeAsyncIterator()
                return await iterator.next()
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    /// Collects what arrives on `stream` during `window`.
    func collect(_ stream: AsyncStream<PubsubMessage>, for window: Duration) async -> [PubsubMessage] {
        let box = Collected()
        let task = Task {
            for await message in stream { await box.append(message) }
        }
        try? await Task.sleep(for: window)
        task.cancel()
        return await box.items
    }

    actor Collected {
        var items: [PubsubMessage] = []
        func append(_ m: PubsubMessage) { items.append(m) }
    }

    @Test func aMessageCrossesALineOfFiveNodes() async throws {
        let line = try await members(5)
        var streams: [AsyncStream<PubsubMessage>] = []
        for m in line { streams.append(await m.router.subscribe(Self.topic)) }
        for i in 0..<4 { try await line[i].node.dial(line[i + 1].address) }
        // Every link is in both ends' meshes (heartbeats graft the peers that joined later).
        for i in 0..<5 {
            let expected = (i == 0 || i == 4) ? 1 : 2
            #expect(await eventually { await line[i].router.meshPeers(for: Self.topic).count == expected }, "node \(i) mesh")
        }
        let id = try await line[0].router.publish(Self.topic, Array("across the line".utf8))
        for i in 1..<5 {
            let message = try #require(await next(streams[i]), "node \(i) got nothing")
            #expect(message.data == Array("across the line".utf8))
            #expect(message.from == line[0].peer)
            #expect(message.id == id)
            #expect(message.receivedFrom == line[i - 1].peer)
        }
        // The publisher sees its own message too (as go-libp2p delivers it).
        #expect(await next(streams[0])?.receivedFrom == nil)
        await stop(line)
    }

    @Test func aFullMeshDeliversEachMessageOnceAndCountsDuplicates() async throws {
        let all = try await members(4)
        var streams: [AsyncStream<PubsubMessage>] = []
        for m in all { streams.append(await m.router.subscribe(Self.topic)) }
        for i in 0..<4 { for j in (i + 1)..<4 { try await all[i].node.dial(all[j].address) } }
        for m in all { #expect(await eventually { await m.router.meshPeers(for: Self.topic).count == 3 }) }
        for n in 0..<3 { try await all[0].router.publish(Self.topic, [UInt8(n)]) }
        for i in 1..<4 {
            let got = await collect(streams[i], for: .seconds(1))
            #expect(got.map(\.data) == [[0], [1], [2]], "node \(i)")
        }
        var duplicates = 0
        for m in all { duplicates += await m.router.stats.duplicates }
        // Each receiver forwards to the other two, who have it already.
        #expect(duplicates >= 3)
        await stop(all)
    }

    @Test func forgedAndUnsignedMessagesAreRejectedPenalisedThenGraylisted() async throws {
        let (target, attackerNode) = (try await members(1)[0], CarrierNode(identity: SigningKey()))
        let stream = await target.router.subscribe(Self.topic)
        let targetPeer = try await attackerNode.dial(target.address)
        let attacker = Libp2pPeerID(attackerNode.peerID)
        let raw = try await attackerNode.openStream(to: targetPeer, protocol: PubsubRPC.gossipsubV11)
        try await raw.write(PubsubRPC(subscriptions: [.init(subscribe: true, topic: Self.topic)]).framed)

        var unsigned = PubsubSigning.signedMessage(topic: Self.topic, data: [1], seqno: 1, node: attackerNode)
        unsigned.signature = nil
        var tampered = PubsubSigning.signedMessage(topic: Self.topic, data: [2], seqno: 2, node: attackerNode)
        tampered.data = [3]
        // Signed by the attacker but claiming another author.
        let victim = CarrierNode(identity: SigningKey())
        var impersonation = PubsubSigning.signedMessage(topic: Self.topic, data: [4], seqno: 3, node: attackerNode)
        impersonation.from = Libp2pPeerID(victim.peerID).multihash.bytes
        impersonation.key = nil
        for message in [unsigned, tampered, impersonation] { try await raw.write(PubsubRPC(messages: [message]).framed) }

        #expect(await eventually { await target.router.stats.rejected == 3 })
        let score = await target.router.score(of: attacker)
        #expect(score == -90, "three invalid messages: -10 × 3²")
        #expect(score < target.router.config.score.graylistThreshold)
        // Graylisted now: even a valid message from it is ignored.
        let valid = PubsubSigning.signedMessage(topic: Self.topic, data: [5], seqno: 4, node: attackerNode)
        try await raw.write(PubsubRPC(messages: [valid]).framed)
        #expect(await eventually { await target.router.stats.graylistedRPCs == 1 })

        // An honest peer's message on the same path is delivered (so the path itself works).
        let honestNode = CarrierNode(identity: SigningKey())
        let honestStream = try await honestNode.openStream(to: try await honestNode.dial(target.address), protocol: PubsubRPC.gossipsubV11)
        let honest = Libp2pPeerID(honestNode.peerID)
        let good = PubsubSigning.signedMessage(topic: Self.topic, data: [6], seqno: 1, node: honestNode)
        try await honestStream.write(PubsubRPC(messages: [good]).framed)
        let delivered = try #require(await next(stream))
        #expect(delivered.data == [6])
        #expect(delivered.from == honest)
        #expect(await target.router.stats.delivered == 1)

        await stop([target])
        await attackerNode.stop()
        await honestNode.stop()
        await victim.stop()
    }

    @Test func ihaveAndIwantCarryAMessageToAPeerOutsideTheMesh() async throws {
        var config = Self.fastConfig()
        config.meshDegree = 0
        config.meshDegreeLow = 0
        config.meshDegreeHigh = 0
        config.floodPublish = false
        let pair = try await members(2, config: config)
        let (a, b) = (pair[0], pair[1])
        // Kept alive: dropping a subscription's stream leaves the topic.
        let streamA = await a.router.subscribe(Self.topic)
        let streamB = await b.router.subscribe(Self.topic)
        try await a.node.dial(b.address)
        #expect(await eventually { await a.router.peers(in: Self.topic) == [b.peer] })
        #expect(await eventually { await b.router.peers(in: Self.topic) == [a.peer] })
        try await a.router.publish(Self.topic, Array("by gossip".utf8))
        let message = try #require(await next(streamB))
        #expect(message.data == Array("by gossip".utf8))
        #expect(message.from == a.peer)
        #expect(await a.router.meshPeers(for: Self.topic).isEmpty)
        #expect(await b.router.meshPeers(for: Self.topic).isEmpty)
        #expect(await a.router.stats.ihaveSent >= 1)
        #expect(await b.router.stats.iwantSent >= 1)
        #expect(await a.router.stats.messagesServedForIWant == 1)
        #expect(await next(streamA)?.receivedFrom == nil)
        await stop(pair)
    }

    @Test func fanoutPublishingWithoutJoiningAndUnsubscribing() async throws {
        var config = Self.fastConfig()
        config.floodPublish = false
        let all = try await members(3, config: config)
        let (publisher, first, second) = (all[0], all[1], all[2])
        let streamFirst = await first.router.subscribe(Self.topic)
        let streamSecond = await second.router.subscribe(Self.topic)
        try await publisher.node.dial(first.address)
        try await publisher.node.dial(second.address)
        #expect(await eventually { await publisher.router.peers(in: Self.topic).count == 2 })
        try await publisher.router.publish(Self.topic, [42])
        #expect(await next(streamFirst)?.data == [42])
        #expect(await next(streamSecond)?.data == [42])
        #expect(await publisher.router.topics.isEmpty)
        // Unsubscribing is announced.
        await second.router.unsubscribe(Self.topic)
        #expect(await eventually { await publisher.router.peers(in: Self.topic) == [first.peer] })
        await stop(all)
    }

    @Test func aPeerThatStopsReadingCostsABoundedQueueAndDropsAreCounted() async throws {
        var config = Self.fastConfig()
        config.peerOutboundQueueLimit = 8
        let publisher = try await members(1, config: config)[0]
        let sluggish = CarrierNode(identity: SigningKey())
        // Accepts our stream but never reads it, so Yamux's window fills and writes wait.
        sluggish.handle(PubsubRPC.gossipsubV11) { _ in try? await Task.sleep(for: .seconds(30)) }
        let peer = try await sluggish.dial(publisher.address)
        let raw = try await sluggish.openStream(to: peer, protocol: PubsubRPC.gossipsubV11)
        try await raw.write(PubsubRPC(subscriptions: [.init(subscribe: true, topic: Self.topic)]).framed)
        #expect(await eventually { await publisher.router.peers(in: Self.topic).count == 1 })
        let chunk = [UInt8](repeating: 7, count: 64 * 1024)
        let start = ContinuousClock.now
        for _ in 0..<64 { try await publisher.router.publish(Self.topic, chunk) }
        // Publishing never waits for the peer: 4 MiB against a 256 KiB window and 8 queued RPCs.
        #expect(ContinuousClock.now - start < .seconds(5))
        let dropped = await publisher.router.stats.droppedOutbound
        #expect(dropped >= 64 - 8 - 5, "dropped \(dropped)")
        // Nor can a peer grow our subscription table without bound: 1024 topics, then ignored.
        let many = (0..<1030).map { PubsubSubscription(subscribe: true, topic: "spam/\($0)") }
        try await raw.write(PubsubRPC(subscriptions: many).framed)
        #expect(await eventually { await publisher.router.stats.ignoredSubscriptions == 7 })
        #expect(await publisher.router.peers(in: Self.topic).count == 1)
        await stop([publisher])
        await sluggish.stop()
    }
}

@Suite struct SeenCacheTests {
    @Test func theSeenCacheIsBoundedInSizeAndForgetsTheOldestFirst() {
        var cache = SeenCache(ttl: .seconds(120), maxEntries: 1000)
        let now = ContinuousClock.now
        var inserted = 0
        for i in 0..<5000 where cache.insert(withUnsafeBytes(of: UInt32(i).bigEndian) { Array($0) }, now: now) { inserted += 1 }
        #expect(inserted == 5000)
        #expect(cache.count == 1000 && cache.evicted == 4000)
        #expect(!cache.contains(withUnsafeBytes(of: UInt32(0).bigEndian) { Array($0) }))
        #expect(cache.contains(withUnsafeBytes(of: UInt32(4999).bigEndian) { Array($0) }))
        let again = cache.insert(withUnsafeBytes(of: UInt32(4999).bigEndian) { Array($0) }, now: now)
        #expect(!again)
        // Time still expires what is left.
        cache.expire(now: now + .seconds(121))
        #expect(cache.count == 0)
    }
}
