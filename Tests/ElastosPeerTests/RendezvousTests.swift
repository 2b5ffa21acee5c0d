import CarrierWire
import ElastosCarrier
import ElastosCore
@testable import ElastosPeer
import Foundation
import Testing

/// DHT rendezvous between real PeerServices on loopback: A and B know only the bootstrap node C,
/// subscribe to one topic, and meet through the topic's rendezvous key.
@Suite(.serialized) struct RendezvousTests {
    static let loopback = try! Multiaddr(parsing: "/ip4/127.0.0.1/tcp/0")

    static func discovery(bootstrap: [PeerService]) -> PeerService.Discovery {
        var discovery = PeerService.Discovery()
        discovery.bootstrap = bootstrap.flatMap { service in service.carrier.listenAddrs.map {
            Multiaddr(components: $0.components + [.p2p(service.carrier.libp2pPeerID.multihash.bytes)])
        } }
        var rendezvous = RendezvousConfig()
        rendezvous.schedule = [.milliseconds(300), .milliseconds(700), .seconds(1)]
        discovery.rendezvous = rendezvous
        discovery.kad.refreshInterval = nil
        discovery.kad.requestTimeout = .seconds(15)
        return discovery
    }

    static func start(bootstrap: [PeerService] = []) async throws -> PeerService {
        var pubsub = GossipSubConfig()
        pubsub.heartbeatInterval = .milliseconds(200)
        return try await PeerService.start(identity: SigningKey(), listening: [loopback], pubsub: pubsub,
                                           discovery: discovery(bootstrap: bootstrap))
    }

    /// Polls `condition` every 50 ms for up to `seconds`.
    static func eventually(_ seconds: Double = 30, _ condition: () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return await condition()
    }

    @Test func theKeyIsTheDocumentedMultihash() {
        let key = TopicRendezvous.key(for: "#general")
        #expect(key.count == 34 && key[0] == 0x12 && key[1] == 0x20)
        #expect(Array(key.dropFirst(2)) == Multihash.sha256(of: Array("elastos.rendezvous.v1\0#general".utf8)).digest)
        #expect(TopicRendezvous.key(for: "#general") != TopicRendezvous.key(for: "#other"))
    }

    @Test func twoSubscribersWhoKnowOnlyTheBootstrapNodeMeetAndExchangeAMessage() async throws {
        let c = try await Self.start()
        let a = try await Self.start(bootstrap: [c]), b = try await Self.start(bootstrap: [c])
        let d = try await Self.start(bootstrap: [c])
        let services = [a, b, c, d]
        let topic = "elastos/chat/rendezvous-test"
        let inA = await a.pubsub.subscribe(topic)
        let inB = await b.pubsub.subscribe(topic)
        let inD = await d.pubsub.subscribe("elastos/chat/some-other-room")
        let ok = await Self.eventually {
            let aSeesB = await a.pubsub.peers(in: topic).contains(b.carrier.libp2pPeerID)
            let bSeesA = await b.pubsub.peers(in: topic).contains(a.carrier.libp2pPeerID)
            return aSeesB && bSeesA
        }
        let aPeers = await a.carrier.peers().map(\.peer), bPeers = await b.carrier.peers().map(\.peer)
        #expect(ok, "A and B did not meet: A has \(aPeers), B has \(bPeers)")
        #expect(await a.rendezvous?.topics == [topic])
        // Both announced themselves at C, the only DHT server they share.
        #expect(await Self.eventually { await c.dht?.storedProviders(for: TopicRendezvous.key(for: topic)).count == 2 })

        // Mesh first (a heartbeat), then B's message reaches A.
        _ = await Self.eventually(10) { await !b.pubsub.meshPeers(for: topic).isEmpty }
        let received = Task { () -> [UInt8]? in
            for await message in inA where message.from == b.carrier.libp2pPeerID { return message.data }
            return nil
        }
        _ = try await b.pubsub.publish(topic, Array("hello through the DHT".utf8))
        let got = await Self.firstOf(received, timeout: .seconds(15))
        #expect(got == Array("hello through the DHT".utf8))

        // D, on another topic, is no topic peer of A or B, and hears nothing of theirs.
        #expect(await !a.pubsub.peers(in: topic).contains(d.carrier.libp2pPeerID))
        #expect(await !b.pubsub.peers(in: topic).contains(d.carrier.libp2pPeerID))
        #expect(await d.rendezvous?.topics == ["elastos/chat/some-other-room"])
        let dHeard = Task { () -> Bool in for await _ in inD { return true }; return false }
        try await Task.sleep(for: .milliseconds(500))
        dHeard.cancel()
        #expect(await dHeard.value == false)
        _ = inB
        for service in services { await service.stop() }
    }

    @Test func leavingTheTopicStopsRendezvous() async throws {
        let c = try await Self.start()
        let a = try await Self.start(bootstrap: [c])
        let stream = await a.pubsub.subscribe("t")
        #expect(await Self.eventually(5) { await a.rendezvous?.topics == ["t"] })
        await a.pubsub.unsubscribe("t")
        #expect(await Self.eventually(5) { await a.rendezvous?.topics == [] })
        _ = stream
        await a.stop()
        await c.stop()
    }

    /// The task's value, or nil after `timeout` (the task is cancelled then).
    static func firstOf<T: Sendable>(_ task: Task<T?, Never>, timeout: Duration) async -> T? {
        let timer = Task { try? await Task.sleep(for: timeout); task.cancel() }
        defer { timer.cancel() }
        return await task.value
    }
}
