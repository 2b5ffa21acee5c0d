import CarrierWire
import Testing

@Suite struct ProtobufTests {
    @Test func writesAndReadsEveryWireTypeAndSkipsUnknownFields() throws {
        var w = ProtobufWriter()
        w.varint(1, 300)
        w.string(2, "hé")
        w.bytes(15, [1, 2, 3])
        // A fixed64 (field 3) and a fixed32 (field 4) written by hand.
        let bytes = w.bytes + [0x19, 1, 0, 0, 0, 0, 0, 0, 0, 0x25, 2, 0, 0, 0]
        let fields = try ProtobufReader.fields(bytes)
        #expect(fields.map(\.number) == [1, 2, 15, 3, 4])
        #expect(try fields[0].varint() == 300)
        #expect(try fields[1].string() == "hé")
        #expect(fields[3].value == .fixed64(1))
        #expect(fields[4].value == .fixed32(2))
    }

    @Test func malformedMessagesAreTypedErrors() {
        #expect(throws: WireError.truncated("protobuf field key")) { try ProtobufReader.fields([0x80]) }
        #expect(throws: WireError.truncated("protobuf field 1")) { try ProtobufReader.fields([0x0a, 0x05, 0x00]) }
        #expect(throws: WireError.badProtobufWireType(field: 1, wireType: 3)) { try ProtobufReader.fields([0x0b]) }
        #expect(throws: WireError.badProtobufWireType(field: 0, wireType: 0)) { try ProtobufReader.fields([0x00, 0x00]) }
        #expect(throws: WireError.truncated("protobuf fixed64")) { try ProtobufReader.fields([0x09, 0x00]) }
        #expect(throws: WireError.truncated("protobuf fixed32")) { try ProtobufReader.fields([0x0d, 0x00]) }
        #expect(throws: WireError.badVarint) { try ProtobufReader.fields([0x08, 0x80, 0x00]) }
        #expect(throws: WireError.truncated("protobuf length")) { try ProtobufReader.fields([0x0a]) }
        #expect(throws: WireError.invalidUTF8("field 1")) { try ProtobufReader.fields([0x0a, 0x01, 0xff])[0].string() }
        // A huge declared length never allocates or traps.
        #expect(throws: WireError.truncated("protobuf field 1")) {
            try ProtobufReader.fields([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])
        }
    }
}

@Suite struct FramingTests {
    @Test func lengthPrefixedTakesWholeMessagesOnly() throws {
        var buffer = LengthPrefixed.encode([1, 2, 3]) + LengthPrefixed.encode(Array(repeating: 7, count: 300))
        #expect(try LengthPrefixed.take(from: &buffer, limit: 1000) == [1, 2, 3])
        var partial = Array(buffer.prefix(100))
        #expect(try LengthPrefixed.take(from: &partial, limit: 1000) == nil)
        #expect(partial.count == 100)
        #expect(try LengthPrefixed.take(from: &buffer, limit: 1000)?.count == 300)
        #expect(buffer.isEmpty)
        var tooBig = LengthPrefixed.encode(Array(repeating: 0, count: 20))
        #expect(throws: WireError.frameTooLarge(length: 20, limit: 10)) { try LengthPrefixed.take(from: &tooBig, limit: 10) }
        var padded: [UInt8] = [0x81, 0x00]
        #expect(throws: WireError.badVarint) { try LengthPrefixed.take(from: &padded, limit: 10) }
        var endless = [UInt8](repeating: 0xff, count: 12)
        #expect(throws: WireError.badVarint) { try LengthPrefixed.take(from: &endless, limit: 10) }
    }

