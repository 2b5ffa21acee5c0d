import CarrierWire
import ElastosCore
import Testing

/// Circuit Relay v2 hop/stop messages (CarrierWire/RelayMessage.swift).
@Suite struct RelayWireTests {
    let peer = Libp2pPeerID(PeerID(publicKey: SigningKey().publicKey))
    let addr = try! Multiaddr(parsing: "/ip4/127.0.0.1/tcp/4001").bytes

    @Test func hopMessagesRoundTrip() throws {
        let messages: [HopMessage] = [
            HopMessage(kind: .reserve),
            HopMessage(kind: .connect, peer: RelayPeer(id: peer, addrs: [addr])),
            HopMessage(kind: .status, reservation: RelayReservation(expire: 1_900_000_000, addrs: [addr, addr], voucher: [1, 2, 3]),
                       limit: RelayLimit(duration: 120, data: 131072), status: .ok),
            HopMessage(kind: .status, limit: RelayLimit(), status: .noReservation),
        ]
        for m in messages { #expect(try HopMessage(decoding: m.bytes) == m) }
        for status in RelayStatus.allCases {
            #expect(try HopMessage(decoding: HopMessage(kind: .status, status: status).bytes).status == status)
        }
    }

    @Test func stopMessagesRoundTrip() throws {
        let messages: [StopMessage] = [
            StopMessage(kind: .connect, peer: RelayPeer(id: peer), limit: RelayLimit(duration: 5)),
            StopMessage(kind: .status, status: .ok),
        ]
        for m in messages { #expect(try StopMessage(decoding: m.bytes) == m) }
    }

    /// The bytes py-libp2p 0.8.1 writes for RESERVE (type 0, an empty `peer`, which the spec
    /// does not have, and its non-standard `senderRecord = 6`), which must decode.
    @Test func exactBytesAndUnknownFieldsSkipped() throws {
        #expect(HopMessage(kind: .reserve).bytes == [0x08, 0x00])
        #expect(HopMessage(kind: .status, status: .ok).bytes == [0x08, 0x02, 0x28, 0x64])
        // type RESERVE, senderRecord (field 6) = 3 bytes, an unknown varint field 9.
        let withExtras: [UInt8] = [0x08, 0x00, 0x32, 0x03, 0xaa, 0xbb, 0xcc, 0x48, 0x07]
        #expect(try HopMessage(decoding: withExtras) == HopMessage(kind: .reserve))
        // Missing type reads as RESERVE / CONNECT (proto3 default).
        #expect(try HopMessage(decoding: []).kind == .reserve)
        #expect(try StopMessage(decoding: []).kind == .connect)
    }

    @Test func malformedMessagesAreRefusedWithTypedErrors() {
        #expect(throws: WireError.relay("unknown hop message type 3")) { try HopMessage(decoding: [0x08, 0x03]) }
        #expect(throws: WireError.relay("unknown stop message type 2")) { try StopMessage(decoding: [0x08, 0x02]) }
        #expect(throws: WireError.relay("unknown status code 0")) { try HopMessage(decoding: [0x08, 0x02, 0x28, 0x00]) }
        // A peer without its id, a reservation without expiry.
        #expect(throws: WireError.missingField("Peer.id")) { try HopMessage(decoding: [0x08, 0x01, 0x12, 0x00]) }
        #expect(throws: WireError.missingField("Reservation.expire")) { try HopMessage(decoding: [0x08, 0x02, 0x1a, 0x00]) }
        // A peer id that is not a multihash.
        #expect(throws: WireError.relay("the peer id is not a multihash")) { try HopMessage(decoding: [0x08, 0x01, 0x12, 0x03, 0x0a, 0x01, 0xff]) }
        // Duration beyond uint32.
        #expect(throws: WireError.relay("limit duration 4294967296 does not fit uint32")) {
            try HopMessage(decoding: [0x08, 0x02, 0x22, 0x06, 0x08, 0x80, 0x80, 0x80, 0x80, 0x10])
        }
        // Wrong wire type for type; truncated; too large.
        #expect(throws: WireError.unexpectedWireType(field: 1)) { try HopMessage(decoding: [0x0a, 0x00]) }
        #expect(throws: WireError.truncated("protobuf field 2")) { try HopMessage(decoding: [0x08, 0x01, 0x12, 0x05]) }
        #expect(throws: WireError.frameTooLarge(length: 4097, limit: 4096)) { try HopMessage(decoding: [UInt8](repeating: 0, count: 4097)) }
    }

    @Test func holePunchMessages() throws {
        let connect = HolePunchMessage(kind: .connect, observedAddrs: [addr, addr])
        #expect(try HolePunchMessage(decoding: connect.bytes) == connect)
        #expect(HolePunchMessage(kind: .sync).bytes == [0x08, 0xac, 0x02])
        #expect(try HolePunchMessage(decoding: [0x08, 0xac, 0x02, 0x48, 0x01]) == HolePunchMessage(kind: .sync))
        #expect(throws: WireError.missingField("HolePunch.type")) { try HolePunchMessage(decoding: []) }
        #expect(throws: WireError.relay("unknown DCUtR message type 0")) { try HolePunchMessage(decoding: [0x08, 0x00]) }
        #expect(throws: WireError.frameTooLarge(length: 4097, limit: 4096)) { try HolePunchMessage(decoding: [UInt8](repeating: 0, count: 4097)) }
    }

    @Test func randomAndMutatedBytesNeverTrap() {
        var rng = SystemRandomNumberGenerator()
        let seeds = [
            HopMessage(kind: .status, reservation: RelayReservation(expire: 7, addrs: [addr]), limit: RelayLimit(duration: 1, data: 2), status: .ok).bytes,
            HopMessage(kind: .connect, peer: RelayPeer(id: peer, addrs: [addr])).bytes,
            StopMessage(kind: .connect, peer: RelayPeer(id: peer), limit: RelayLimit(data: 9)).bytes,
        ]
        for i in 0..<20_000 {
            var bytes: [UInt8]
            if i % 2 == 0 {
                bytes = (0..<Int.random(in: 0..<64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                bytes = seeds[i % seeds.count]
                for _ in 0..<Int.random(in: 1...4, using: &rng) where !bytes.isEmpty {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                if Bool.random(using: &rng) { bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng))) }
            }
            _ = try? HopMessage(decoding: bytes)
            _ = try? StopMessage(decoding: bytes)
            _ = try? HolePunchMessage(decoding: bytes)
        }
    }
}
