import ElastosCore
import Foundation
import Testing

/// `elastos run`, `node`, `ps` and `stop` with the real hello capsule (built by
/// scripts/build-capsules.sh, which scripts/test.sh runs first).
@Suite(.serialized) struct RunCLITests {
    let dir = TempDir()
    var cli: CLI { CLI(home: dir.path + "/home") }

    static var hello: String { CLI.packageRoot.appendingPathComponent("capsules/hello").path }

    func requireHello() throws {
        try #require(FileManager.default.fileExists(atPath: Self.hello + "/hello.wasm"),
                     "capsules/hello/hello.wasm is missing: run scripts/build-capsules.sh (scripts/test.sh does)")
    }

    @Test func helloRunsInProcessEchoesItsInputAndPingsTheRuntime() throws {
        try requireHello()
        let r = try cli.run(["run", "--dev", Self.hello], stdin: "first line\nsecond line\n")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("first line\nsecond line\n"))
        #expect(r.stdout.contains("ping: round trip"))
        #expect(r.stdout.contains("\"substrate\":\"wasm\""))
        let tail = try cli.run(["audit", "tail", "-n", "20"]).stdout
        #expect(tail.contains("capsule.launched") && tail.contains("capsule.ended"))
    }

    @Test func anUnsignedDirectoryIsRefusedWithoutDev() throws {
        try requireHello()
        let r = try cli.run(["run", Self.hello])
        #expect(r.status != 0)
        #expect(r.stderr.contains("unsigned directory"))
    }

    @Test func aTamperedPackageNeverRuns() throws {
        try requireHello()
        let pkg = dir.path + "/hello.car"
        #expect(try cli.run(["capsule", "sign", Self.hello, "--out", pkg]).status == 0)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: pkg))
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: pkg))
        let r = try cli.run(["run", pkg])
        #expect(r.status != 0)
        #expect(!r.stdout.contains("Hello"))
        #expect(!(try cli.run(["audit", "tail", "-n", "50"]).stdout.contains("capsule.launched")))
    }

    @Test func capsulesRunInsideARunningNodeWithSeparateSessionsAndCanBeStopped() throws {
        try requireHello()
        #expect(try cli.run(["capsule", "install", "--dev", Self.hello]).status == 0)
        let node = Process()
        node.executableURL = URL(fileURLWithPath: CLI.binary)
        node.arguments = ["node", "--home", cli.home]
        node.standardError = FileHandle.nullDevice
        try node.run()
        defer { if node.isRunning { kill(node.processIdentifier, SIGTERM); node.waitUntilExit() } }
        let sock = cli.home + "/control.sock"
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: sock) { usleep(50_000) }

        // Two hello capsules whose stdin stays open: they wait, so both are running at once.
        func startHello() throws -> (Process, Pipe, Pipe) {
            let p = Process(), inp = Pipe(), out = Pipe()
            p.executableURL = URL(fileURLWithPath: CLI.binary)
            p.arguments = ["run", "--home", cli.home, "hello"]
            p.standardInput = inp
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            return (p, inp, out)
        }
        let (a, aIn, aOut) = try startHello()
        let (b, bIn, _) = try startHello()
        var sessions: [[String: Any]] = []
        for _ in 0..<200 {
            let ps = try cli.run(["ps", "--json"])
            sessions = (try? JSONSerialization.jsonObject(with: Data(ps.stdout.utf8)) as? [[String: Any]]) ?? []
            if sessions.filter({ $0["state"] as? String == "running" }).count == 2 { break }
            usleep(50_000)
        }
        let running = sessions.filter { $0["state"] as? String == "running" }
        #expect(running.count == 2)
        let ids = running.compactMap { $0["id"] as? String }
        #expect(Set(ids).count == 2)

        // a finishes normally; b is stopped by the operator.
        aIn.fileHandleForWriting.write(Data("bye\n".utf8))
        aIn.fileHandleForWriting.closeFile()
        a.waitUntilExit()
        #expect(a.terminationStatus == 0)
        #expect(String(decoding: aOut.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).contains("bye"))
        let after = (try? JSONSerialization.jsonObject(with: Data(try cli.run(["ps", "--json"]).stdout.utf8)) as? [[String: Any]]) ?? []
        let stillRunning = try #require(after.first { $0["state"] as? String == "running" }?["id"] as? String)
        #expect(ids.contains(stillRunning))
        let stop = try cli.run(["stop", String(stillRunning.prefix(8))])
        #expect(stop.status == 0, "\(stop.stderr)")
        b.waitUntilExit()
        #expect(b.terminationStatus != 0)  // stopped, not exited by itself
        bIn.fileHandleForWriting.closeFile()
        let log = try cli.run(["audit", "tail", "-n", "40"]).stdout
        #expect(log.contains("capsule.stop"))
    }
}