    @Test func multistreamMessagesMatchTheWire() throws {
        // As py-libp2p and go-libp2p send them (probe-p2p.md).
        #expect(Multistream.encode("/multistream/1.0.0") == [0x13] + Array("/multistream/1.0.0\n".utf8))
        #expect(Multistream.encode("/noise") == [0x07] + Array("/noise\n".utf8))
        var buffer = Multistream.encode("/multistream/1.0.0") + Multistream.encode("/libp2p/simultaneous-connect") + Multistream.encode("/noise")
        #expect(try Multistream.take(from: &buffer) == "/multistream/1.0.0")
        #expect(try Multistream.take(from: &buffer) == "/libp2p/simultaneous-connect")
        #expect(try Multistream.take(from: &buffer) == "/noise")
        var noNewline: [UInt8] = [0x02, 0x61, 0x62]
        #expect(throws: WireError.multistream("message does not end in a newline")) { try Multistream.take(from: &noNewline) }
        var twoLines = LengthPrefixed.encode(Array("a\nb\n".utf8))
        #expect(throws: WireError.multistream("message holds more than one line")) { try Multistream.take(from: &twoLines) }
        var huge = LengthPrefixed.encode(Array(repeating: 0x61, count: 2000) + [0x0a])
        #expect(throws: WireError.frameTooLarge(length: 2001, limit: 1024)) { try Multistream.take(from: &huge) }
    }

    @Test func listenerAnswersNaToSimultaneousConnectThenAcceptsNoise() throws {
        var listener = MultistreamNegotiation(role: .listener(supported: ["/noise"]))
        #expect(listener.initialOutput() == Multistream.encode(Multistream.header))
        // go-libp2p 0.29 pipelines all three in one write.
        var buffer = Multistream.encode(Multistream.header) + Multistream.encode(Multistream.simultaneousConnect) + Multistream.encode("/noise") + [0xAA]
        let reply = try listener.receive(from: &buffer)
        #expect(reply == Multistream.encode("na") + Multistream.encode("/noise"))
        #expect(listener.selected == "/noise")
        #expect(buffer == [0xAA])
    }

    @Test func dialerMovesToItsNextProposalOnNa() throws {
        var dialer = MultistreamNegotiation(role: .dialer(proposals: ["/a", "/b"]))
        #expect(dialer.initialOutput() == Multistream.encode(Multistream.header) + Multistream.encode("/a"))
        var buffer = Multistream.encode(Multistream.header) + Multistream.encode("na")
        #expect(try dialer.receive(from: &buffer) == Multistream.encode("/b"))
        buffer = Multistream.encode("/b")
        #expect(try dialer.receive(from: &buffer) == [])
        #expect(dialer.selected == "/b")
        var refused = MultistreamNegotiation(role: .dialer(proposals: ["/a"]))
        var na = Multistream.encode(Multistream.header) + Multistream.encode("na")
        #expect(throws: MultistreamNegotiation.Failure.noProtocolAgreed(proposed: ["/a"])) { try refused.receive(from: &na) }
        var wrong = MultistreamNegotiation(role: .dialer(proposals: ["/a"]))
        var garbage = Multistream.encode("/other/1.0.0")
        #expect(throws: MultistreamNegotiation.Failure.missingHeader(got: "/other/1.0.0")) { try wrong.receive(from: &garbage) }
    }

    @Test func listenerGivesUpOnEndlessProposals() {
        var listener = MultistreamNegotiation(role: .listener(supported: ["/x"]))
        var buffer = Multistream.encode(Multistream.header)
        for i in 0..<40 { buffer += Multistream.encode("/p\(i)") }
        #expect(throws: MultistreamNegotiation.Failure.tooManyProposals) { try listener.receive(from: &buffer) }
    }

