import ElastosCapsule
import DIDWire
import ElastosCore
import ElastosNode
@testable import ElastosRuntime
import Foundation
import Testing

@Suite struct DIDProviderTests {
    let t: TempNode
    let router: ProviderRouter

    init() throws {
        t = try TempNode()
        router = try ProviderRouter([("elastos://did", DIDProvider(key: t.node.key))])
    }

    func session(_ name: String) -> Session {
        Session(capsule: name, version: "0.1.0", cid: "bafy-\(name)", publisher: t.node.did.description, trust: .node,
                substrate: "wasm", startedAt: Node.systemClock())
    }

    func call(_ s: Session, _ uri: String, _ action: Action, _ body: [UInt8] = [], grant: String? = nil, actions: [Action]? = nil) throws -> RuntimeMessage {
        let token = try t.node.issue(Grant(holder: s.principal, resource: try ResourcePattern(grant ?? uri), actions: ActionSet(actions ?? [action]),
                                           expiry: Node.systemClock() + 600)).encoded
        let h = SessionHandler(session: s, node: t.node, router: router, policy: DeclaredCapabilityPolicy(allowDeclared: false), declared: [])
        return h.handle(.call(uri: uri, action: action, token: token, body: body), id: 1)
    }

    func body(_ m: RuntimeMessage) -> [UInt8]? { if case .reply(let b) = m { b } else { nil } }

    @Test func theNodesDocumentAndAnyDIDKeyResolve() throws {
        let s = session("app")
        let own = try #require(body(try call(s, "elastos://did/self", .read)))
        #expect(String(decoding: own, as: UTF8.self) == t.node.did.document)
        let other = SigningKey().publicKey.did
        let resolved = try #require(body(try call(s, "elastos://did/resolve", .read, Array(other.description.utf8))))
        #expect(String(decoding: resolved, as: UTF8.self) == other.document)
        guard case .error(let code, let message) = try call(s, "elastos://did/resolve", .read, Array("did:web:example.com".utf8)) else {
            Issue.record("resolved a did:web"); return
        }
        #expect(code == .providerFailed && message.contains("cannot resolve"))
    }

