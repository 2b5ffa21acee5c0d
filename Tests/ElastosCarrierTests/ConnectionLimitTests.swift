import CarrierWire
import ElastosCore
import NIOCore
import NIOPosix
import Testing
@testable import ElastosCarrier

/// Inbound connection limits, with raw TCP sockets that never handshake and real dials.
@Suite(.serialized) struct ConnectionLimitTests {
    static let loopback = try! Multiaddr(parsing: "/ip4/127.0.0.1/tcp/0")

    /// A plain TCP connection that sends nothing; `closed` completes when the node drops it.
    func silentSocket(to address: Multiaddr, group: any EventLoopGroup) async throws -> any Channel {
        let (host, port) = try #require(address.tcpEndpoint)
        return try await ClientBootstrap(group: group).connect(host: host, port: Int(port)).get()
    }

    /// Whether `channel` is closed by the other side within `seconds`.
    func closedSoon(_ channel: any Channel, within seconds: Int = 3) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if !channel.isActive { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    func node(_ configure: (inout ConnectionLimits) -> Void) async throws -> (CarrierNode, Multiaddr) {
        var limits = ConnectionLimits()
        configure(&limits)
        let node = CarrierNode(identity: SigningKey(), limits: limits)
        let bound = try #require(try await node.start(listening: [Self.loopback]).first)
        return (node, bound)
    }

    @Test func silentConnectionsBeyondThePendingLimitAreClosedAtOnce() async throws {
        let (listener, address) = try await node { $0.maxPendingInbound = 2 }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var held: [any Channel] = []
        for _ in 0..<2 { held.append(try await silentSocket(to: address, group: group)) }
        try await Task.sleep(for: .milliseconds(200))  // both accepted and counted
        let extra = try await silentSocket(to: address, group: group)
        #expect(await closedSoon(extra))
        #expect(listener.connectionsRefused == 1)
        // The two silent ones are still held (until the 10 s handshake timeout), so a real
        // dial is refused too; once they go, one gets through.
        let dialer = CarrierNode(identity: SigningKey())
        await #expect(throws: CarrierError.self) { try await dialer.dial(address) }
        for channel in held { try? await channel.close() }
        try await Task.sleep(for: .milliseconds(200))
        let peer = try await dialer.dial(address)
        #expect(try await dialer.ping(peer).count == 1)
        #expect(held.allSatisfy { !$0.isActive })
        await dialer.stop(); await listener.stop()
        try await group.shutdownGracefully()
    }

    @Test func aPeerGetsAtMostItsShareOfInboundConnections() async throws {
        let (listener, address) = try await node { $0.maxInboundPerPeer = 2 }
        let dialer = CarrierNode(identity: SigningKey())
        for _ in 0..<4 { _ = try? await dialer.dial(address) }  // without /p2p/: a new connection each time
        try await Task.sleep(for: .milliseconds(300))
        let fromDialer = await listener.peers().filter { $0.peer == dialer.libp2pPeerID }
        #expect(fromDialer.count == 2)
        #expect(listener.connectionsRefused == 2)
        // Another peer is not affected.
        let other = CarrierNode(identity: SigningKey())
        let peer = try await other.dial(address)
        #expect(try await other.ping(peer).count == 1)
        await other.stop(); await dialer.stop(); await listener.stop()
    }

    @Test func oneAddressGetsAtMostItsShareUnlessItIsLoopback() async throws {
        let (strict, strictAddress) = try await node { $0.maxInboundPerIP = 3; $0.loopbackExemptFromPerIP = false }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var held: [any Channel] = []
        for _ in 0..<3 { held.append(try await silentSocket(to: strictAddress, group: group)) }
        try await Task.sleep(for: .milliseconds(200))
        let fourth = try await silentSocket(to: strictAddress, group: group)
        #expect(await closedSoon(fourth))
        #expect(held.allSatisfy { $0.isActive })
        #expect(strict.connectionsRefused == 1)

        // By default loopback is exempt from the per-IP limit (the total and pending ones still hold).
        let (lenient, lenientAddress) = try await node { $0.maxInboundPerIP = 3 }
        var lenientHeld: [any Channel] = []
        for _ in 0..<5 { lenientHeld.append(try await silentSocket(to: lenientAddress, group: group)) }
        try await Task.sleep(for: .milliseconds(200))
        #expect(lenientHeld.allSatisfy { $0.isActive })
        #expect(lenient.connectionsRefused == 0)
        for channel in held + lenientHeld { try? await channel.close() }
        await strict.stop(); await lenient.stop()
        try await group.shutdownGracefully()
    }
}

/// The connection manager: past the high-water mark, back down to the low-water mark.
@Suite(.serialized) struct ConnectionTrimTests {
    static let loopback = try! Multiaddr(parsing: "/ip4/127.0.0.1/tcp/0")
    static let hold = "/test/hold/1.0.0"

