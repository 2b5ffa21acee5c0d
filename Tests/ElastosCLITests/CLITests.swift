import ElastosCore
import ElastosNode
import Foundation
import Testing

/// Runs the real `elastos` binary built beside the tests.
struct CLI {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var binary: String {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for dir in [beside, beside.deletingLastPathComponent(), packageRoot.appendingPathComponent(".build/debug")] {
            let p = dir.appendingPathComponent("elastos").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return packageRoot.appendingPathComponent(".build/debug/elastos").path
    }

    let home: String

    struct Output { var status: Int32; var stdout: String; var stderr: String }

    @discardableResult
    func run(_ args: [String], stdin: String? = nil, environment extra: [String: String] = [:]) throws -> Output {
        try Self.exec(Self.binary, args + ["--home", home], stdin: stdin, environment: extra)
    }

    static func exec(_ path: String, _ args: [String], stdin: String? = nil, environment extra: [String: String] = [:]) throws -> Output {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "ELASTOS_HOME")
        for (k, v) in extra { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = inp
        try p.run()
        if let stdin { inp.fileHandleForWriting.write(Data(stdin.utf8)) }
        inp.fileHandleForWriting.closeFile()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Output(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }
}

final class TempDir {
    let path = NSTemporaryDirectory() + "elastos-cli-" + UUID().uuidString
    init() { try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

@Suite(.serialized) struct CLITests {
    let dir = TempDir()
    var cli: CLI { CLI(home: dir.path + "/home") }

    @Test func versionPrintsTheVersionAndCreatesTheNodeKeyOnFirstRun() throws {
        let r = try cli.run(["--version"])
        #expect(r.status == 0)
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.first == "elastos 0.1.0")
        #expect(lines.count == 2 && lines[1].hasPrefix("did:key:z6Mk"))
        let key = dir.path + "/home/identity/node.key"
        let perms = try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? NSNumber
        #expect(perms?.intValue == 0o600)
        // Same DID next time, and `identity --json` agrees.
        #expect(try cli.run(["--version"]).stdout == r.stdout)
        let id = try JSONSerialization.jsonObject(with: Data(try cli.run(["identity", "--json"]).stdout.utf8)) as? [String: String]
        #expect(id?["did"] == String(lines[1]))
        #expect(id?["peer_id"]?.hasPrefix("12D3KooW") == true)
        // ELASTOS_HOME is honoured when --home is absent.
        let viaEnv = try CLI.exec(CLI.binary, ["--version"], environment: ["ELASTOS_HOME": dir.path + "/home"])
        #expect(viaEnv.stdout == r.stdout)
    }

    @Test func corruptOrExposedKeyStopsWithOneLineOnStderr() throws {
        try cli.run(["--version"])
        let key = dir.path + "/home/identity/node.key"
        chmod(key, 0o644)
        let r = try cli.run(["identity"])
        #expect(r.status != 0)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.contains("chmod 600"))
        #expect(r.stderr.split(separator: "\n").count == 1)
        chmod(key, 0o600)
        try "garbage".write(toFile: key, atomically: false, encoding: .utf8)
        let c = try cli.run(["--version"])
        #expect(c.status != 0 && c.stderr.contains("corrupt"))
        #expect(try String(contentsOfFile: key, encoding: .utf8) == "garbage")  // never replaced
    }

    @Test func issuedTokenVerifiesAndRevocationAndEpochSurviveRestarts() throws {
        let issue = try cli.run(["token", "issue", "--holder", "capsule-7", "--resource", "localhost://storage/apps/notes/*",
                                 "--actions", "read,write", "--expires", "1h"])
        #expect(issue.status == 0, "\(issue.stderr)")
        let token = issue.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.hasPrefix("ecap1_"))
        let ok = try cli.run(["token", "verify", "--holder", "capsule-7", "--action", "write",
                              "--resource", "localhost://storage/apps/notes/x"], stdin: token)
        #expect(ok.status == 0 && ok.stdout.hasPrefix("valid"), "\(ok.stderr)")
        let wrong = try cli.run(["token", "verify", "--holder", "capsule-7", "--action", "delete",
                                 "--resource", "localhost://storage/apps/notes/x"], stdin: token)
        #expect(wrong.status != 0 && wrong.stderr.contains("does not grant 'delete'"))

        let inspect = try cli.run(["token", "inspect", "--json"], stdin: token)
        let links = (try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any])?["links"] as? [[String: Any]]
        let id = try #require(links?.first?["id"] as? String)

        // Each CLI call is its own process: the revocation must come back from disk.
        #expect(try cli.run(["token", "revoke", id]).status == 0)
        let revoked = try cli.run(["token", "verify"], stdin: token)
        #expect(revoked.status != 0 && revoked.stderr.contains("has been revoked"))

        let second = try cli.run(["token", "issue", "--holder", "c", "--resource", "elastos://peer/*", "--actions", "message"]).stdout
        #expect(try cli.run(["token", "verify"], stdin: second).status == 0)
        #expect(try cli.run(["token", "revoke", "--epoch"]).status == 0)
        let afterEpoch = try cli.run(["token", "verify"], stdin: second)
        #expect(afterEpoch.status != 0 && afterEpoch.stderr.contains("epoch"))

        // Tokens are never taken from argv.
        let argv = try cli.run(["token", "verify", token])
        #expect(argv.status != 0)
    }

