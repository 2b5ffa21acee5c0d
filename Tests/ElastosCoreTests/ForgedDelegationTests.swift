@testable import ElastosCore
import Testing

/// A holder who signs a widening link by hand, bypassing `TokenIssuer`'s checks, is still
/// refused at every use: check 3 re-checks the narrowing rules on the whole chain.
@Suite struct ForgedDelegationTests {
    let h = Harness()
    let alice = SigningKey()

    func root() throws -> CapabilityToken {
        try h.token(try h.grant("localhost://storage/apps/notes/*", actions: [.read, .write],
                                holder: alice.publicKey.did.description, expiry: h.clock.value + 3600,
                                notBefore: h.clock.value - 10, maxUses: 10, classification: .internal, depth: 2))
    }

    /// The body of a faithful narrowing child, to be widened in one field.
    func childBody(of parent: CapabilityToken) throws -> TokenLink.Body {
        let p = parent.leaf
        return TokenLink.Body(
            id: .random(), issuer: alice.publicKey, holder: "capsule-1", resource: try ResourcePattern("localhost://storage/apps/notes/a/*"),
            actions: ActionSet([.read]), epoch: p.epoch, maxClassification: .public, delegationDepth: 1,
            issuedAt: h.clock.value, notBefore: p.notBefore, expiry: p.expiry, maxUses: p.maxUses, parent: p.digest)
    }

    func forge(_ edit: (inout TokenLink.Body) throws -> Void, signer: SigningKey? = nil) throws -> CapabilityToken {
        let parent = try root()
        var body = try childBody(of: parent)
        try edit(&body)
        let link = body.signed(by: signer ?? alice)
        return CapabilityToken(links: parent.links + [link])
    }

    @Test func faithfulHandBuiltChildIsAccepted() throws {
        let t = try forge { _ in }
        #expect((try? h.verifier.authorize(t.encoded, for: try h.request("localhost://storage/apps/notes/a/b")).get()) != nil)
    }

    @Test(arguments: [
        "resource", "actions", "expiry", "noExpiry", "notBefore", "uses", "noUses", "classification",
        "depth", "epoch", "issuedBefore", "parent", "signer",
    ])
    func everyWideningIsCaughtAtUse(field: String) throws {
        let expected: DelegationViolation
        let t = try forge({ b in
            switch field {
            case "resource": b.resource = try ResourcePattern("localhost://storage/*")
            case "actions": b.actions = ActionSet([.read, .delete])
            case "expiry": b.expiry = b.expiry.map { $0 + 1 }
            case "noExpiry": b.expiry = nil
            case "notBefore": b.notBefore = b.notBefore.map { $0 - 1 }
            case "uses": b.maxUses = 11
            case "noUses": b.maxUses = nil
            case "classification": b.maxClassification = .confidential
            case "depth": b.delegationDepth = 2
            case "issuedBefore": b.issuedAt = 0
            case "parent": b.parent = [UInt8](repeating: 0, count: 32)
            default: break  // "epoch" and "signer" are built below
            }
        }, signer: nil)
        expected = switch field {
        case "resource": .resourceWidened
        case "actions": .actionsWidened
        case "expiry", "noExpiry": .expiryExtended
        case "notBefore": .notBeforeEarlier
        case "uses", "noUses": .usesIncreased
        case "classification": .classificationRaised
        case "depth": .depthNotDecreasing
        case "epoch": .epochLowered
        case "issuedBefore": .issuedBeforeParent
        case "parent": .wrongParent
        default: .signerIsNotParentHolder
        }
        // The "signer" case needs the link re-signed by the stranger it names.
        let token: CapabilityToken
        if field == "signer" {
            let signer = SigningKey()
            let parent = try root()
            var b = try childBody(of: parent)
            b.issuer = signer.publicKey
            token = CapabilityToken(links: parent.links + [b.signed(by: signer)])
        } else if field == "epoch" {
            // Put the parent in epoch 1 so the child's 0 is lower.
            _ = try h.ledger.advanceEpoch()
            let parent = try root()
            var b = try childBody(of: parent)
            b.epoch = 0
            token = CapabilityToken(links: parent.links + [b.signed(by: alice)])
        } else {
            token = t
        }
        let r = h.verifier.authorize(token.encoded, for: try h.request("localhost://storage/apps/notes/a/b"))
        #expect(r == .failure(.invalidDelegation(link: 1, expected)), "\(field)")
        #expect(h.audit.last?.event == "capability.denied.issuer")
    }
}
