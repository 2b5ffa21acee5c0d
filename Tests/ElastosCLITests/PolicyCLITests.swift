import ElastosCore
import Foundation
import Testing

/// The shell's policy end to end: `elastos policy`, `elastos grants`, the caller capsule asking
/// for and using a capability under the real runtime, and prompts answered on a real
/// pseudo-terminal.
@Suite(.serialized) struct PolicyCLITests {
    let dir = TempDir()
    var cli: CLI { CLI(home: dir.path + "/home") }
    static var caller: String { CLI.packageRoot.appendingPathComponent("capsules/caller").path }
    static let echo = "elastos://runtime/echo"

    func requireCaller() throws {
        try #require(FileManager.default.fileExists(atPath: Self.caller + "/caller.wasm"),
                     "capsules/caller/caller.wasm is missing: run scripts/build-capsules.sh (scripts/test.sh does)")
    }

    func callerArgs(count: Int, step: Bool = false) -> [String] {
        ["run", "--dev", Self.caller, Self.echo, "read", Self.echo, "read", "\(count)"] + (step ? ["step"] : [])
    }

    @Test func withoutARuleAndWithoutATerminalTheRequestIsDeniedAndAudited() throws {
        try requireCaller()
        let r = try cli.run(callerArgs(count: 1), stdin: "")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("refused: capability_refused: no policy rule allows read on elastos://runtime/echo, and no person at a terminal to ask"))
        let audit = try cli.run(["audit", "tail", "-n", "30"]).stdout
        #expect(audit.contains("DENY policy.decision") && audit.contains("DENY capability.refused"))
    }

    @Test func aRuleGrantsWithUseAndTimeLimitsThatAreEnforced() throws {
        try requireCaller()
        #expect(try cli.run(["policy", "allow", Self.echo, "--actions", "read", "--capsule", "caller", "--uses", "2"]).status == 0)
        let uses = try cli.run(callerArgs(count: 3), stdin: "")
        #expect(uses.stdout.contains("granted\ncall 1: ok\ncall 2: ok\ncall 3: denied: token use limit of 2 is reached"), "\(uses.stdout)")

        let id = try #require(try cli.run(["policy", "list", "--json"]).stdout.firstMatch(of: /"id":"(r-[0-9a-f]+)"/)?.1)
        #expect(try cli.run(["policy", "remove", String(id)]).status == 0)
        #expect(try cli.run(["policy", "allow", Self.echo, "--actions", "read", "--capsule", "caller", "--token-lifetime", "2s"]).status == 0)
        // step: each call waits for a line; the second comes after the token has expired.
        let p = Process(), inp = Pipe(), out = Pipe()
        p.executableURL = URL(fileURLWithPath: CLI.binary)
        p.arguments = callerArgs(count: 2, step: true) + ["--home", cli.home]
        p.standardInput = inp; p.standardOutput = out; p.standardError = FileHandle.nullDevice
        try p.run()
        let reader = LineReader(out.fileHandleForReading)
        inp.fileHandleForWriting.write(Data("\n".utf8))
        #expect(reader.waitFor("call 1: ") == "call 1: ok")
        Thread.sleep(forTimeInterval: 3.2)
        inp.fileHandleForWriting.write(Data("\n".utf8))
        let second = reader.waitFor("call 2: ")
        try? inp.fileHandleForWriting.close()
        p.waitUntilExit()
        #expect(second?.hasPrefix("call 2: denied: token expired") == true, "\(second ?? "no line")")

        #expect(try cli.run(["policy", "deny", Self.echo, "--actions", "read"]).status == 0)
        let denied = try cli.run(callerArgs(count: 1), stdin: "")
        #expect(denied.stdout.contains("refused: capability_refused: policy rule"), "\(denied.stdout)")
    }

    @Test func revokingAGrantTakesEffectOnTheNextCallInARunningNode() throws {
        try requireCaller()
        #expect(try cli.run(["capsule", "install", "--dev", Self.caller]).status == 0)
        #expect(try cli.run(["policy", "allow", Self.echo, "--actions", "read", "--capsule", "caller"]).status == 0)
        let node = try cli.startNode()
        defer { CLI.stopNode(node) }

        let p = Process(), inp = Pipe(), out = Pipe()
        p.executableURL = URL(fileURLWithPath: CLI.binary)
        p.arguments = ["run", "--home", cli.home, "caller", Self.echo, "read", Self.echo, "read", "3", "step"]
        p.standardInput = inp; p.standardOutput = out; p.standardError = FileHandle.nullDevice
        try p.run()
        let reader = LineReader(out.fileHandleForReading)
        inp.fileHandleForWriting.write(Data("\n".utf8))
        #expect(reader.waitFor("call 1: ") == "call 1: ok")

        let listed = try cli.run(["grants", "--json"])
        let grant = try #require(listed.stdout.split(separator: "\n").first { $0.contains(Self.echo) && $0.contains("session:") }, "\(listed.stdout)")
        let id = try #require(String(grant).firstMatch(of: /"id":"([0-9a-f]{32})"/)?.1)
        let revoked = try cli.run(["grants", "--revoke", String(id)])
        #expect(revoked.status == 0, "\(revoked.stderr)")
        inp.fileHandleForWriting.write(Data("\n".utf8))
        let second = reader.waitFor("call 2: ")
        #expect(second.map { $0.hasPrefix("call 2: denied: token ") && $0.contains("has been revoked") } == true, "\(second ?? "no line")")
        try? inp.fileHandleForWriting.close()
        p.waitUntilExit()
        #expect(!(try cli.run(["grants", "--json"]).stdout.contains(String(id))))
    }

    // MARK: Prompts on a real terminal

    func onTerminal(_ answers: [String], _ args: [String]) throws -> CLI.Output {
        try CLI.exec("/usr/bin/env", ["python3", CLI.packageRoot.appendingPathComponent("Tests/support/pty_answer.py").path,
                                      answers.joined(separator: ","), "--", CLI.binary] + args + ["--home", cli.home])
    }

    @Test func aPersonAnswersThePromptOnATerminal() throws {
        try requireCaller()
        let once = try onTerminal(["o"], callerArgs(count: 2))
        #expect(once.status == 0, "\(once.stdout)")
        #expect(once.stdout.contains("── permission request ──"))
        #expect(once.stdout.contains("capsule:   caller 0.1.0"))
        #expect(once.stdout.contains("(node)"))
        #expect(once.stdout.contains("wants:     read on elastos://runtime/echo"))
        #expect(once.stdout.contains("reason:    to call the runtime's echo service  (from its manifest)"))
        #expect(once.stdout.contains("call 1: ok"))
        #expect(once.stdout.contains("call 2: denied: token use limit of 1 is reached"), "\(once.stdout)")

        let denied = try onTerminal(["d"], callerArgs(count: 1))
        #expect(denied.stdout.contains("refused: capability_refused: denied at the prompt"), "\(denied.stdout)")

        let session = try onTerminal(["s"], callerArgs(count: 3))
        #expect(session.stdout.contains("call 3: ok"), "\(session.stdout)")

        let always = try onTerminal(["a"], callerArgs(count: 1))
        #expect(always.stdout.contains("call 1: ok"), "\(always.stdout)")
        #expect(try cli.run(["policy", "list"]).stdout.contains("ALLOW  read on elastos://runtime/echo  for capsule caller, publisher did:key:"))
        // The rule answers from now on, with no terminal at all.
        let later = try cli.run(callerArgs(count: 1), stdin: "")
        #expect(later.stdout.contains("granted\ncall 1: ok"), "\(later.stdout)")
    }

    @Test func policyCommandsRefuseBadInputClearly() throws {
        #expect(try cli.run(["policy", "allow", "not a uri", "--actions", "read"]).stderr.contains("not a uri"))
        #expect(try cli.run(["policy", "allow", Self.echo, "--actions", "fly"]).stderr.contains("--actions"))
        #expect(try cli.run(["policy", "allow", Self.echo, "--actions", "read", "--publisher", "did:web:x"]).stderr.contains("--publisher"))
        #expect(try cli.run(["policy", "allow", Self.echo, "--actions", "read", "--expires", "soon"]).stderr.contains("not a duration"))
        #expect(try cli.run(["policy", "remove", "r-nothere"]).stderr.contains("no rule r-nothere"))
        #expect(try cli.run(["grants", "--revoke", "xyz"]).stderr.contains("not a token id"))
        #expect(try cli.run(["policy", "list"]).stdout.hasPrefix("no rules"))
    }
}

/// Reads a child's stdout line by line on a thread, so a test can wait for one line with a
/// time limit while the child keeps running.
final class LineReader: @unchecked Sendable {
    private let lock = NSCondition()
    private var lines: [String] = []
    private var done = false

    init(_ handle: FileHandle) {
        Thread {
            var buffer = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                while let nl = buffer.firstIndex(of: 0x0A) {
                    let line = String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self)
                    buffer.removeSubrange(buffer.startIndex...nl)
                    self.lock.lock(); self.lines.append(line); self.lock.broadcast(); self.lock.unlock()
                }
            }
            self.lock.lock(); self.done = true; self.lock.broadcast(); self.lock.unlock()
        }.start()
    }

    /// The first line starting with `prefix`, waiting up to `seconds`.
    func waitFor(_ prefix: String, seconds: Double = 60) -> String? {
        let deadline = Date(timeIntervalSinceNow: seconds)
        lock.lock()
        defer { lock.unlock() }
        while true {
            if let i = lines.firstIndex(where: { $0.hasPrefix(prefix) }) { return lines.remove(at: i) }
            if done || !lock.wait(until: deadline) { return nil }
        }
    }
}