    @Test func yamuxHeaderRoundTripsAndRefusesBadHeaders() throws {
        let header = YamuxFrameHeader(kind: .windowUpdate, flags: [.syn], streamID: 3, length: 0)
        #expect(header.bytes == [0, 1, 0, 1, 0, 0, 0, 3, 0, 0, 0, 0])
        #expect(try YamuxFrameHeader(decoding: header.bytes) == header)
        let data = YamuxFrameHeader(kind: .data, flags: [.fin, .rst], streamID: 0xdeadbeef, length: 65536)
        #expect(try YamuxFrameHeader(decoding: data.bytes) == data)
        #expect(throws: WireError.truncated("yamux header")) { try YamuxFrameHeader(decoding: [0, 0, 0]) }
        #expect(throws: WireError.yamux("unsupported version 1")) { try YamuxFrameHeader(decoding: [1] + [UInt8](repeating: 0, count: 11)) }
        #expect(throws: WireError.yamux("unknown frame type 4")) { try YamuxFrameHeader(decoding: [0, 4] + [UInt8](repeating: 0, count: 10)) }
        #expect(throws: WireError.yamux("ping frame on stream 1, must be 0")) {
            try YamuxFrameHeader(decoding: YamuxFrameHeader(kind: .ping, streamID: 1, length: 0).bytes)
        }
    }

    @Test func noiseFramingAndPayloadRoundTrip() throws {
        #expect(NoiseFraming.frame([1, 2, 3]) == [0, 3, 1, 2, 3])
        #expect(NoiseFraming.take(from: [0, 3, 1, 2], at: 0) == nil)
        #expect(NoiseFraming.take(from: [9, 0, 3, 1, 2, 3], at: 1).map { Array($0.message) } == [1, 2, 3])
        let payload = NoiseHandshakePayload(identityKey: [8, 1, 0x12, 0x20] + [UInt8](repeating: 1, count: 32),
                                            identitySignature: [UInt8](repeating: 2, count: 64),
                                            streamMuxers: ["/yamux/1.0.0", "/mplex/6.7.0"])
        #expect(try NoiseHandshakePayload(decoding: payload.bytes) == payload)
        // Without extensions: py-libp2p's 104-byte Ed25519 payload shape.
        let plain = NoiseHandshakePayload(identityKey: payload.identityKey, identitySignature: payload.identitySignature)
        #expect(plain.bytes.count == 104)
        #expect(throws: WireError.missingField("identity_key")) { try NoiseHandshakePayload(decoding: []) }
        #expect(throws: WireError.missingField("identity_sig")) { try NoiseHandshakePayload(decoding: [0x0a, 0x00]) }
        // Unknown fields (py's early_data = 3) are skipped.
        #expect(try NoiseHandshakePayload(decoding: plain.bytes + [0x1a, 0x01, 0x00]) == plain)
    }

    @Test func identifyRoundTripsAndSkipsUnknownFields() throws {
        let message = IdentifyMessage(protocolVersion: "ipfs/0.1.0", agentVersion: "py-libp2p/0.8.1", publicKey: [8, 1],
                                      listenAddrs: [try Multiaddr(parsing: "/ip4/127.0.0.1/tcp/1").bytes],
                                      observedAddr: [4, 1, 2, 3, 4], protocols: ["/ipfs/ping/1.0.0", "/ipfs/id/1.0.0"],
                                      signedPeerRecord: [1, 2])
        #expect(try IdentifyMessage(decoding: message.bytes) == message)
        #expect(try IdentifyMessage(decoding: message.bytes + [0x98, 0x06, 0x01]) == message)
        #expect(message.parsedListenAddrs.map(\.description) == ["/ip4/127.0.0.1/tcp/1"])
        #expect(throws: WireError.invalidUTF8("field 3")) { try IdentifyMessage(decoding: [0x1a, 0x01, 0xff]) }
        #expect(throws: WireError.unexpectedWireType(field: 5)) { try IdentifyMessage(decoding: [0x28, 0x01]) }
    }

    @Test func randomBytesNeverTrapAnyDecoder() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            var bytes = (0..<Int.random(in: 0...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? ProtobufReader.fields(bytes)
            _ = try? IdentifyMessage(decoding: bytes)
            _ = try? NoiseHandshakePayload(decoding: bytes)
            _ = try? Libp2pPublicKey.ed25519(from: bytes)
            _ = try? YamuxFrameHeader(decoding: bytes)
            var copy = bytes
            _ = try? Multistream.take(from: &copy)
            var negotiation = MultistreamNegotiation(role: .listener(supported: ["/noise"]))
            _ = try? negotiation.receive(from: &bytes)
        }
    }
}
