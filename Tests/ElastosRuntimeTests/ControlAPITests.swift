import ElastosCore
import ElastosNode
@testable import ElastosRuntime
import Foundation
import Testing

struct NoCapsules: CapsuleResolver {
    func resolve(_ target: String, dev: Bool) throws -> LaunchableCapsule { throw LaunchError("no capsule named \(target)") }
}

@Suite(.serialized) struct ControlAPITests {
    @Test func statusPsAndStopAnswerOverTheSocket() throws {
        let t = try TempNode()
        let runtime = RuntimeNode(node: t.node, substrates: [], router: try ProviderRouter([]))
        let server = try ControlServer(runtime: runtime, resolver: NoCapsules())
        let thread = Thread { server.serve() }
        thread.start()
        defer { server.close() }

        let path = ControlServer.socketPath(t.node.home)
        let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)

        let status = try ControlClient.request(try #require(ControlClient.connect(t.node.home)), ["op": "status"])
        #expect(status["ok"] as? Bool == true)
        #expect(status["did"] as? String == t.node.did.description)

        let ps = try ControlClient.request(try #require(ControlClient.connect(t.node.home)), ["op": "ps"])
        #expect((ps["sessions"] as? [Any])?.isEmpty == true)

        let stop = try ControlClient.request(try #require(ControlClient.connect(t.node.home)), ["op": "stop", "id": "nope"])
        #expect(stop["ok"] as? Bool == false)

        // A run without the three stdio descriptors is refused; a bad target is reported.
        let noFDs = try ControlClient.request(try #require(ControlClient.connect(t.node.home)), ["op": "run", "target": "x"])
        #expect((noFDs["error"] as? String)?.contains("stdin") == true)
        let bad = try ControlClient.request(try #require(ControlClient.connect(t.node.home)), ["op": "run", "target": "ghost"], fds: [0, 1, 2])
        #expect((bad["error"] as? String)?.contains("no capsule named ghost") == true)

        // Garbage gets an error, not a crash, and the server keeps serving.
        let conn = try #require(ControlClient.connect(t.node.home))
        try conn.sendLine("this is not json")
        #expect(try ControlClient.readReply(conn)["ok"] as? Bool == false)
        #expect(try ControlClient.request(try #require(ControlClient.connect(t.node.home)), ["op": "status"])["ok"] as? Bool == true)
    }

    @Test func descriptorsTravelOverTheConnection() throws {
        var sv: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &sv) == 0)
        let a = UnixConnection(fd: sv[0]), b = UnixConnection(fd: sv[1])
        var p: [Int32] = [0, 0]
        #expect(pipe(&p) == 0)
        try a.sendLine("{\"op\":\"x\"}", fds: [p[1]])
        let got = try #require(try b.readLine())
        #expect(got.line == "{\"op\":\"x\"}")
        #expect(got.fds.count == 1)
        // Writing to the received descriptor reaches the original pipe.
        let msg: [UInt8] = Array("hi".utf8)
        #expect(write(got.fds[0], msg, 2) == 2)
        var buf = [UInt8](repeating: 0, count: 2)
        #expect(read(p[0], &buf, 2) == 2)
        #expect(buf == msg)
        close(got.fds[0]); close(p[0]); close(p[1])
    }
}
