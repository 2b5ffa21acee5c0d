import ElastosCore
import Testing

/// A runtime with a known key, an in-memory ledger, a manual clock and a recording audit sink.
struct Harness {
    let runtime = SigningKey()
    let ledger = InMemoryLedger()
    let audit = RecordingAuditSink()
    let clock = ManualClock()
    var verifier: CapabilityVerifier {
        CapabilityVerifier(runtimeKey: runtime.publicKey, ledger: ledger, audit: audit, maxClockSkew: 60, clock: clock.function)
    }
    var issuer: TokenIssuer { TokenIssuer(key: runtime) }

    func grant(_ resource: String = "localhost://storage/apps/notes/*", actions: [Action] = [.read, .write],
               holder: String = "capsule-1", expiry: UInt64? = nil, notBefore: UInt64? = nil, maxUses: UInt32? = nil,
               classification: Classification = .internal, depth: UInt8 = 0) throws -> Grant {
        Grant(holder: holder, resource: try ResourcePattern(resource), actions: ActionSet(actions), expiry: expiry,
              notBefore: notBefore, maxUses: maxUses, maxClassification: classification, delegationDepth: depth)
    }

    func token(_ g: Grant, epoch: UInt64? = nil, issuedAt: UInt64? = nil) throws -> CapabilityToken {
        try issuer.issue(g, epoch: epoch ?? ledger.epoch, now: issuedAt ?? clock.value)
    }

    func request(_ uri: String = "localhost://storage/apps/notes/today.txt", action: Action = .read,
                 caller: String = "capsule-1", classification: Classification = .public) throws -> CapabilityRequest {
        CapabilityRequest(caller: caller, action: action, resource: try ResourceURI(uri), classification: classification)
    }
}

@Suite struct CapabilityCheckTests {
    @Test func validTokenIsAllowedAndAudited() throws {
        let h = Harness()
        let t = try h.token(try h.grant())
        let result = h.verifier.authorize(t.encoded, for: try h.request())
        #expect(try result.get().tokenID == t.id)
        #expect(h.audit.last?.event == "capability.allowed")
        #expect(h.audit.last?.decision == .allow)
        #expect(h.audit.last?.token == t.id.description)
    }

    /// Runs one denial and checks the error, its check number, and that exactly one audit event
    /// with that check's own name was recorded.
    func expectDenied(_ h: Harness, _ bytes: [UInt8], _ req: CapabilityRequest, check: CapabilityCheck,
                      sourceLocation: SourceLocation = #_sourceLocation) -> CapabilityError? {
        let before = h.audit.all.count
        let result = h.verifier.authorize(bytes, for: req)
        guard case .failure(let e) = result else {
            Issue.record("expected denial by \(check)", sourceLocation: sourceLocation)
            return nil
        }
        #expect(e.check == check, "got \(e)", sourceLocation: sourceLocation)
        let events = h.audit.all.dropFirst(before)
        #expect(events.count == 1, sourceLocation: sourceLocation)
        #expect(events.first?.event == check.auditEvent, sourceLocation: sourceLocation)
        #expect(events.first?.decision == .deny, sourceLocation: sourceLocation)
        return e
    }

    @Test func check1UnknownVersionIsDenied() throws {
        let h = Harness()
        var bytes = try h.token(try h.grant()).encoded
        bytes[0] = 2
        #expect(expectDenied(h, bytes, try h.request(), check: .version) == .unsupportedVersion(2))
    }

    @Test func check2BadSignatureIsDenied() throws {
        let h = Harness()
        var bytes = try h.token(try h.grant()).encoded
        bytes[bytes.count - 1] ^= 0x01  // flip a bit of the signature
        #expect(expectDenied(h, bytes, try h.request(), check: .signature) == .invalidSignature(link: 0))
    }

    @Test func check3TokenFromAnotherIssuerIsDenied() throws {
        let h = Harness()
        let stranger = TokenIssuer(key: SigningKey())
        let t = try stranger.issue(try h.grant(), epoch: 0, now: h.clock.value)
        #expect(expectDenied(h, t.encoded, try h.request(), check: .issuer) == .untrustedIssuer)
    }

