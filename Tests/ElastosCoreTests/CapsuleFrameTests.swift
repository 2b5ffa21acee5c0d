import ElastosCore
import Testing

@Suite struct CapsuleFrameTests {
    static let samples: [CapsuleFrame] = [
        .request(id: 1, .call(uri: "localhost://storage/apps/hello/a", action: .write, token: [1, 2, 3], body: Array("hi".utf8))),
        .request(id: 2, .requestCapability(uri: "elastos://peer/*", actions: ActionSet([.message, .read]), reason: "chat with peers")),
        .request(id: 3, .ping),
        .request(id: 4, .info),
        .request(id: 5, .subscribe(uri: "elastos://peer/topic/general", token: [9])),
        .request(id: 6, .unsubscribe(subscription: 77)),
        .request(id: 9, .served(body: Array("{\"kind\":\"file\"}".utf8))),
        .request(id: 10, .serveFailed(code: .integrityFailed, message: "the object failed authentication")),
        .runtime(id: 1, .reply(body: [])),
        .runtime(id: 2, .error(code: .denied, message: "token expired at 5 — check 10 (expiry)")),
        .runtime(id: 0, .event(subscription: 77, uri: "elastos://peer/topic/general", body: [0, 255])),
        .runtime(id: 9, .serve(caller: "session:0123456789abcdef0123456789abcdef", uri: "localhost://storage/apps/notes/a",
                               action: .write, body: Array("put\nhello".utf8))),
    ]

    @Test func everyKindRoundTrips() throws {
        for f in Self.samples {
            #expect(try CapsuleFrame.decode(f.encoded()) == f)
        }
    }

    @Test func truncationAtEveryLengthIsATypedError() {
        for f in Self.samples {
            let b = f.encoded()
            for n in 0..<b.count {
                #expect(throws: FrameError.self) { try CapsuleFrame.decode(Array(b.prefix(n))) }
            }
        }
    }

