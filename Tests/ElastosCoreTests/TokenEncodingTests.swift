import ElastosCore
import Testing

@Suite struct TokenEncodingTests {
    let h = Harness()

    func sample() throws -> CapabilityToken {
        try h.token(try h.grant("localhost://storage/apps/notes/*", expiry: h.clock.value + 60, notBefore: h.clock.value - 5, maxUses: 3, depth: 2))
    }

    @Test func textAndBinaryFormsRoundTrip() throws {
        let t = try sample()
        #expect(try CapabilityToken(encoded: t.encoded) == t)
        #expect(try CapabilityToken(text: t.text) == t)
        #expect(try CapabilityToken(text: "  \(t.text)\n") == t)
        #expect(t.text.hasPrefix("ecap1_"))
        let l = try CapabilityToken(encoded: t.encoded).leaf
        #expect(l.holder == "capsule-1" && l.maxUses == 3 && l.delegationDepth == 2 && l.notBefore == h.clock.value - 5)
    }

    @Test func truncatedTokensAreRejectedAtEveryLength() throws {
        let t = try sample().encoded
        for n in 0..<t.count {
            #expect(throws: TokenDecodingError.self) { try CapabilityToken(encoded: Array(t.prefix(n))) }
        }
    }

    @Test func trailingBytesAreRejected() throws {
        let t = try sample().encoded
        #expect(throws: TokenDecodingError.trailingBytes(1)) { try CapabilityToken(encoded: t + [0]) }
        #expect(throws: TokenDecodingError.trailingBytes(64)) { try CapabilityToken(encoded: t + [UInt8](repeating: 1, count: 64)) }
    }

    @Test func unknownVersionAndOversizeAreRejected() throws {
        var t = try sample().encoded
        t[0] = 0
        #expect(throws: TokenDecodingError.unsupportedVersion(0)) { try CapabilityToken(encoded: t) }
        #expect(throws: TokenDecodingError.tooLarge(16385)) { try CapabilityToken(encoded: [1] + [UInt8](repeating: 0, count: 16384)) }
        #expect(throws: TokenDecodingError.notTokenText) { try CapabilityToken(text: "ecap2_abc") }
        #expect(throws: TokenDecodingError.invalidTextEncoding) { try CapabilityToken(text: "ecap1_0OIl") }
    }

    /// Every single-bit flip of a valid token is either rejected by decoding or fails a check:
    /// never a crash, never accepted.
    @Test func everySingleBitFlipIsRejected() throws {
        let t = try sample()
        let v = h.verifier
        let req = try h.request()
        #expect((try? v.dryRun(t, for: req).get()) != nil)
        for i in 0..<t.encoded.count {
            for bit in 0..<8 {
                var b = t.encoded
                b[i] ^= 1 << UInt8(bit)
                if case .success = v.authorize(b, for: req) {
                    Issue.record("bit \(bit) of byte \(i) flipped and the token was still accepted")
                }
            }
        }
    }

    @Test func differentTokensNeverShareSignedBytes() throws {
        // Moving a byte between the length-prefixed holder and resource changes the encoding.
        let a = try h.issuer.issue(Grant(holder: "ab", resource: try ResourcePattern("x://c/d"), actions: ActionSet([.read])), epoch: 0, now: 1, id: TokenID(hex: String(repeating: "1", count: 32))!)
        let b = try h.issuer.issue(Grant(holder: "a", resource: try ResourcePattern("x://bc/d"), actions: ActionSet([.read])), epoch: 0, now: 1, id: TokenID(hex: String(repeating: "1", count: 32))!)
        #expect(a.encoded != b.encoded)
        // An absent option and a present zero-ish one differ.
        let c = try h.issuer.issue(Grant(holder: "a", resource: try ResourcePattern("x://c"), actions: ActionSet([.read])), epoch: 0, now: 1, id: TokenID(hex: String(repeating: "1", count: 32))!)
        let d = try h.issuer.issue(Grant(holder: "a", resource: try ResourcePattern("x://c"), actions: ActionSet([.read]), notBefore: 0), epoch: 0, now: 1, id: TokenID(hex: String(repeating: "1", count: 32))!)
        #expect(c.encoded.dropLast(64) != d.encoded.dropLast(64))
    }

    @Test func nonCanonicalResourceInATokenIsRejected() throws {
        // Hand-build a token whose resource is valid but not canonical ("A://…").
        let t = try h.issuer.issue(Grant(holder: "a", resource: try ResourcePattern("a://x"), actions: ActionSet([.read])), epoch: 0, now: 1)
        var b = t.encoded
        // resource bytes follow: version, count, id(16), issuer(32), holder len(2) + "a"(1), res len(2)
        let at = 2 + 16 + 32 + 2 + 1 + 2
        #expect(b[at] == UInt8(ascii: "a"))
        b[at] = UInt8(ascii: "A")
        #expect(throws: TokenDecodingError.nonCanonicalResource) { try CapabilityToken(encoded: b) }
    }

    @Test func randomBytesNeverCrashTheDecoder() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let n = Int.random(in: 0..<400, using: &rng)
            var b = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if !b.isEmpty, Bool.random() { b[0] = 1 }
            if b.count > 1, Bool.random() { b[1] = UInt8.random(in: 1...3) }
            _ = try? CapabilityToken(encoded: b)
            _ = try? CapabilityToken(text: "ecap1_" + Base58.encode(b))
        }
    }

    @Test func issuanceRejectsBadGrants() throws {
        let p = try ResourcePattern("a://x")
        #expect(throws: IssuanceError.invalidHolder) { try h.issuer.issue(Grant(holder: "has space", resource: p, actions: ActionSet([.read])), epoch: 0, now: 1) }
        #expect(throws: IssuanceError.invalidHolder) { try h.issuer.issue(Grant(holder: "", resource: p, actions: ActionSet([.read])), epoch: 0, now: 1) }
        #expect(throws: IssuanceError.emptyActions) { try h.issuer.issue(Grant(holder: "a", resource: p, actions: ActionSet([])), epoch: 0, now: 1) }
        #expect(throws: IssuanceError.zeroMaxUses) { try h.issuer.issue(Grant(holder: "a", resource: p, actions: ActionSet([.read]), maxUses: 0), epoch: 0, now: 1) }
        #expect(throws: IssuanceError.expiryNotAfterIssue) { try h.issuer.issue(Grant(holder: "a", resource: p, actions: ActionSet([.read]), expiry: 1), epoch: 0, now: 1) }
        #expect(throws: IssuanceError.depthTooLarge(8)) { try h.issuer.issue(Grant(holder: "a", resource: p, actions: ActionSet([.read]), delegationDepth: 8), epoch: 0, now: 1) }
    }
}
