import CarrierWire
import ElastosCore
import Testing
@testable import ElastosCarrier

/// The whole upgrade (multistream → Noise XX → muxer) between two in-memory peers.
@Suite struct ConnectionUpgradeTests {
    /// Shuttles bytes until neither side has anything to send; `mutate` may corrupt one direction.
    func run(_ a: inout ConnectionUpgrade, _ b: inout ConnectionUpgrade,
             mutate: (inout [UInt8], Int) -> Void = { _, _ in }) throws {
        var toB = a.start()
        var toA = b.start()
        var round = 0, chunksToB = 0
        while !toA.isEmpty || !toB.isEmpty {
            if !toB.isEmpty { mutate(&toB, chunksToB); chunksToB += 1 }
            round += 1
            let bOut = try b.receive(toB)
            toB = []
            let aOut = try a.receive(toA)
            toA = bOut
            toB = aOut
            guard round < 20 else { Issue.record("upgrade did not converge"); return }
        }
    }

    @Test func bothSidesLearnEachOthersPeerIDAndShareKeys() throws {
        let dialerKey = SigningKey(), listenerKey = SigningKey()
        var dialer = ConnectionUpgrade(role: .initiator, identity: dialerKey, expectedPeer: Libp2pPeerID(PeerID(publicKey: listenerKey.publicKey)))
        var listener = ConnectionUpgrade(role: .responder, identity: listenerKey, expectedPeer: nil)
        try run(&dialer, &listener)
        #expect(dialer.phase == .ready && listener.phase == .ready)
        #expect(dialer.remotePeer == Libp2pPeerID(PeerID(publicKey: listenerKey.publicKey)))
        #expect(listener.remotePeer == Libp2pPeerID(PeerID(publicKey: dialerKey.publicKey)))
        var sender = try #require(dialer.transport), receiver = try #require(listener.transport)
        let message = (0..<200_000).map { UInt8(truncatingIfNeeded: $0) }
        let wire = try sender.encrypt(message)
        #expect(wire.count == message.count + 4 * 18)  // four frames, each with a length and a tag
        #expect(try receiver.decrypt(Array(wire.prefix(1000))) == [])
        #expect(try receiver.decrypt(Array(wire.dropFirst(1000))) == message)
    }

    @Test func aDialerThatExpectsAnotherPeerRefuses() throws {
        let other = Libp2pPeerID(PeerID(publicKey: SigningKey().publicKey))
        var dialer = ConnectionUpgrade(role: .initiator, identity: SigningKey(), expectedPeer: other)
        let listenerKey = SigningKey()
        var listener = ConnectionUpgrade(role: .responder, identity: listenerKey, expectedPeer: nil)
        #expect(throws: ConnectionError.noise(.peerMismatch(expected: other.description, got: PeerID(publicKey: listenerKey.publicKey).description))) {
            try run(&dialer, &listener)
        }
    }

    @Test func aFlippedBitInTheHandshakeFailsAuthentication() throws {
        for target in 0..<3 {
            var dialer = ConnectionUpgrade(role: .initiator, identity: SigningKey(), expectedPeer: nil)
            var listener = ConnectionUpgrade(role: .responder, identity: SigningKey(), expectedPeer: nil)
            #expect(throws: (any Error).self) {
                // Chunks toward the listener: 0 multistream, 1 Noise msg1 (e), 2 msg3 (s, se, payload).
                try run(&dialer, &listener) { bytes, chunk in
                    if chunk == target { bytes[bytes.count / 2] ^= 1 }
                }
            }
        }
    }

    @Test func randomBytesNeverTrapTheUpgrade() {
        for _ in 0..<2000 {
            var listener = ConnectionUpgrade(role: .responder, identity: SigningKey(), expectedPeer: nil)
            var start = Multistream.encode(Multistream.header) + Multistream.encode("/noise")
            start += (0..<Int.random(in: 0...200)).map { _ in UInt8.random(in: 0...255) }
            _ = try? listener.receive(start)
        }
    }

    @Test func noiseHKDFMatchesPythonHMAC() throws {
        // HKDF with an empty input (Noise §4.3) against a value computed with Python's hmac.
        let (a, b) = NoiseSymmetricState.hkdf(chainingKey: Array(repeating: 0, count: 32), inputKeyMaterial: [])
        #expect(Hex.encode(a) == "eb70f01dede9afafa449eee1b1286504e1f62388b3f7dd4f956697b0e828fe18")
        #expect(Hex.encode(b) == "1e59c2ec0fe6e7e7ac2613b6ab65342a83379969da234240cded3777914db907")
    }
}