    @Test func everySingleBitFlipDecodesOrFailsWithoutCrashing() {
        for f in Self.samples {
            let b = f.encoded()
            for i in 0..<b.count {
                for bit in 0..<8 {
                    var m = b
                    m[i] ^= 1 << UInt8(bit)
                    if let g = try? CapsuleFrame.decode(m) { #expect(g.encoded() == m) }  // one encoding per frame
                }
            }
        }
    }

    @Test func lengthsWithTheTopBitSetAreRefusedNotTrappedOn() {
        // A length prefix ≥ 2³¹ (negative as a 32-bit Int) and a blob length of 2³² − 1.
        var frame = CapsuleFrame.request(id: 7, .call(uri: "x://a", action: .read, token: [], body: [1, 2, 3])).encoded()
        var huge = frame
        huge[0] = 0xff; huge[1] = 0xff; huge[2] = 0xff; huge[3] = 0xf0
        #expect(throws: FrameError.tooLarge(length: 0xffff_fff0, limit: CapsuleFrame.defaultMaxLength)) { try CapsuleFrame.decode(huge) }
        var stream = FrameStreamDecoder(maxLength: CapsuleFrame.defaultMaxLength)
        stream.append(huge[...])
        #expect(throws: FrameError.tooLarge(length: 0xffff_fff0, limit: CapsuleFrame.defaultMaxLength)) { try stream.next() }
        // The body blob's u32 length is the last 7 bytes before the body: set it to 2³² − 1.
        let blobLength = frame.count - 3 - 4
        for i in 0..<4 { frame[blobLength + i] = 0xff }
        #expect(throws: FrameError.truncated) { try CapsuleFrame.decode(frame) }
    }

    @Test func limitsAreEnforced() {
        let big = CapsuleFrame.request(id: 1, .call(uri: "x://a", action: .read, token: [], body: [UInt8](repeating: 0, count: 2000)))
        #expect(throws: FrameError.tooLarge(length: big.encoded().count - 4, limit: 1000)) { try CapsuleFrame.decode(big.encoded(), maxLength: 1000) }
        #expect(throws: FrameError.trailingBytes(1)) { try CapsuleFrame.decode(CapsuleFrame.request(id: 1, .ping).encoded() + [0]) }
        var v2 = CapsuleFrame.request(id: 1, .ping).encoded()
        v2[4] = 2
        #expect(throws: FrameError.unsupportedVersion(2)) { try CapsuleFrame.decode(v2) }
        var kind = CapsuleFrame.request(id: 1, .ping).encoded()
        kind[5] = 0x40
        #expect(throws: FrameError.unknownKind(0x40)) { try CapsuleFrame.decode(kind) }
        // A blob length that points past the frame is truncation, not a huge allocation.
        let lying: [UInt8] = [0, 0, 0, 10, 1, 0x81, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF]
        #expect(throws: FrameError.self) { try CapsuleFrame.decode(lying) }
        // Invalid UTF-8 in a string field.
        let badUTF8: [UInt8] = [0, 0, 0, 17, 1, 0x02, 0, 0, 0, 1, 0, 2, 0xC3, 0x28, 1, 0, 1, 0x41, 0]
        #expect(throws: FrameError.self) { try CapsuleFrame.decode(Array(badUTF8.prefix(21))) }
    }

    @Test func longMessagesAreCutOnACharacterBoundary() throws {
        let f = CapsuleFrame.runtime(id: 1, .error(code: .denied, message: String(repeating: "é", count: 3000)))
        guard case .runtime(_, .error(_, let m)) = try CapsuleFrame.decode(f.encoded()) else { Issue.record("bad frame"); return }
        #expect(m.utf8.count <= 4096 && m.allSatisfy { $0 == "é" })
    }

    @Test func aMessageOfExactlyTheLimitIsKeptWhole() throws {
        // 4094 ASCII bytes + one two-byte character = exactly 4096 bytes: nothing is cut.
        let text = String(repeating: "a", count: 4094) + "é"
        let f = CapsuleFrame.runtime(id: 1, .error(code: .denied, message: text))
        guard case .runtime(_, .error(_, let m)) = try CapsuleFrame.decode(f.encoded()) else { Issue.record("bad frame"); return }
        #expect(m == text)
        let over = text + "b"
        guard case .runtime(_, .error(_, let cut)) = try CapsuleFrame.decode(CapsuleFrame.runtime(id: 2, .error(code: .denied, message: over)).encoded()) else { Issue.record("bad frame"); return }
        #expect(cut == text)
    }

    @Test func streamDecoderReassemblesFramesFedByteByByte() throws {
        var d = FrameStreamDecoder()
        var got: [CapsuleFrame] = []
        for f in Self.samples {
            for byte in f.encoded() {
                d.append([byte])
                while let item = try d.next() {
                    if case .frame(let g) = item { got.append(g) }
                }
            }
        }
        #expect(got == Self.samples)
        #expect(d.pendingBytes == 0)
    }

    @Test func streamDecoderSkipsAMalformedFrameAndGoesOn() throws {
        var d = FrameStreamDecoder()
        var bad = CapsuleFrame.request(id: 42, .ping).encoded()
        bad[5] = 0x7F  // unknown kind
        d.append(bad + CapsuleFrame.request(id: 43, .ping).encoded())
        #expect(try d.next() == .malformed(id: 42, .unknownKind(0x7F)))
        #expect(try d.next() == .frame(.request(id: 43, .ping)))
        #expect(try d.next() == nil)
        // An over-limit length can't be skipped: the stream ends with an error.
        var e = FrameStreamDecoder(maxLength: 100)
        e.append([0, 0, 1, 0] + [UInt8](repeating: 0, count: 10))
        #expect(throws: FrameError.tooLarge(length: 256, limit: 100)) { try e.next() }
    }

    @Test func randomBytesNeverCrashEitherDecoder() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let n = Int.random(in: 0..<64, using: &rng)
            var b = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if b.count >= 5 { b[0] = 0; b[1] = 0; b[2] = 0; b[3] = UInt8(b.count - 4); b[4] = 1 }
            _ = try? CapsuleFrame.decode(b)
            var d = FrameStreamDecoder(maxLength: 4096)
            d.append(b)
            while let item = try? d.next() { _ = item }
        }
    }
}
