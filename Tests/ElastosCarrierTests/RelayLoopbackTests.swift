import CarrierWire
import ElastosCore
import Testing
@testable import ElastosCarrier

/// Circuit Relay v2 between three Swift nodes over TCP on loopback: a relay, a target that
/// reserves on it, and a source that dials the target through the circuit.
@Suite(.serialized) struct RelayLoopbackTests {
    static let loopback = try! Multiaddr(parsing: "/ip4/127.0.0.1/tcp/0")
    static let echo = "/elastos/test/echo/1.0.0"

    struct Trio {
        let relay: CarrierNode, service: CircuitRelayService, relayAddress: Multiaddr
        let target: CarrierNode, client: CircuitRelayClient
        let source: CarrierNode
        var targetID: Libp2pPeerID { target.libp2pPeerID }
        var circuitAddress: Multiaddr { Multiaddr(components: relayAddress.components + [.p2pCircuit, .p2p(targetID.multihash.bytes)]) }

        func stop() async {
            await client.stop()
            await source.stop()
            await target.stop()
            await relay.stop()
        }
    }

    func trio(_ config: RelayServiceConfig = RelayServiceConfig(), reserve: Bool = true) async throws -> Trio {
        let relay = CarrierNode(identity: SigningKey())
        let service = CircuitRelayService(node: relay, config: config)
        let bound = try #require(try await relay.start(listening: [Self.loopback]).first)
        let relayAddress = bound.appending(peer: relay.peerID)
        let target = CarrierNode(identity: SigningKey())
        target.handle(Self.echo) { stream in
            while let bytes = try? await stream.read() { try? await stream.write(bytes) }
            try? await stream.closeWrite()
        }
        let client = CircuitRelayClient(node: target)
        if reserve { try await client.reserve(on: relayAddress) }
        return Trio(relay: relay, service: service, relayAddress: relayAddress, target: target, client: client,
                    source: CarrierNode(identity: SigningKey()))
    }

    func echo(_ node: CarrierNode, _ peer: Libp2pPeerID, _ payload: [UInt8]) async throws -> [UInt8] {
        let stream = try await node.openStream(to: peer, protocol: Self.echo)
        async let written: Void = { try await stream.write(payload); try await stream.closeWrite() }()
        let back = try await stream.readToEnd(limit: payload.count + 1)
        try await written
        return back
    }