    @Test func pastHighWaterIdleUnprotectedConnectionsCloseDownToLowWater() async throws {
        var limits = ConnectionLimits()
        limits.highWater = 4
        limits.lowWater = 2
        limits.gracePeriod = .seconds(3)
        let hub = CarrierNode(identity: SigningKey(), limits: limits)
        hub.handle(Self.hold) { stream in _ = try? await stream.readToEnd(limit: 1 << 20) }  // held open until the peer closes
        let address = try #require(try await hub.start(listening: [Self.loopback]).first).appending(peer: hub.peerID)
        var peers: [CarrierNode] = []
        let firstDial = ContinuousClock.now
        for _ in 0..<6 {
            let node = CarrierNode(identity: SigningKey())
            _ = try await node.dial(address)
            peers.append(node)
        }
        // One peer keeps a stream open, one is protected; both must survive.
        let busy = try await peers[4].openStream(to: hub.libp2pPeerID, protocol: Self.hold)
        await hub.protect(peers[5].libp2pPeerID, tag: "test")
        let count = await hub.peers().count
        // Within the grace period nothing is closed (unless a loaded machine took longer than it
        // to dial, when this says nothing).
        if ContinuousClock.now - firstDial < limits.gracePeriod { #expect(count == 6) }

        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline, await hub.peers().count > limits.lowWater {
            try await Task.sleep(for: .milliseconds(50))
        }
        let left = Set(await hub.peers().map(\.peer))
        #expect(left == [peers[4].libp2pPeerID, peers[5].libp2pPeerID])
        #expect(hub.connectionsTrimmed == 4)
        // The trimmed peers see their connection go.
        for node in peers[0..<4] {
            var gone = false
            for _ in 0..<100 where !gone {
                gone = await node.peers().isEmpty
                if !gone { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(gone)
        }
        try await busy.closeWrite()
        for node in peers { await node.stop() }
        await hub.stop()
    }

    @Test func relaysWeReserveOnAreProtected() async throws {
        let relay = CarrierNode(identity: SigningKey())
        let service = CircuitRelayService(node: relay)
        let relayAddress = try #require(try await relay.start(listening: [Self.loopback]).first).appending(peer: relay.peerID)
        let client = CarrierNode(identity: SigningKey())
        let reservations = CircuitRelayClient(node: client)
        try await reservations.reserve(on: relayAddress, renew: false)
        #expect(await client.isProtected(relay.libp2pPeerID))
        #expect(await relay.isProtected(client.libp2pPeerID))  // the relay keeps its reservation holders too
        await reservations.cancel(relay.libp2pPeerID)
        #expect(!(await client.isProtected(relay.libp2pPeerID)))
        await client.stop()
        // The client's connection closing ends its reservation, and the relay's protection.
        var released = false
        for _ in 0..<100 where !released {
            let stillProtected = await relay.isProtected(client.libp2pPeerID)
            let reserved = await service.reservedPeers
            released = !stillProtected && reserved.isEmpty
            if !released { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(released)
        await relay.stop()
    }
}
