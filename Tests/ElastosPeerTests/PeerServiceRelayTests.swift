import CarrierWire
import ElastosCarrier
import ElastosCore
@testable import ElastosPeer
import Testing

/// PeerService with Circuit Relay v2: `--relay-service` on one node, `--relay` on another, and
/// a third that connects with a ticket that names only the relay, then DCUtR makes it direct.
@Suite(.serialized) struct PeerServiceRelayTests {
    static let loopback = try! Multiaddr(parsing: "/ip4/127.0.0.1/tcp/0")

    @Test func theTicketCarriesTheRelayAndConnectGoesThroughIt() async throws {
        let relay = try await PeerService.start(identity: SigningKey(), listening: [Self.loopback], relayService: RelayServiceConfig())
        let target = try await PeerService.start(identity: SigningKey(), listening: [Self.loopback])
        let source = try await PeerService.start(identity: SigningKey(), listening: [Self.loopback])
        #expect(relay.relayService != nil && target.relayService == nil)
        #expect(target.ticket.relay == nil)
        let relayAddress = try #require(relay.carrier.listenAddrs.first).appending(peer: relay.carrier.peerID)
        let info = try await target.reserve(on: relayAddress)
        #expect(info.relay == relay.carrier.libp2pPeerID)

        // The ticket round-trips with the relay, and its last dial address is the circuit.
        let ticket = try Ticket(parsing: target.ticket.description)
        #expect(ticket.relay == relayAddress)
        let circuit = try #require(ticket.dialAddresses.last)
        #expect(circuit.components.contains(.p2pCircuit))

        // A ticket with only the relay is reached through the circuit.
        let relayOnly = Ticket(peer: ticket.peer, addresses: [], relay: ticket.relay)
        let entry = try await source.connect(relayOnly.description)
        #expect(entry.peer == target.carrier.libp2pPeerID.description)
        #expect(entry.address == circuit.description)
        #expect(try await source.carrier.ping(target.carrier.libp2pPeerID).count == 1)
        // DCUtR runs after the circuit: the target dials the source's direct address.
        let deadline = ContinuousClock.now + .seconds(10)
        while await !source.carrier.isDirectlyConnected(target.carrier.libp2pPeerID), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(await source.carrier.isDirectlyConnected(target.carrier.libp2pPeerID))
        // The source's dial on SYNC may win before the target's own attempt has ended.
        while await target.holePunch.outcomes.isEmpty, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(await target.holePunch.outcomes == [.direct])

        await source.stop()
        await target.stop()
        await relay.stop()
    }
}