    @Test func useCountsSpentByOneProcessAreSeenByTheNext() throws {
        let home = NodeHome(path: dir.path + "/home")
        let req = CapabilityRequest(caller: "c", action: .read, resource: try ResourceURI("localhost://storage/apps/c/x"))
        let token: CapabilityToken
        do {
            let node = try Node(home: home)
            token = try node.issue(Grant(holder: "c", resource: try ResourcePattern("localhost://storage/apps/c/*"),
                                         actions: ActionSet([.read]), expiry: Node.systemClock() + 600, maxUses: 2))
            #expect((try? node.verifier.authorize(token.encoded, for: req).get()) != nil)
            try node.close()
        }
        let mid = try cli.run(["token", "verify", "--json"], stdin: token.text)
        #expect(mid.stdout.contains("\"remaining_uses\":1"), "\(mid.stdout)\(mid.stderr)")
        do {
            let node = try Node(home: home)
            #expect((try? node.verifier.authorize(token.encoded, for: req).get()) != nil)
            try node.close()
        }
        let done = try cli.run(["token", "verify", "--holder", "c", "--action", "read", "--resource", "localhost://storage/apps/c/x"], stdin: token.text)
        #expect(done.status != 0 && done.stderr.contains("use limit of 2 is reached"))
    }

    @Test func delegationThroughTheCLIOnlyNarrows() throws {
        // The parent holder is another node's DID; it signs the delegation with its own key file.
        let alice = CLI(home: dir.path + "/alice")
        let aliceDID = String(try alice.run(["--version"]).stdout.split(separator: "\n")[1])
        let root = try cli.run(["token", "issue", "--holder", aliceDID, "--resource", "localhost://storage/apps/*",
                                "--actions", "read,write", "--depth", "1", "--expires", "2h"]).stdout
        let child = try cli.run(["token", "delegate", "--holder", "capsule-9", "--resource", "localhost://storage/apps/notes/*",
                                 "--actions", "read", "--key", dir.path + "/alice/identity/node.key"], stdin: root)
        #expect(child.status == 0, "\(child.stderr)")
        let v = try cli.run(["token", "verify", "--holder", "capsule-9", "--action", "read",
                             "--resource", "localhost://storage/apps/notes/a"], stdin: child.stdout)
        #expect(v.status == 0, "\(v.stderr)")
        let wider = try cli.run(["token", "delegate", "--holder", "capsule-9", "--resource", "localhost://*",
                                 "--key", dir.path + "/alice/identity/node.key"], stdin: root)
        #expect(wider.status != 0 && wider.stderr.contains("resource"))
        let longer = try cli.run(["token", "delegate", "--holder", "capsule-9", "--expires", "30d",
                                  "--key", dir.path + "/alice/identity/node.key"], stdin: root)
        #expect(longer.status != 0 && longer.stderr.contains("expiry"))
    }

    @Test func auditVerifyPassesThenNamesTheFirstTamperedRecord() throws {
        for i in 0..<3 {
            #expect(try cli.run(["token", "issue", "--holder", "h\(i)", "--resource", "elastos://did/*", "--actions", "read"]).status == 0)
        }
        let ok = try cli.run(["audit", "verify"])
        #expect(ok.status == 0 && ok.stdout.contains("intact"), "\(ok.stderr)")
        let tail = try cli.run(["audit", "tail", "-n", "2", "--json"])
        #expect(tail.stdout.split(separator: "\n").count == 2)

        let seg = dir.path + "/home/audit/00000001.jsonl"
        var lines = try String(contentsOfFile: seg, encoding: .utf8).split(separator: "\n").map(String.init)
        let target = try #require(lines.firstIndex { $0.contains("\"subject\":\"h1\"") })
        lines[target] = lines[target].replacingOccurrences(of: "\"subject\":\"h1\"", with: "\"subject\":\"hX\"")
        try (lines.joined(separator: "\n") + "\n").write(toFile: seg, atomically: false, encoding: .utf8)
        let bad = try cli.run(["audit", "verify"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("record \(target + 1) at \(seg):\(target + 1) was altered"), "\(bad.stderr)")
    }

    @Test func helpIsAvailableEverywhere() throws {
        for cmd in [[], ["identity"], ["token"], ["token", "issue"], ["token", "inspect"], ["token", "verify"],
                    ["token", "delegate"], ["token", "revoke"], ["audit"], ["audit", "verify"], ["audit", "tail"]] {
            let r = try CLI.exec(CLI.binary, cmd + ["--help"])
            #expect(r.status == 0 && r.stdout.contains("USAGE"), "\(cmd)")
        }
    }
}

extension CLI {
    /// Starts `elastos node` for this home and waits for its control socket (a debug node on
    /// a loaded machine can take many seconds to start). Stop it with ``stopNode(_:)``.
    func startNode(_ extra: [String] = []) throws -> Process {
        let node = Process()
        node.executableURL = URL(fileURLWithPath: CLI.binary)
        // mDNS off unless a test asks for it: loopback nodes of suites running at the same time
        // would otherwise find each other and share rooms (the mDNS tests use namespaces).
        let quiet = extra.contains("--listen") && !extra.contains("--no-mdns") ? ["--no-mdns"] : []
        node.arguments = ["node", "--home", home] + extra + quiet
        node.standardError = FileHandle.nullDevice
        try node.run()
        for _ in 0..<1200 where !FileManager.default.fileExists(atPath: home + "/control.sock") { usleep(50_000) }
        return node
    }

    /// Ends a node this test started, by its pid.
    static func stopNode(_ node: Process) {
        if node.isRunning { kill(node.processIdentifier, SIGTERM); node.waitUntilExit() }
    }
}
