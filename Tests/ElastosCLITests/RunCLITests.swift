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

    @Test func aRunRequestOverTheControlLimitIsRefusedClearlyAndKeepsNoDescriptors() throws {
        try requireHello()
        let node = try cli.startNode()
        defer { CLI.stopNode(node) }
        func pipes() -> [String] {
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(node.processIdentifier)/fd")) ?? []
            return fds.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(node.processIdentifier)/fd/\($0)") }
                .filter { $0.hasPrefix("pipe:") }.sorted()
        }
        #expect(try cli.run(["ps"]).status == 0)
        let before = pipes()
        // Ten 120 KiB arguments: a request line over the node's 1 MiB limit.
        let big = String(repeating: "x", count: 120 << 10)
        let r = try cli.run(["run", "--dev", Self.hello] + Array(repeating: big, count: 10))
        #expect(r.status != 0)
        #expect(r.stderr.contains("request refused: over 1024 KiB"), "\(r.stderr.prefix(300))")
        // The client's stdio that came with the refused request is not kept open by the node.
        var after = pipes()
        for _ in 0..<40 where after != before { usleep(50_000); after = pipes() }
        #expect(after == before)
        // And the node still serves.
        #expect(try cli.run(["ps"]).status == 0)
    }

    @Test func capsulesRunInsideARunningNodeWithSeparateSessionsAndCanBeStopped() throws {
        try requireHello()
        #expect(try cli.run(["capsule", "install", "--dev", Self.hello]).status == 0)
        let node = try cli.startNode()
        defer { CLI.stopNode(node) }

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
        #expect(running.count == 2, "\(sessions)")
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

/// The intruder capsule under the real runtime: `elastos run`, the session handler with the
/// twelve checks, the WASM sandbox and the node's own audit log. Every attempt is refused or
/// stopped, and each one leaves a record in the audit log of the session that made it.
@Suite(.serialized) struct IntruderRuntimeTests {
    let dir = TempDir()
    var cli: CLI { CLI(home: dir.path + "/home") }
    static var intruder: String { CLI.packageRoot.appendingPathComponent("capsules/intruder").path }

    struct Record { let event: String, decision: String, reason: String }

    /// Runs one step and returns its output and the audit records of its session, in order.
    func step(_ name: String) throws -> (status: Int32, stdout: String, records: [Record]) {
        try #require(FileManager.default.fileExists(atPath: Self.intruder + "/intruder.wasm"),
                     "capsules/intruder/intruder.wasm is missing: run scripts/build-capsules.sh")
        let r = try cli.run(["run", "--dev", "--allow-declared", Self.intruder, name])
        let lines = try cli.run(["audit", "tail", "-n", "200", "--json"]).stdout.split(separator: "\n")
        let all = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        // The last launch is this step's session.
        guard let launch = all.last(where: { $0["event"] as? String == "capsule.launched" }),
              let session = launch["subject"] as? String else { return (r.status, r.stdout, []) }
        let records = all.filter { $0["subject"] as? String == session }.map {
            Record(event: $0["event"] as? String ?? "", decision: $0["decision"] as? String ?? "", reason: $0["reason"] as? String ?? "")
        }
        return (r.status, r.stdout + r.stderr, records)
    }

    @Test(arguments: [
        (step: "no-token", attempts: 1, denials: ["call.denied.missing-token"]),
        (step: "garbage-token", attempts: 2, denials: ["capability.denied.version", "capability.denied.malformed"]),
        // The control read reaches the storage provider (not_found: provider answers are not denials).
        (step: "widened-token", attempts: 3, denials: ["capability.denied.action", "capability.denied.resource",
                                                       "capability.denied.signature"]),
        (step: "malformed-frame", attempts: 1, denials: ["sandbox.refused"]),
        (step: "bad-pointer", attempts: 1, denials: ["sandbox.refused", "sandbox.refused"]),
        (step: "read-outside", attempts: 7, denials: Array(repeating: "sandbox.refused", count: 7)),
        (step: "write-readonly", attempts: 5, denials: Array(repeating: "sandbox.refused", count: 5)),
    ])
    func everyAttemptIsRefusedAndAudited(step name: String, attempts: Int, denials: [String]) throws {
        let r = try step(name)
        #expect(r.status == 0, "an attempt got through:\n\(r.stdout)")
        #expect(!r.stdout.contains("ALLOWED") && !r.stdout.contains("OPENED"), "\(r.stdout)")
        let refusals = r.stdout.split(separator: "\n").filter { $0.contains("refused") }.count
        #expect(refusals >= attempts, "\(r.stdout)")
        let denied = r.records.filter { $0.decision == "deny" }.map(\.event)
        #expect(denied == denials, "\(r.records.map { "\($0.event) \($0.reason)" })")
        #expect(r.records.first?.event == "capsule.launched" && r.records.last?.event == "capsule.ended")
    }

    @Test func runawayMemoryIsStoppedAtTheManifestsCapAndAudited() throws {
        let r = try step("memory")
        #expect(r.status != 0)
        #expect(r.records.contains { $0.event == "sandbox.refused" && $0.reason.contains("refused (limit 16 MiB)") },
                "\(r.records.map(\.reason))")
        #expect(r.records.last.map { $0.event == "capsule.ended" && $0.reason.contains("memory limit of 16 MiB exceeded") } == true,
                "\(r.records.map(\.reason))")
    }

    @Test func aSpinningCapsuleIsStoppedByItsCPUBudgetAndAudited() throws {
        // capsules/intruder/capsule.json: cpu_ms 2000, wall_ms 5000. On a machine so loaded that
        // the guest gets under 40% of a core the wall clock stops it first; either is a stop.
        let r = try step("spin")
        #expect(r.status != 0)
        let ended = r.records.last
        #expect(ended?.event == "capsule.ended")
        #expect(ended.map { $0.reason.contains("CPU-time limit of 2 s exceeded") || $0.reason.contains("wall-clock limit of 5 s exceeded") } == true,
                "\(ended?.reason ?? "no record")")
    }
}