    @Test func check4OtherCallerIsDenied() throws {
        let h = Harness()
        let t = try h.token(try h.grant())
        let e = expectDenied(h, t.encoded, try h.request(caller: "capsule-2"), check: .holder)
        #expect(e == .wrongHolder)
        // The message does not tell the caller whom the token is for.
        #expect(!(e?.description.contains("capsule-1") ?? true))
    }

    @Test func check5UngrantedActionIsDenied() throws {
        let h = Harness()
        let t = try h.token(try h.grant(actions: [.read]))
        #expect(expectDenied(h, t.encoded, try h.request(action: .write), check: .action) == .actionNotGranted(.write))
        // admin implies nothing else.
        let admin = try h.token(try h.grant(actions: [.admin]))
        #expect(expectDenied(h, admin.encoded, try h.request(action: .delete), check: .action) == .actionNotGranted(.delete))
    }

    @Test func check6ResourceOutsideThePatternIsDenied() throws {
        let h = Harness()
        let t = try h.token(try h.grant("localhost://storage/apps/notes/*"))
        for outside in [
            "localhost://storage/apps/notes",  // the prefix itself is not below it
            "localhost://storage/apps/notesevil/x",  // no prefix trick on segment boundaries
            "localhost://storage/apps/notes/../mail/inbox",  // normalised before matching
            "localhost://storage/apps/notes/%2E%2E/mail",  // percent-encoded dots are dots
            "localhost://storage/apps/other",
            "elastos://storage/apps/notes/x",
            "localhost://Storage/apps/notes/x",  // authority is case-sensitive
        ] {
            #expect(expectDenied(h, t.encoded, try h.request(outside), check: .resource) == .resourceNotGranted, "\(outside)")
        }
        // Equivalent spellings inside the pattern are allowed.
        for inside in ["localhost://storage/apps/notes/a", "LOCALHOST://storage//apps/./notes/a/b/../c",
                       "localhost://storage/apps/notes/%61"] {
            #expect((try? h.verifier.authorize(t.encoded, for: try h.request(inside)).get()) != nil, "\(inside)")
        }
    }

    @Test func check7EpochAdvanceRevokesOlderTokens() throws {
        let h = Harness()
        let t = try h.token(try h.grant())
        _ = try h.ledger.advanceEpoch()
        #expect(expectDenied(h, t.encoded, try h.request(), check: .epoch) == .epochRevoked(tokenEpoch: 0, currentEpoch: 1))
        // A token issued in the new epoch works.
        #expect((try? h.verifier.authorize(try h.token(try h.grant()).encoded, for: try h.request()).get()) != nil)
    }

    @Test func check8RevokedTokenIsDenied() throws {
        let h = Harness()
        let t = try h.token(try h.grant())
        try h.ledger.revoke(t.id, expiry: nil)
        #expect(expectDenied(h, t.encoded, try h.request(), check: .revocation) == .revoked(t.id))
    }

    @Test func check9TokenIssuedInTheFutureIsDenied() throws {
        let h = Harness()
        let t = try h.token(try h.grant(), issuedAt: h.clock.value + 61)
        #expect(expectDenied(h, t.encoded, try h.request(), check: .issuedAt) == .issuedInFuture(issuedAt: h.clock.value + 61))
        // Within the allowed skew it is fine.
        let ok = try h.token(try h.grant(), issuedAt: h.clock.value + 60)
        #expect((try? h.verifier.authorize(ok.encoded, for: try h.request()).get()) != nil)
    }

    @Test func check10ExpiredAndNotYetValidTokensAreDenied() throws {
        let h = Harness()
        let exp = h.clock.value + 100
        let t = try h.token(try h.grant(expiry: exp))
        #expect((try? h.verifier.authorize(t.encoded, for: try h.request()).get()) != nil)
        h.clock.advance(100)  // expires at the expiry instant
        #expect(expectDenied(h, t.encoded, try h.request(), check: .validity) == .expired(at: exp))

        let h2 = Harness()
        let nb = h2.clock.value + 30
        let later = try h2.token(try h2.grant(notBefore: nb))
        #expect(expectDenied(h2, later.encoded, try h2.request(), check: .validity) == .notYetValid(notBefore: nb))
    }

