import ElastosCapsule
import ElastosCore
import ElastosNode
@testable import ElastosRuntime
import ElastosStorage
import Foundation
import Testing

@Suite struct StorageProviderTests {
    let t: TempNode
    let provider: StorageProvider
    let router: ProviderRouter

    init() throws {
        t = try TempNode()
        provider = StorageProvider(store: try EncryptedStore(home: t.node.home))
        router = try ProviderRouter([("elastos://runtime/echo", EchoProvider()), (StorageProvider.prefix, provider)])
    }

    var session: Session {
        Session(capsule: "notes", version: "0.1.0", cid: "bafy-test", publisher: t.node.did.description, trust: .node,
                substrate: "wasm", startedAt: Node.systemClock())
    }

    func call(_ uri: String, _ action: Action, _ body: String) throws -> ProviderResult {
        provider.handle(ProviderCall(session: session, resource: try ResourceURI(uri), action: action, body: Array(body.utf8)))
    }

    func text(_ r: ProviderResult) -> String? {
        if case .ok(let b) = r { return String(decoding: b, as: UTF8.self) }
        return nil
    }

    func code(_ r: ProviderResult) -> CapsuleErrorCode? {
        if case .failed(let c, _) = r { return c }
        return nil
    }

    @Test func everyRequestFormWorks() throws {
        let file = "localhost://storage/apps/notes/todo/today.txt"
        #expect(text(try call(file, .write, "put\nbuy milk")) == #"{"kind":"file","size":8,"version":2}"#)
        #expect(text(try call(file, .read, "")) == "buy milk")
        #expect(text(try call(file, .write, "append\n, eggs"))?.contains(#""size":14"#) == true)
        #expect(text(try call(file, .read, "")) == "buy milk, eggs")
        #expect(text(try call(file, .read, "stat"))?.hasPrefix(#"{"kind":"file","size":14,"#) == true)
        #expect(text(try call("localhost://storage/apps/notes/archive", .write, "mkdir"))?.hasPrefix(#"{"kind":"directory""#) == true)
        let listing = try #require(text(try call("localhost://storage/apps/notes", .read, "")))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(listing.utf8)) as? [[String: Any]])
        #expect(json.map { $0["name"] as? String } == ["archive", "todo"])
        #expect(text(try call("localhost://storage/apps/notes", .read, "list")) == listing)
        // A name with reserved characters travels percent-encoded and comes back as JSON text.
        #expect(code(try call("localhost://storage/apps/notes/a%22b", .write, "put\nq")) == nil)
        #expect(text(try call("localhost://storage/apps/notes", .read, "list"))?.contains(#""name":"a\"b""#) == true)
        #expect(text(try call(file, .delete, "")) == "")
    }

    @Test func failuresMapToStableCodes() throws {
        let base = "localhost://storage/apps/notes"
        #expect(code(try call(base + "/missing", .read, "")) == .notFound)
        #expect(code(try call(base + "/x", .write, "no verb")) == .invalidRequest)
        #expect(code(try call(base + "/x", .read, "bogus")) == .invalidRequest)
        #expect(code(try call(base + "/x", .execute, "")) == .invalidRequest)
        #expect(code(try call(base + "/a%2Fb", .write, "put\n")) == .invalidRequest)
        #expect(code(try call(base + "/%00", .write, "put\n")) == .invalidRequest)
        #expect(code(try call("localhost://storage/elsewhere/x", .read, "")) == .invalidRequest)
        _ = try call(base + "/dir/f", .write, "put\nx")
        #expect(code(try call(base + "/dir", .delete, "")) == .conflict)
        #expect(code(try call(base + "/dir", .write, "put\nx")) == .conflict)
        // Tampering: every object file of the namespace gets a flipped byte.
        let storage = t.node.home.path + "/storage"
        for sub in try FileManager.default.contentsOfDirectory(atPath: storage) where sub != "master.key" {
            for f in try FileManager.default.contentsOfDirectory(atPath: storage + "/" + sub) where f != "index" && f != "lock" {
                let p = storage + "/" + sub + "/" + f
                var b = try [UInt8](Data(contentsOf: URL(fileURLWithPath: p)))
                b[30] ^= 1
                try Data(b).write(to: URL(fileURLWithPath: p))
            }
        }
        guard case .failed(.integrityFailed, let message) = try call(base + "/dir/f", .read, "") else {
            Issue.record("tampering not reported"); return
        }
        #expect(message.contains("integrity"))
    }

    @Test func capsulesReachStorageThroughTheCheckedPath() throws {
        let s = session
        let handler = SessionHandler(session: s, node: t.node, router: router, policy: DeclaredCapabilityPolicy(allowDeclared: false), declared: [])
        let token = try t.node.issue(Grant(holder: s.principal, resource: try ResourcePattern("localhost://storage/apps/notes/*"),
                                           actions: ActionSet([.read, .write]), expiry: Node.systemClock() + 600)).encoded
        let uri = "localhost://storage/apps/notes/hello"
        #expect(handler.handle(.call(uri: uri, action: .write, token: token, body: Array("put\nhi".utf8)), id: 1).errorCode == nil)
        #expect(handler.handle(.call(uri: uri, action: .read, token: token, body: []), id: 2) == .reply(body: Array("hi".utf8)))
        // Not granted: delete, and another capsule's namespace.
        #expect(handler.handle(.call(uri: uri, action: .delete, token: token, body: []), id: 3).errorCode == .denied)
        #expect(handler.handle(.call(uri: "localhost://storage/apps/other/x", action: .read, token: token, body: []), id: 4).errorCode == .denied)
    }
}