    @Test func signaturesAreBoundToTheCapsuleAndVerify() throws {
        let alice = session("alice"), mallory = session("mallory")
        let message = Array("pay bob 5".utf8)
        let sig = try #require(body(try call(alice, "elastos://did/self/sign", .execute, message)))
        #expect(sig.count == 64)
        func verify(_ capsule: String, _ msg: [UInt8], _ signature: [UInt8]) throws -> String? {
            let req: [String: String] = ["did": t.node.did.description, "capsule": capsule,
                                         "message": Data(msg).base64EncodedString(), "signature": Data(signature).base64EncodedString()]
            let b = try JSONSerialization.data(withJSONObject: req)
            return body(try call(mallory, "elastos://did/verify", .read, Array(b))).map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(try verify("alice", message, sig) == "{\"valid\":true}")
        #expect(try verify("mallory", message, sig) == "{\"valid\":false}")
        #expect(try verify("alice", message + [0x21], sig) == "{\"valid\":false}")
        // Not a signature over the bare message, nor one a token check would accept.
        #expect(!t.node.key.publicKey.isValidSignature(sig, for: message, in: .capabilityToken))
        #expect(t.node.key.publicKey.isValidSignature(sig, for: DIDProvider.statement(capsule: "alice", message: message), in: DIDProvider.signingDomain))
    }

    @Test func theBinaryVerifyFormAgreesWithTheJSONOne() throws {
        let alice = session("alice"), bob = session("bob")
        let message = Array("hello #general".utf8)
        let sig = try #require(body(try call(alice, "elastos://did/self/sign", .execute, message)))
        func verify(_ did: String, _ capsule: String, _ msg: [UInt8], _ signature: [UInt8]) throws -> RuntimeMessage {
            try call(bob, "elastos://did/verify", .read, DIDVerifyRequest(did: did, capsule: capsule, message: msg, signature: signature).encoded())
        }
        let did = t.node.did.description
        #expect(body(try verify(did, "alice", message, sig)) == [1])
        #expect(body(try verify(did, "bob", message, sig)) == [0])
        #expect(body(try verify(did, "alice", message + [0], sig)) == [0])
        var flipped = sig
        flipped[10] ^= 1
        #expect(body(try verify(did, "alice", message, flipped)) == [0])
        #expect(body(try verify(SigningKey().publicKey.did.description, "alice", message, sig)) == [0])
        // Malformed bodies are typed errors, not crashes.
        guard case .error(let code, let text) = try call(bob, "elastos://did/verify", .read, [DIDWire.version, 0, 9, 65]) else {
            Issue.record("a truncated request was answered"); return
        }
        #expect(code == .invalidRequest)
        #expect(text.contains("did"))
        guard case .error(.invalidRequest, _) = try verify("did:key:nonsense", "alice", message, sig) else {
            Issue.record("a bad did:key was answered"); return
        }
    }

    @Test func signingNeedsItsOwnCapability() throws {
        let s = session("app")
        // A read token for the whole did namespace does not let it sign.
        guard case .error(let code, _) = try call(s, "elastos://did/self/sign", .execute, [1], grant: "elastos://did/*", actions: [.read]) else {
            Issue.record("signed with a read token"); return
        }
        #expect(code == .denied)
    }

    // MARK: Sealing

    @Test func oneSessionSealsToTheNodeAndAnotherOpens() throws {
        let alice = session("alice"), bob = session("bob")
        let aad = Array("dm:alice->bob".utf8)
        let message = Array("the key is under the mat".utf8)
        let request = DIDSealRequest(recipient: t.node.did.description, aad: aad, plaintext: message)
        let sealed = try #require(body(try call(alice, "elastos://did/seal", .read, request.encoded())))
        #expect(sealed.count == message.count + DIDWire.sealOverhead)
        #expect(!sealed.indices.dropLast(message.count - 1).contains { Array(sealed[$0..<$0 + message.count]) == message })
        let opened = try #require(body(try call(bob, "elastos://did/self/open", .execute, DIDOpenRequest(aad: aad, sealed: sealed).encoded())))
        #expect(opened == message)
        // What the provider seals opens in the core, and what the core seals opens through it.
        #expect(try DIDSeal.open(sealed, with: t.node.key, aad: aad) == message)
        let direct = try DIDSeal.seal([9, 9], to: t.node.key.publicKey, aad: [])
        #expect(body(try call(alice, "elastos://did/self/open", .execute, DIDOpenRequest(aad: [], sealed: direct).encoded())) == [9, 9])
        // Sealing to another DID: the provider seals, but this node cannot open it.
        let other = SigningKey()
        let toOther = try #require(body(try call(alice, "elastos://did/seal", .read,
                                                 DIDSealRequest(recipient: other.publicKey.did.description, aad: aad, plaintext: message).encoded())))
        #expect(try DIDSeal.open(toOther, with: other, aad: aad) == message)
        guard case .error(.integrityFailed, _) = try call(bob, "elastos://did/self/open", .execute, DIDOpenRequest(aad: aad, sealed: toOther).encoded()) else {
            Issue.record("opened a seal to another DID"); return
        }
    }

    @Test func tamperedOrWrongAADIsIntegrityFailed() throws {
        let alice = session("alice")
        let aad = Array("dm".utf8)
        let sealed = try #require(body(try call(alice, "elastos://did/seal", .read,
                                                DIDSealRequest(recipient: t.node.did.description, aad: aad, plaintext: Array("hello".utf8)).encoded())))
        func open(_ aad: [UInt8], _ sealed: [UInt8]) throws -> RuntimeMessage {
            try call(alice, "elastos://did/self/open", .execute, DIDOpenRequest(aad: aad, sealed: sealed).encoded())
        }
        var cases: [(String, [UInt8], [UInt8])] = [("wrong aad", Array("dn".utf8), sealed), ("short", aad, Array(sealed.prefix(40))),
                                                  ("empty", aad, [])]
        for i in [0, 31, 32, sealed.count - 1] {
            var t = sealed; t[i] ^= 0x40
            cases.append(("byte \(i)", aad, t))
        }
        for (name, a, s) in cases {
            guard case .error(let code, let message) = try open(a, s) else { Issue.record("\(name) opened"); continue }
            #expect(code == .integrityFailed, "\(name)")
            #expect(message == "the sealed message does not open with this node's key", "\(name)")
        }
    }

    @Test func malformedSealAndOpenBodiesAreInvalidRequests() throws {
        let s = session("app")
        let good = DIDSealRequest(recipient: t.node.did.description, aad: [1], plaintext: [2]).encoded()
        let bodies: [(String, String, Action, [UInt8])] = [
            ("seal truncated", "elastos://did/seal", .read, Array(good.dropLast())),
            ("seal trailing", "elastos://did/seal", .read, good + [0]),
            ("seal not a did:key", "elastos://did/seal", .read, DIDSealRequest(recipient: "did:web:example.com", aad: [], plaintext: [1]).encoded()),
            ("seal bad UTF-8", "elastos://did/seal", .read, [DIDWire.version, 0, 1, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0]),
            ("seal too long", "elastos://did/seal", .read,
             DIDSealRequest(recipient: t.node.did.description, aad: [], plaintext: [UInt8](repeating: 0, count: DIDWire.maxBlob + 1)).encoded()),
            ("seal JSON", "elastos://did/seal", .read, Array("{\"recipient\":\"x\"}".utf8)),
            ("open truncated", "elastos://did/self/open", .execute, [DIDWire.version, 0, 0, 0]),
            ("open trailing", "elastos://did/self/open", .execute, DIDOpenRequest(aad: [], sealed: [1]).encoded() + [0]),
            ("open empty", "elastos://did/self/open", .execute, []),
        ]
        for (name, uri, action, b) in bodies {
            guard case .error(let code, _) = try call(s, uri, action, b) else { Issue.record("\(name) was answered"); continue }
            #expect(code == .invalidRequest, "\(name)")
        }
        // A 64 KiB plaintext is the largest; it seals, and its seal opens.
        let big = [UInt8](repeating: 0x5A, count: DIDWire.maxBlob)
        let sealed = try #require(body(try call(s, "elastos://did/seal", .read,
                                                DIDSealRequest(recipient: t.node.did.description, aad: [], plaintext: big).encoded())))
        #expect(body(try call(s, "elastos://did/self/open", .execute, DIDOpenRequest(aad: [], sealed: sealed).encoded())) == big)
    }

    @Test func openingNeedsExecuteOnSelfOpen() throws {
        let alice = session("alice"), bob = session("bob")
        let sealed = try #require(body(try call(alice, "elastos://did/seal", .read,
                                                DIDSealRequest(recipient: t.node.did.description, aad: [], plaintext: [42]).encoded())))
        let open = DIDOpenRequest(aad: [], sealed: sealed).encoded()
        // Read on self/open or on the whole namespace, execute on sign or on seal: none opens it.
        for (grant, actions) in [("elastos://did/self/open", [Action.read]), ("elastos://did/*", [.read]),
                                 ("elastos://did/self/sign", [.execute]), ("elastos://did/seal", [.read, .execute]),
                                 ("elastos://did/self", [.read, .execute])] {
            guard case .error(let code, _) = try call(bob, "elastos://did/self/open", .execute, open, grant: grant, actions: actions) else {
                Issue.record("opened with \(actions) on \(grant)"); continue
            }
            #expect(code == .denied, "\(grant)")
        }
        #expect(body(try call(bob, "elastos://did/self/open", .execute, open)) == [42])
        #expect(body(try call(bob, "elastos://did/self/open", .execute, open, grant: "elastos://did/self/*")) == [42])
    }
}
