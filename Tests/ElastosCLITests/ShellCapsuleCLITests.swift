import Foundation
import Testing

/// The shell as a capsule (capsules/native/shell, role shell, in a bubblewrap sandbox with
/// `<home>/shell` as its /data): `elastos node --shell` hands it every capability request; the
/// same rules, defaults and prompts as in-process, decided in the capsule; a killed shell is
/// replaced; a capsule without role shell cannot be the shell.
@Suite(.serialized) struct ShellCapsuleCLITests {
    let dir = TempDir()
    var cli: CLI { CLI(home: dir.path + "/home") }
    static var shell: String { NativeRunCLITests.native.appendingPathComponent("shell").path }
    static var caller: String { CLI.packageRoot.appendingPathComponent("capsules/caller").path }
    static let echo = "elastos://runtime/echo"

    func require() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.shell + "/shell"),
                     "the shell capsule is missing: run scripts/build-native-capsules.sh (scripts/test.sh does)")
        try #require(FileManager.default.fileExists(atPath: Self.caller + "/caller.wasm"), "run scripts/build-capsules.sh")
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/bwrap"), "bubblewrap is not installed: apt install bubblewrap")
    }

    /// A node whose shell is the shell capsule, once its session runs.
    func startNode() throws -> Process {
        #expect(try cli.run(["capsule", "install", "--dev", Self.caller]).status == 0)
        let node = try cli.startNode(["--shell", Self.shell, "--dev", "--in-process-storage"])
        for _ in 0..<400 {
            if shellSession() != nil { return node }
            usleep(50_000)
        }
        CLI.stopNode(node)
        throw CLIFailure("the shell capsule did not start")
    }

    func shellSession() -> String? {
        guard let ps = try? cli.run(["ps"]) else { return nil }
        return ps.stdout.split(separator: "\n").first { $0.contains(" shell ") && $0.hasSuffix("running") }.map { String($0.prefix(8)) }
    }

    func callerArgs(_ count: Int) -> [String] { ["run", "caller", Self.echo, "read", Self.echo, "read", "\(count)"] }

    @Test func theShellCapsuleDecidesWithTheRulesAndTheDefaults() throws {
        try require()
        let node = try startNode()
        defer { CLI.stopNode(node) }
        // No rule, no person: denied, by the shell, with the engine's own words.
        let denied = try cli.run(callerArgs(1), stdin: "")
        #expect(denied.stdout.contains("refused: capability_refused: no policy rule allows read on elastos://runtime/echo, and no person at a terminal to ask"),
                "\(denied.stdout) \(denied.stderr)")
        // A rule with a use limit, written by the operator's tool into the shell's directory.
        #expect(try cli.run(["policy", "allow", Self.echo, "--actions", "read", "--capsule", "caller", "--uses", "2"]).status == 0)
        #expect(FileManager.default.fileExists(atPath: cli.home + "/shell/policy.json"))
        let uses = try cli.run(callerArgs(3), stdin: "")
        #expect(uses.stdout.contains("granted\ncall 1: ok\ncall 2: ok\ncall 3: denied: token use limit of 2 is reached"), "\(uses.stdout)")
        let audit = try cli.run(["audit", "tail", "-n", "200"]).stdout
        #expect(audit.contains("provider.bound") && audit.contains("ALLOW policy.decision") && audit.contains("DENY policy.decision"))
        #expect(audit.contains("and no person at a terminal to ask (decided by the shell capsule)"), "\(audit)")
        #expect(audit.contains("use(s), token for 3600 s (decided by the shell capsule)"), "\(audit)")

        // Killed, the shell is replaced and the rules still decide.
        let first = try #require(shellSession())
        let pid = try #require(Self.shellPID(under: node.processIdentifier))
        kill(pid, SIGKILL)
        var second: String?
        for _ in 0..<200 {
            if let s = shellSession(), s != first { second = s; break }
            usleep(50_000)
        }
        #expect(second != nil, "no new shell session after kill -9")
        let again = try cli.run(callerArgs(1), stdin: "")
        #expect(again.stdout.contains("granted\ncall 1: ok"), "\(again.stdout)")
    }

    @Test func aPromptIsAnsweredOnTheClientsTerminalAndSettledByTheShell() throws {
        try require()
        let node = try startNode()
        defer { CLI.stopNode(node) }
        let answered = try CLI.exec("/usr/bin/env", ["python3", CLI.packageRoot.appendingPathComponent("Tests/support/pty_answer.py").path,
                                                     "a", "--", CLI.binary] + callerArgs(1) + ["--home", cli.home])
        #expect(answered.stdout.contains("── permission request ──"), "\(answered.stdout)")
        #expect(answered.stdout.contains("wants:     read on elastos://runtime/echo"))
        #expect(answered.stdout.contains("call 1: ok"), "\(answered.stdout)")
        // "always" made the shell capsule write the rule in its own directory.
        #expect(try cli.run(["policy", "list"]).stdout.contains("ALLOW  read on elastos://runtime/echo  for capsule caller, publisher did:key:"))
        let audit = try cli.run(["audit", "tail", "-n", "100"]).stdout
        #expect(audit.contains("always allowed at the prompt (rule r-"), "\(audit)")
        let later = try cli.run(callerArgs(1), stdin: "")
        #expect(later.stdout.contains("granted\ncall 1: ok"), "\(later.stdout)")
    }

    /// `elastos node` with no flag runs the installed shell capsule (scripts/install.sh installs
    /// it); `--in-process-shell` opts out.
    @Test func anInstalledShellIsUsedByDefault() throws {
        try require()
        #expect(try cli.run(["capsule", "install", "--dev", Self.shell]).status == 0)
        #expect(try cli.run(["capsule", "install", "--dev", Self.caller]).status == 0)
        do {
            let node = try cli.startNode(["--in-process-storage"])
            defer { CLI.stopNode(node) }
            var session: String?
            for _ in 0..<400 where session == nil { session = shellSession(); if session == nil { usleep(50_000) } }
            #expect(session != nil, "no shell session in a node started without --shell")
            _ = try cli.run(callerArgs(1), stdin: "")
            #expect(try cli.run(["audit", "tail", "-n", "60"]).stdout.contains("(decided by the shell capsule)"))
        }
        let node = try cli.startNode(["--in-process-storage", "--in-process-shell"])
        defer { CLI.stopNode(node) }
        #expect(shellSession() == nil)
    }

    @Test func onlyACapsuleWithRoleShellCanBeTheShell() throws {
        try require()
        let provider = NativeRunCLITests.native.appendingPathComponent("storage-provider").path
        let r = try cli.run(["node", "--shell", provider, "--dev", "--in-process-storage"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("only a capsule with role shell can be the shell"), "\(r.stderr)")
    }

    static func shellPID(under node: Int32) -> Int32? { CLI.descendant(named: "shell", under: node) }
}
