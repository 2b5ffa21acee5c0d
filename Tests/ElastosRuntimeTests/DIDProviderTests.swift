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
}
