import ElastosCore
import Testing

@Suite struct DelegationTests {
    let h = Harness()
    let alice = SigningKey()
    let bob = SigningKey()

    /// runtime → alice (depth 2) → bob (depth 1) → capsule "reader" (depth 0).
    func threeLinkChain() throws -> CapabilityToken {
        let root = try h.token(try h.grant("localhost://storage/apps/notes/*", actions: [.read, .write, .delete],
                                           holder: alice.publicKey.did.description, expiry: h.clock.value + 3600,
                                           maxUses: 100, classification: .confidential, depth: 2))
        let toBob = try TokenIssuer(key: alice).delegate(root, try h.grant(
            "localhost://storage/apps/notes/shared/*", actions: [.read, .write], holder: bob.publicKey.did.description,
            expiry: h.clock.value + 1800, maxUses: 10, classification: .internal, depth: 1), now: h.clock.value)
        return try TokenIssuer(key: bob).delegate(toBob, try h.grant(
            "localhost://storage/apps/notes/shared/todo.txt", actions: [.read], holder: "reader",
            expiry: h.clock.value + 600, maxUses: 3, classification: .public, depth: 0), now: h.clock.value)
    }

    @Test func validThreeLinkChainIsAccepted() throws {
        let chain = try threeLinkChain()
        #expect(chain.links.count == 3)
        let decoded = try CapabilityToken(text: chain.text)
        #expect(decoded == chain)
        let use = try h.verifier.authorize(chain.encoded, for: try h.request("localhost://storage/apps/notes/shared/todo.txt", caller: "reader")).get()
        #expect(use.tokenID == chain.id)
        #expect(use.remainingUses == 2)
        // The use was counted against every limited ancestor too.
        #expect(h.ledger.uses(of: chain.links[0].id) == 1)
        #expect(h.ledger.uses(of: chain.links[1].id) == 1)
        // The leaf grants only what it says.
        #expect(h.verifier.authorize(chain.encoded, for: try h.request("localhost://storage/apps/notes/shared/todo.txt", action: .write, caller: "reader")) == .failure(.actionNotGranted(.write)))
    }

    @Test func revokingAnAncestorRevokesTheDelegation() throws {
        let chain = try threeLinkChain()
        try h.ledger.revoke(chain.links[1].id, expiry: nil)
        #expect(h.verifier.authorize(chain.encoded, for: try h.request("localhost://storage/apps/notes/shared/todo.txt", caller: "reader")) == .failure(.revoked(chain.links[1].id)))
    }

    @Test func expiredAncestorExpiresTheDelegation() throws {
        // A link that tried to outlive its parent can't be made; and the chain dies with the parent.
        let chain = try threeLinkChain()
        h.clock.advance(601)
        #expect(h.verifier.authorize(chain.encoded, for: try h.request("localhost://storage/apps/notes/shared/todo.txt", caller: "reader")) == .failure(.expired(at: h.clock.value - 1)))
    }

    /// Every way of widening is refused at issuance.
    @Test(arguments: [
        ("resource", "localhost://storage/apps/*", [Action.read], UInt64(600), UInt32?(5), Classification.public, UInt8(0)),
        ("actions", "localhost://storage/apps/notes/a", [Action.read, .admin], 600, 5, .public, 0),
        ("expiry", "localhost://storage/apps/notes/a", [Action.read], 7200, 5, .public, 0),
        ("uses", "localhost://storage/apps/notes/a", [Action.read], 600, 500, .public, 0),
        ("classification", "localhost://storage/apps/notes/a", [Action.read], 600, 5, .secret, 0),
        ("depth", "localhost://storage/apps/notes/a", [Action.read], 600, 5, .public, 2),
    ])
    func delegationThatWidensIsRejected(field: String, resource: String, actions: [Action], expiresIn: UInt64,
                                         uses: UInt32?, classification: Classification, depth: UInt8) throws {
        let root = try h.token(try h.grant("localhost://storage/apps/notes/*", actions: [.read, .write],
                                           holder: alice.publicKey.did.description, expiry: h.clock.value + 3600,
                                           maxUses: 100, classification: .confidential, depth: 2))
        let g = try h.grant(resource, actions: actions, holder: "x", expiry: h.clock.value + expiresIn, maxUses: uses,
                            classification: classification, depth: depth)
        #expect(throws: IssuanceError.self, "\(field)") { try TokenIssuer(key: alice).delegate(root, g, now: h.clock.value) }
    }

    @Test func droppingALimitTheParentHasIsWidening() throws {
        let root = try h.token(try h.grant(holder: alice.publicKey.did.description, expiry: h.clock.value + 3600, maxUses: 10, depth: 1))
        // A delegation that asks for "no expiry" inherits the parent's; forging one without it
        // is caught at verification (see widenedLinkForgedPastTheIssuerFailsVerification).
        let child = try TokenIssuer(key: alice).delegate(root, try h.grant(holder: "x"), now: h.clock.value)
        #expect(child.leaf.expiry == root.leaf.expiry)
        #expect(child.leaf.maxUses == 10)
    }

    @Test func nonDelegatableTokenCannotBeDelegated() throws {
        let root = try h.token(try h.grant(holder: alice.publicKey.did.description, depth: 0))
        #expect(throws: IssuanceError.delegation(.parentNotDelegatable)) {
            try TokenIssuer(key: alice).delegate(root, try h.grant(holder: "x"), now: h.clock.value)
        }
    }

    @Test func onlyTheParentHolderOrTheRuntimeMaySignADelegation() throws {
        let root = try h.token(try h.grant(holder: alice.publicKey.did.description, depth: 1))
        #expect(throws: IssuanceError.delegation(.signerIsNotParentHolder)) {
            try TokenIssuer(key: bob).delegate(root, try h.grant(holder: "x"), now: h.clock.value)
        }
        // The runtime itself may delegate on a holder's behalf (capsule instances hold no keys).
        let viaRuntime = try h.issuer.delegate(root, try h.grant(holder: "capsule-1"), now: h.clock.value)
        #expect((try? h.verifier.authorize(viaRuntime.encoded, for: try h.request()).get()) != nil)
    }

    /// A malicious holder who hand-builds a widening link (bypassing TokenIssuer's checks)
    /// still fails check 3 at every use.
    @Test func widenedLinkForgedPastTheIssuerFailsVerification() throws {
        let root = try h.token(try h.grant("localhost://storage/apps/notes/*", holder: alice.publicKey.did.description, depth: 1))
        // Delegate from a *wider* sibling root that alice also holds, then splice its link onto
        // the narrow root: the parent digest no longer matches.
        let wide = try h.token(try h.grant("localhost://storage/*", holder: alice.publicKey.did.description, depth: 1))
        let wideChild = try TokenIssuer(key: alice).delegate(wide, try h.grant("localhost://storage/apps/mail/*", holder: "capsule-1"), now: h.clock.value)
        var spliced = [CapabilityToken.version, 2]
        spliced += Array(root.encoded.dropFirst(2))
        spliced += Array(wideChild.encoded.dropFirst(2 + wide.encoded.count - 2))
        let r = h.verifier.authorize(spliced, for: try h.request("localhost://storage/apps/mail/inbox"))
        #expect(r == .failure(.invalidDelegation(link: 1, .wrongParent)))
    }
}