    @Test func check11UseLimitIsEnforcedAtomically() async throws {
        let h = Harness()
        let t = try h.token(try h.grant(maxUses: 5))
        let verifier = h.verifier
        let req = try h.request()
        let successes = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<40 { group.addTask { (try? verifier.authorize(t.encoded, for: req).get()) != nil } }
            var n = 0
            for await ok in group where ok { n += 1 }
            return n
        }
        #expect(successes == 5)
        #expect(h.ledger.uses(of: t.id) == 5)
        #expect(expectDenied(h, t.encoded, req, check: .useCount) == .useLimitReached(max: 5))
    }

    @Test func check12ClassificationAboveTheCeilingIsDeniedWithoutSpendingAUse() throws {
        let h = Harness()
        let t = try h.token(try h.grant(maxUses: 1, classification: .internal))
        #expect(expectDenied(h, t.encoded, try h.request(classification: .confidential), check: .classification)
            == .classificationExceeded(requested: .confidential, allowed: .internal))
        #expect(h.ledger.uses(of: t.id) == 0)
        #expect((try? h.verifier.authorize(t.encoded, for: try h.request(classification: .internal)).get()) != nil)
    }

    @Test func checksRunInOrderSoTheFirstFailureIsReported() throws {
        let h = Harness()
        // Wrong holder, wrong action, expired and revoked all at once: holder (4) is reported.
        let t = try h.token(try h.grant(actions: [.read], expiry: h.clock.value + 1))
        try h.ledger.revoke(t.id, expiry: nil)
        h.clock.advance(10)
        #expect(expectDenied(h, t.encoded, try h.request(action: .write, caller: "x"), check: .holder) == .wrongHolder)
        #expect(expectDenied(h, t.encoded, try h.request(action: .write), check: .action) != nil)
        #expect(expectDenied(h, t.encoded, try h.request(), check: .revocation) != nil)
    }

    @Test func signatureCacheSkipsOnlyTheSignatureCheck() throws {
        let h = Harness()
        let v = h.verifier
        let t = try h.token(try h.grant(expiry: h.clock.value + 10))
        #expect((try? v.authorize(t.encoded, for: try h.request()).get()) != nil)  // cached now
        try h.ledger.revoke(t.id, expiry: nil)
        #expect(v.authorize(t.encoded, for: try h.request()) == .failure(.revoked(t.id)))
        let u = try h.token(try h.grant(expiry: h.clock.value + 10))
        #expect((try? v.authorize(u.encoded, for: try h.request()).get()) != nil)
        h.clock.advance(10)
        #expect(v.authorize(u.encoded, for: try h.request()) == .failure(.expired(at: h.clock.value)))
        #expect(v.authorize(u.encoded, for: try h.request(caller: "other")) == .failure(.wrongHolder))
        // A different byte string (tampered) is never a cache hit.
        var bad = u.encoded
        bad[bad.count - 2] ^= 0x80
        #expect(v.authorize(bad, for: try h.request()) == .failure(.invalidSignature(link: 0)))
    }

    @Test func malformedBytesAreDeniedAndAudited() throws {
        let h = Harness()
        let before = h.audit.all.count
        #expect(h.verifier.authorize([], for: try h.request()) == .failure(.malformed(.empty)))
        #expect(h.audit.all.count == before + 1)
        #expect(h.audit.last?.event == "capability.denied.malformed")
    }
}

extension Result where Success == AuthorizedUse, Failure == CapabilityError {
    static func == (a: Self, b: Self) -> Bool {
        switch (a, b) {
        case (.success(let x), .success(let y)): x == y
        case (.failure(let x), .failure(let y)): x == y
        default: false
        }
    }
}
