import ElastosCapsule
import ElastosCore
import ElastosNode
@testable import ElastosRuntime
import Foundation
import Testing

final class TempNode {
    let path = NSTemporaryDirectory() + "elastos-rt-" + UUID().uuidString
    let node: Node
    init() throws { node = try Node(home: NodeHome(path: path)) }
    deinit { try? node.close(); try? FileManager.default.removeItem(atPath: path) }
}

@Suite struct SessionHandlerTests {
    let t: TempNode
    let router: ProviderRouter

    init() throws {
        t = try TempNode()
        router = try ProviderRouter([("elastos://runtime/echo", EchoProvider())])
    }

    func session(_ name: String, trust: TrustLevel = .node) -> Session {
        Session(capsule: name, version: "0.1.0", cid: "bafy-test", publisher: t.node.did.description, trust: trust,
                substrate: "wasm", startedAt: Node.systemClock())
    }

    func handler(_ s: Session, allowDeclared: Bool = false, declared: [DeclaredCapability] = []) -> SessionHandler {
        SessionHandler(session: s, node: t.node, router: router, policy: DeclaredCapabilityPolicy(allowDeclared: allowDeclared), declared: declared)
    }

    func tokenFor(_ s: Session, _ resource: String = "elastos://runtime/echo", actions: [Action] = [.read]) throws -> [UInt8] {
        try t.node.issue(Grant(holder: s.principal, resource: try ResourcePattern(resource), actions: ActionSet(actions),
                               expiry: Node.systemClock() + 600)).encoded
    }

    func auditEvents() throws -> [AuditRecord] {
        try t.node.audit.flush()
        return try AuditLog.tail(directory: t.node.home.auditDirectory, count: 1000)
    }

    @Test func pingAndInfoAnswer() throws {
        let s = session("hello")
        let h = handler(s)
        #expect(h.handle(.ping, id: 1) == .reply(body: []))
        guard case .reply(let body) = h.handle(.info, id: 2) else { Issue.record("no info"); return }
        let json = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
        #expect(json?["session"] as? String == s.id)
        #expect(json?["protocol"] as? Int == 1)
    }

    @Test func checkedCallReachesTheProvider() throws {
        let s = session("hello")
        let reply = handler(s).handle(.call(uri: "elastos://runtime/echo", action: .read, token: try tokenFor(s), body: [7, 8]), id: 1)
        #expect(reply == .reply(body: [7, 8]))
        #expect(try auditEvents().contains { $0.event == "capability.allowed" && $0.subject == s.principal })
    }

    @Test func oneSessionsTokenIsUselessToAnother() throws {
        let a = session("a"), b = session("b")
        #expect(a.principal != b.principal)
        let tokenA = try tokenFor(a)
        let reply = handler(b).handle(.call(uri: "elastos://runtime/echo", action: .read, token: tokenA, body: []), id: 1)
        guard case .error(.denied, let message) = reply else { Issue.record("\(reply)"); return }
        #expect(message.contains("check 4"))
        #expect(!message.contains(a.id))  // never echoes the other session
        #expect(try auditEvents().contains { $0.event == "capability.denied.holder" && $0.subject == b.principal })
    }

    @Test func callsWithoutTokensOrWithBadURIsAreRefusedAndAudited() throws {
        let s = session("intruder")
        let h = handler(s)
        #expect(h.handle(.call(uri: "elastos://runtime/echo", action: .read, token: [], body: []), id: 1).errorCode == .missingToken)
        #expect(h.handle(.call(uri: "elastos://runtime/../x", action: .read, token: [1], body: []), id: 2).errorCode == .invalidURI)
        #expect(h.handle(.call(uri: "elastos://runtime/echo", action: .read, token: [1, 2, 3], body: []), id: 3).errorCode == .denied)
        // A token for a resource with no provider is checked first, then reported.
        let tok = try tokenFor(s, "elastos://nowhere/*")
        #expect(h.handle(.call(uri: "elastos://nowhere/x", action: .read, token: tok, body: []), id: 4).errorCode == .noProvider)
        // Without a token, whether a provider exists is not revealed.
        #expect(h.handle(.call(uri: "elastos://nowhere/x", action: .read, token: [], body: []), id: 5).errorCode == .missingToken)
        let events = try auditEvents().map(\.event)
        for e in ["call.denied.missing-token", "call.denied.invalid-uri", "capability.denied.malformed", "call.failed.no-provider"] {
            #expect(events.contains(e), "\(e)")
        }
    }

    @Test func capabilityRequestsAreDeniedByDefault() throws {
        let declared = [DeclaredCapability(resource: try ResourcePattern("elastos://runtime/*"), actions: ActionSet([.read]), reason: "echo")]
        let s = session("hello")
        let ask = CapsuleRequest.requestCapability(uri: "elastos://runtime/echo", actions: ActionSet([.read]), reason: "test")
        #expect(handler(s, declared: declared).handle(ask, id: 1).errorCode == .capabilityRefused)
        // Opted in: a declared capability is granted, and the token works for this session only.
        guard case .reply(let token) = handler(s, allowDeclared: true, declared: declared).handle(ask, id: 2) else {
            Issue.record("not granted"); return
        }
        #expect(handler(s).handle(.call(uri: "elastos://runtime/echo", action: .read, token: token, body: [1]), id: 3) == .reply(body: [1]))
        // Undeclared: refused even when opted in.
        let wider = CapsuleRequest.requestCapability(uri: "elastos://runtime/echo", actions: ActionSet([.write]), reason: "test")
        #expect(handler(s, allowDeclared: true, declared: declared).handle(wider, id: 4).errorCode == .capabilityRefused)
        // Untrusted publisher: never auto-granted.
        let u = session("stranger", trust: .untrusted)
        #expect(handler(u, allowDeclared: true, declared: declared).handle(ask, id: 5).errorCode == .capabilityRefused)
        #expect(try auditEvents().filter { $0.event == "capability.refused" }.count == 3)
    }

    @Test func routerPicksTheLongestPrefixOnSegmentBoundaries() throws {
        struct Named: Provider { let name: String; func handle(_ c: ProviderCall) -> ProviderResult { .ok(Array(name.utf8)) } }
        let r = try ProviderRouter([("localhost://storage", Named(name: "storage")), ("localhost://storage/apps/x", Named(name: "x"))])
        #expect(r.provider(for: try ResourceURI("localhost://storage/apps/x/y"))?.name == "x")
        #expect(r.provider(for: try ResourceURI("localhost://storage/apps/xy"))?.name == "storage")
        #expect(r.provider(for: try ResourceURI("localhost://other/a")) == nil)
    }
}

extension RuntimeMessage {
    var errorCode: CapsuleErrorCode? { if case .error(let c, _) = self { c } else { nil } }
}