    @Test func reserveDialThroughTheCircuitThenPingIdentifyAndAStream() async throws {
        let t = try await trio()
        let reservation = try #require(await t.client.current.first)
        #expect(reservation.relay == t.relay.libp2pPeerID)
        #expect(reservation.limit == RelayLimit(duration: 120, data: 1 << 17))
        #expect(await t.service.reservedPeers == [t.targetID])
        // The relay's voucher was checked (signed by the relay, for the target) and expires with it.
        #expect(reservation.voucher == ReservationVoucher(relay: t.relay.libp2pPeerID, peer: t.targetID, expiration: reservation.expire))
        // The target now advertises its circuit address, in identify and its signed record.
        #expect(t.target.advertisedAddrs.last == reservation.circuitAddress)
        #expect(!t.target.directAdvertisedAddrs.contains(reservation.circuitAddress))

        let remote = try await t.source.dial(t.circuitAddress)
        #expect(remote == t.targetID)
        #expect(try await t.source.ping(remote, count: 3).count == 3)
        let info = try #require(await t.source.waitForIdentify(remote))
        #expect(info.agentVersion == CarrierNode.agentVersion)
        #expect(info.remoteAddress == t.circuitAddress)
        let payload = (0..<20_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        #expect(try await echo(t.source, remote, payload) == payload)
        // The target sees the source as a peer reached through the relay.
        let back = try #require(await t.target.waitForIdentify(t.source.libp2pPeerID))
        #expect(back.remoteAddress?.components.contains(.p2pCircuit) == true)
        #expect(back.isOutbound == false)
        #expect(await t.client.acceptedCircuits == 1)
        #expect(await t.service.stats.circuitsOpened == 1)
        await t.stop()
    }

    @Test func noReservationIsRefused() async throws {
        let t = try await trio(reserve: false)
        await #expect(throws: CarrierError.self) { try await t.source.dial(t.circuitAddress) }
        do { try await t.source.dial(t.circuitAddress) } catch {
            guard case .relay(.refused(.noReservation)) = error else { Issue.record("got \(error)"); return await t.stop() }
        }
        await t.stop()
    }

    @Test func tooManyReservationsAreRefused() async throws {
        var config = RelayServiceConfig()
        config.maxReservations = 1
        let t = try await trio(config)
        let other = CarrierNode(identity: SigningKey())
        let client = CircuitRelayClient(node: other)
        do {
            try await client.reserve(on: t.relayAddress, renew: false)
            Issue.record("a second reservation was granted")
        } catch {
            guard case .relay(.refused(.resourceLimitExceeded)) = error else { Issue.record("got \(error)"); return }
        }
        // Renewing the one held is still allowed.
        try await t.client.reserve(on: t.relayAddress)
        await other.stop()
        await t.stop()
    }

    @Test func theClientRenewsItsReservationBeforeItExpires() async throws {
        var config = RelayServiceConfig()
        config.reservationTTL = .seconds(2)
        let t = try await trio(config)
        // Renewed at three quarters of the 2 s (at least 1 s after each grant).
        try await waitUntil(seconds: 8) { await t.service.stats.reservationsGranted >= 3 }
        #expect(await t.service.reservedPeers == [t.targetID])
        #expect(try await t.source.dial(t.circuitAddress) == t.targetID)
        await t.stop()
    }

    @Test func circuitsPerPeerAreLimited() async throws {
        var config = RelayServiceConfig()
        config.maxCircuitsPerPeer = 1
        let t = try await trio(config)
        _ = try await t.source.dial(t.circuitAddress)
        let second = CarrierNode(identity: SigningKey())
        do {
            try await second.dial(t.circuitAddress)
            Issue.record("a second circuit to the target was opened")
        } catch {
            guard case .relay(.refused(.resourceLimitExceeded)) = error else { Issue.record("got \(error)"); return }
        }
        #expect(await t.service.stats.circuitsRefused == 1)
        await second.stop()
        await t.stop()
    }

    @Test func dataLimitEndsTheCircuit() async throws {
        var config = RelayServiceConfig()
        config.circuitData = 16 * 1024
        let t = try await trio(config)
        let remote = try await t.source.dial(t.circuitAddress)
        #expect(try await t.source.ping(remote).count == 1)
        // 64 kB cannot pass a 16 kB limit: the relay cuts the circuit and the connection closes.
        _ = try? await echo(t.source, remote, [UInt8](repeating: 1, count: 64 * 1024))
        try await waitUntil { await !t.source.isConnected(remote) }
        await t.stop()
    }

    @Test func durationLimitEndsTheCircuit() async throws {
        var config = RelayServiceConfig()
        config.circuitDuration = 1
        let t = try await trio(config)
        let remote = try await t.source.dial(t.circuitAddress)
        #expect(try await t.source.ping(remote).count == 1)
        try await waitUntil(seconds: 5) { await !t.source.isConnected(remote) }
        await t.stop()
    }

    @Test func malformedAndUnexpectedHopMessagesGetTheirStatus() async throws {
        let t = try await trio()
        let relay = try await t.source.dial(t.relayAddress)
        for (request, expected) in [([UInt8]([0x08, 0x09]), RelayStatus.malformedMessage),
                                    (HopMessage(kind: .status, status: .ok).bytes, .unexpectedMessage),
                                    (HopMessage(kind: .connect).bytes, .malformedMessage)] {
            let stream = try await t.source.openStream(to: relay, protocol: CircuitRelay.hopProtocolID)
            try await stream.writeLengthPrefixed(request)
            let answer = try HopMessage(decoding: try await stream.readLengthPrefixed(limit: 4096))
            #expect(answer.kind == .status && answer.status == expected)
        }
        // A length prefix over 4096 is refused before it is buffered.
        let stream = try await t.source.openStream(to: relay, protocol: CircuitRelay.hopProtocolID)
        try await stream.write([0x80, 0x40])
        let answer = try HopMessage(decoding: try await stream.readLengthPrefixed(limit: 4096))
        #expect(answer.status == .malformedMessage)
        await t.stop()
    }

    @Test func aSilentHopStreamIsResetAfterTheStreamTimeout() async throws {
        var config = RelayServiceConfig()
        config.streamTimeout = .milliseconds(300)
        let t = try await trio(config)
        let relay = try await t.source.dial(t.relayAddress)
        let stream = try await t.source.openStream(to: relay, protocol: CircuitRelay.hopProtocolID)
        let started = ContinuousClock.now
        // Nothing is sent: the relay gives up, answers MALFORMED_MESSAGE if it still can, or resets.
        let answer = try? await stream.readLengthPrefixed(limit: 4096)
        #expect(ContinuousClock.now - started < .seconds(5))
        if let answer { #expect(try HopMessage(decoding: answer).status == .malformedMessage) }
        await t.stop()
    }

    @Test func stopStreamsFromPeersWeDidNotReserveOnAreDenied() async throws {
        let t = try await trio()
        let stranger = CarrierNode(identity: SigningKey())
        let bound = try #require(try await t.target.start(listening: [Self.loopback]).first)
        let target = try await stranger.dial(bound.appending(peer: t.target.peerID))
        let stream = try await stranger.openStream(to: target, protocol: CircuitRelay.stopProtocolID)
        try await stream.writeLengthPrefixed(StopMessage(kind: .connect, peer: RelayPeer(id: stranger.libp2pPeerID)).bytes)
        let answer = try StopMessage(decoding: try await stream.readLengthPrefixed(limit: 4096))
        #expect(answer.kind == .status && answer.status == .permissionDenied)
        await stranger.stop()
        await t.stop()
    }

    @Test func circuitAddressesAreCheckedBeforeDialling() async throws {
        let node = CarrierNode(identity: SigningKey())
        let relay = CarrierNode(identity: SigningKey()).peerID
        for text in ["/ip4/127.0.0.1/tcp/1/p2p-circuit/p2p/\(relay)",  // no relay id
                     "/ip4/127.0.0.1/tcp/1/p2p/\(relay)/p2p-circuit",  // no target
                     "/ip4/127.0.0.1/tcp/1/p2p/\(relay)/p2p-circuit/ip4/1.2.3.4"] {
            let address = try Multiaddr(parsing: text)
            do {
                try await node.dial(address)
                Issue.record("dialled \(text)")
            } catch {
                guard case .relay(.invalidAddress) = error else { Issue.record("\(text): \(error)"); continue }
            }
        }
        await node.stop()
    }

    @Test func dcutrUpgradesTheRelayedConnectionToADirectOne() async throws {
        let t = try await trio()
        // The target and the source listen (hole punching needs addresses to dial).
        _ = try await t.target.start(listening: [Self.loopback])
        _ = try await t.source.start(listening: [Self.loopback])
        let targetPunch = DCUtRService(node: t.target)
        let sourcePunch = DCUtRService(node: t.source)
        await t.client.onCircuit { peer in await targetPunch.upgrade(peer) }

        let remote = try await t.source.dial(t.circuitAddress)
        try await waitUntil { await t.source.isDirectlyConnected(remote) }
        try await waitUntil { await t.target.isDirectlyConnected(t.source.libp2pPeerID) }
        // Either side's dial may win; each reports a direct connection once its attempt ends.
        try await waitUntil { await targetPunch.outcomes == [.direct] }
        try await waitUntil { await sourcePunch.outcomes == [.direct] }
        // Both connections are open; streams now take the direct one.
        let connections = await t.source.peers().filter { $0.peer == remote }
        #expect(connections.contains { $0.isRelayed } && connections.contains { !$0.isRelayed })
        let payload = [UInt8](repeating: 9, count: 200_000)  // more than the relay's 128 KiB limit
        #expect(try await echo(t.source, remote, payload) == payload)
        #expect(await t.service.stats.bytesRelayed < 128 * 1024)
        await t.stop()
    }

    @Test func afterTheUpgradeTheRelayedConnectionClosesAndPubsubMovesToTheDirectOne() async throws {
        let t = try await trio()
        _ = try await t.target.start(listening: [Self.loopback])
        _ = try await t.source.start(listening: [Self.loopback])
        let targetPunch = DCUtRService(node: t.target, relayCloseGrace: .milliseconds(700))
        let sourcePunch = DCUtRService(node: t.source, relayCloseGrace: .milliseconds(700))
        await t.client.onCircuit { peer in await targetPunch.upgrade(peer) }
        let targetRouter = GossipSub(node: t.target), sourceRouter = GossipSub(node: t.source)
        await targetRouter.start(); await sourceRouter.start()
        let atTarget = await targetRouter.subscribe("moves"), atSource = await sourceRouter.subscribe("moves")

        // Pubsub's streams open on the first connection, the relayed one.
        let remote = try await t.source.dial(t.circuitAddress)
        try await waitUntil { await sourceRouter.peers(in: "moves").contains(remote) }
        try await waitUntil { await t.source.isDirectlyConnected(remote) }
        // After the grace period only the direct connection is left, on both sides.
        try await waitUntil { await t.source.peers().filter { $0.peer == remote }.allSatisfy { !$0.isRelayed } }
        try await waitUntil { await t.target.peers().filter { $0.peer == t.source.libp2pPeerID }.allSatisfy { !$0.isRelayed } }
        #expect(await targetPunch.relayedConnectionsClosed + sourcePunch.relayedConnectionsClosed >= 1)
        #expect(await t.source.isConnected(remote))

        // Messages published now still arrive, both ways, over the direct connection.
        #expect(try await publishUntilReceived(sourceRouter, "from source", atTarget))
        #expect(try await publishUntilReceived(targetRouter, "from target", atSource))
        await sourceRouter.stop(); await targetRouter.stop()
        await t.stop()
    }

    /// Publishes `text` again every 200 ms (each a new message) until `subscription` yields one
    /// carrying it; false after 10 s.
    func publishUntilReceived(_ router: GossipSub, _ text: String, _ subscription: AsyncStream<PubsubMessage>) async throws -> Bool {
        let received = Task { () -> Bool in
            for await message in subscription where message.data == Array(text.utf8) { return true }
            return false
        }
        let publisher = Task {
            while !Task.isCancelled {
                _ = try? await router.publish("moves", Array(text.utf8))
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        let timeout = Task { try? await Task.sleep(for: .seconds(10)); received.cancel() }
        let ok = await received.value
        publisher.cancel(); timeout.cancel()
        return ok
    }

    @Test func dcutrFailsCleanlyWhenThePeerHasNoDirectAddress() async throws {
        let t = try await trio()
        let targetPunch = DCUtRService(node: t.target)
        let sourcePunch = DCUtRService(node: t.source)  // the source listens nowhere
        await t.client.onCircuit { peer in await targetPunch.upgrade(peer) }
        let remote = try await t.source.dial(t.circuitAddress)
        try await waitUntil { await !targetPunch.outcomes.isEmpty }
        let outcomes = await targetPunch.outcomes
        #expect(outcomes == [.failed("no dialable address")], "\(outcomes)")
        #expect(await !t.source.isDirectlyConnected(remote))
        #expect(try await t.source.ping(remote).count == 1)  // the circuit still works
        // The source answered and found no address to dial either.
        try await waitUntil { await sourcePunch.outcomes == [.failed("no dialable address")] }
        await t.stop()
    }

    func waitUntil(seconds: Int = 10, _ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("condition not met within \(seconds) s")
    }
}
