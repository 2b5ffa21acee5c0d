import CarrierWire
import ElastosCore
import Testing
@testable import ElastosCarrier

/// Signed peer records in identify, and identify push, between two Swift nodes on loopback.
@Suite(.serialized) struct IdentifyPushTests {
    static let loopback = try! Multiaddr(parsing: "/ip4/127.0.0.1/tcp/0")

    struct Pair {
        let dialer: CarrierNode, listener: CarrierNode, listenerKey: SigningKey
        var listenerID: Libp2pPeerID { listener.libp2pPeerID }
        var dialerID: Libp2pPeerID { dialer.libp2pPeerID }
        func stop() async { await dialer.stop(); await listener.stop() }
    }

    func connectedPair() async throws -> Pair {
        let key = SigningKey()
        let listener = CarrierNode(identity: key)
        let bound = try #require(try await listener.start(listening: [Self.loopback]).first)
        let dialer = CarrierNode(identity: SigningKey())
        _ = try await dialer.dial(bound.appending(peer: listener.peerID))
        _ = try #require(await dialer.waitForIdentify(listener.libp2pPeerID))
        _ = try #require(await listener.waitForIdentify(dialer.libp2pPeerID))
        return Pair(dialer: dialer, listener: listener, listenerKey: key)
    }

    /// What `node` knows of `peer` once `condition` holds (polling for up to 5 s), else nil.
    func info(_ node: CarrierNode, of peer: Libp2pPeerID, when condition: (PeerInfo) -> Bool) async -> PeerInfo? {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            if let info = await node.peers().first(where: { $0.peer == peer }), condition(info) { return info }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    @Test func identifyCarriesASignedPeerRecordTheOtherSideVerifies() async throws {
        let pair = try await connectedPair()
        let seen = try #require(await pair.dialer.peers().first { $0.peer == pair.listenerID })
        #expect(seen.certifiedAddrs == pair.listener.advertisedAddrs)
        #expect(seen.listenAddrs == pair.listener.advertisedAddrs)
        #expect(seen.peerRecordSeq != nil)
        // The dialer listens nowhere: its record is signed and empty.
        let back = try #require(await pair.listener.peers().first { $0.peer == pair.dialerID })
        #expect(back.certifiedAddrs == [])
        #expect(pair.dialer.peerRecordsRejected == 0 && pair.listener.peerRecordsRejected == 0)
        await pair.stop()
    }

    @Test func newProtocolsAndRelayAddressesArePushedToConnectedPeers() async throws {
        let pair = try await connectedPair()
        let firstSeq = try #require(await pair.dialer.peers().first { $0.peer == pair.listenerID }?.peerRecordSeq)

        pair.listener.handle("/test/late/1.0.0") { stream in stream.reset() }
        let learned = await info(pair.dialer, of: pair.listenerID) { $0.protocols.contains("/test/late/1.0.0") }
        #expect(learned != nil)
        #expect(learned?.agentVersion == CarrierNode.agentVersion)  // kept across the push
        #expect(pair.listener.identifyPushesSent >= 1)

        let circuit = try Multiaddr(parsing: "/ip4/127.0.0.1/tcp/1/p2p/\(Libp2pPeerID(PeerID(publicKey: SigningKey().publicKey)))/p2p-circuit")
        await pair.listener.advertiseRelayAddress(circuit)
        let relayed = await info(pair.dialer, of: pair.listenerID) { $0.listenAddrs.contains(circuit) }
        #expect(relayed?.certifiedAddrs?.last == circuit)
        #expect((relayed?.peerRecordSeq ?? 0) > firstSeq)

        await pair.listener.withdrawRelayAddress(circuit)
        let withdrawn = await info(pair.dialer, of: pair.listenerID) { !$0.listenAddrs.contains(circuit) }
        #expect(withdrawn?.listenAddrs == pair.listener.advertisedAddrs)
        #expect(pair.dialer.peerRecordsRejected == 0)
        await pair.stop()
    }

    @Test func anOlderRecordIsIgnoredAndAForgedOneCounted() async throws {
        let pair = try await connectedPair()
        let before = try #require(await pair.dialer.peers().first { $0.peer == pair.listenerID })
        let elsewhere = try Multiaddr(parsing: "/ip4/10.9.8.7/tcp/4001")

        // A validly signed but older record (seq 1) does not replace the newer one.
        let old = SignedRecords.sealPeerRecord(PeerRecord(peer: pair.listenerID, seq: 1, addresses: [elsewhere.bytes]), with: pair.listenerKey)
        try await push(from: pair.listener, to: pair.dialerID, IdentifyMessage(listenAddrs: [elsewhere.bytes], protocols: ["/test/old/1.0.0"], signedPeerRecord: old.bytes))
        let afterOld = await info(pair.dialer, of: pair.listenerID) { $0.protocols.contains("/test/old/1.0.0") }
        #expect(afterOld?.certifiedAddrs == before.certifiedAddrs)
        #expect(afterOld?.listenAddrs == before.listenAddrs)  // uncertified addresses don't override certified ones
        #expect(pair.dialer.peerRecordsRejected == 0)

        // A record for the listener signed by another key: ignored, counted, the rest used.
        let impostor = SigningKey()
        let forged = SignedRecords.seal(PeerRecord(peer: pair.listenerID, seq: .max, addresses: [elsewhere.bytes]).bytes,
                                        payloadType: PeerRecord.payloadType, domain: PeerRecord.domain, with: impostor)
        try await push(from: pair.listener, to: pair.dialerID, IdentifyMessage(protocols: ["/test/forged/1.0.0"], signedPeerRecord: forged.bytes))
        let afterForged = await info(pair.dialer, of: pair.listenerID) { $0.protocols.contains("/test/forged/1.0.0") }
        #expect(afterForged?.certifiedAddrs == before.certifiedAddrs)
        #expect(afterForged?.peerRecordSeq == before.peerRecordSeq)
        #expect(pair.dialer.peerRecordsRejected == 1)
        await pair.stop()
    }

    @Test func eachConnectionIsToldItsOwnObservedAddress() async throws {
        let listener = CarrierNode(identity: SigningKey())
        let bound = try #require(try await listener.start(listening: [Self.loopback]).first)
        let dialer = CarrierNode(identity: SigningKey())
        for _ in 0..<3 { _ = try await dialer.dial(bound) }  // no /p2p/: three connections
        let told = await info(dialer, of: listener.libp2pPeerID) { _ in true }
        #expect(told != nil)
        var observed: Set<Multiaddr> = []
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            observed = Set(await dialer.peers().compactMap(\.observedAddr))
            if observed.count == 3 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        // What each connection was told is that connection's far end as the listener sees it.
        let seenByListener = Set(await listener.peers().compactMap(\.remoteAddress))
        #expect(observed.count == 3)
        #expect(observed == seenByListener)
        await dialer.stop(); await listener.stop()
    }

    func push(from node: CarrierNode, to peer: Libp2pPeerID, _ message: IdentifyMessage) async throws {
        let stream = try await node.openStream(to: peer, protocol: IdentifyMessage.pushProtocolID)
        try await stream.writeLengthPrefixed(message.bytes)
        try await stream.closeWrite()
    }
}
