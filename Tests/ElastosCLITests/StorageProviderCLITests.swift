import Foundation
import Testing

/// `localhost://storage/` served by the storage provider capsule (capsules/native/storage-provider,
/// built by scripts/build-native-capsules.sh) inside a real bubblewrap sandbox: `elastos node
/// --storage-provider`, WASM capsules calling through the runtime's checks, the operator's
/// `elastos storage` on the same store, and kill -9 of the provider in the middle of writes.
@Suite(.serialized) struct StorageProviderCLITests {
    let dir = TempDir()
    var cli: CLI { CLI(home: dir.path + "/home") }

    static var provider: String { NativeRunCLITests.native.appendingPathComponent("storage-provider").path }
    static var caller: String { CLI.packageRoot.appendingPathComponent("capsules/caller").path }
    /// The same caller built natively: fast enough in a debug runtime to make hundreds of writes.
    static var nativeCaller: String { NativeRunCLITests.native.appendingPathComponent("caller-native").path }

    func require() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.provider + "/storage-provider"),
                     "the storage provider capsule is missing: run scripts/build-native-capsules.sh (scripts/test.sh does)")
        try #require(FileManager.default.fileExists(atPath: Self.caller + "/caller.wasm"), "run scripts/build-capsules.sh")
        try #require(FileManager.default.isExecutableFile(atPath: Self.nativeCaller + "/caller"), "run scripts/build-native-capsules.sh")
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/bwrap"), "bubblewrap is not installed: apt install bubblewrap")
    }

    func startNode(_ args: [String]? = nil) throws -> Process {
        let node = try cli.startNode(args ?? ["--storage-provider", Self.provider, "--dev"])
        // The provider session shows up once it has started.
        for _ in 0..<400 {
            if providerSession() != nil { return node }
            usleep(50_000)
        }
        CLI.stopNode(node)
        throw CLIFailure("the storage provider capsule did not start")
    }

    /// The running storage-provider session's id prefix, as `elastos ps` shows it.
    func providerSession() -> String? {
        guard let ps = try? cli.run(["ps"]) else { return nil }
        return ps.stdout.split(separator: "\n").first { $0.contains("storage-provider") && $0.hasSuffix("running") }
            .map { String($0.prefix(8)) }
    }

    /// The caller capsule, granted its own namespace by the default policy, making one call.
    func call(_ path: String, _ action: String, body: String) throws -> String {
        let r = try cli.run(["run", "--dev", Self.caller, "localhost://storage/apps/caller/*", "read,write,delete",
                             "localhost://storage/apps/caller/" + path, action, "1", "body=" + body])
        return r.stdout.split(separator: "\n").map(String.init).first { $0.hasPrefix("call 1:") } ?? "(no call line) \(r.stdout) \(r.stderr)"
    }

    /// The provider capsule's process (inside its sandbox), found among the node's descendants.
    static func providerPID(under node: Int32) -> Int32? { CLI.descendant(named: "storage-provide", under: node) }

    @Test func capsulesReachStorageThroughTheProviderCapsule() throws {
        try require()
        let node = try startNode()
        defer { CLI.stopNode(node) }
        let put = try call("notes/today", "write", body: "put\nfrom the caller capsule")
        #expect(put.hasPrefix("call 1: ok: {\"kind\":\"file\",\"size\":23,"), "\(put)")
        #expect(try call("notes/today", "read", body: "") == "call 1: ok: from the caller capsule")
        #expect(try call("missing", "read", body: "").hasPrefix("call 1: not_found"))
        // `..` is resolved before the checks, and what it reaches is outside the token.
        let escape = try call("notes/../../x", "read", body: "")
        #expect(escape.hasPrefix("call 1: denied: token does not cover the requested resource"), "\(escape)")
        // The operator's tool sees the same encrypted store.
        let get = try cli.run(["storage", "get", "apps/caller/notes/today"])
        #expect(get.stdout == "from the caller capsule", "\(get.stderr)")
        let audit = try cli.run(["audit", "tail", "-n", "60"]).stdout
        #expect(audit.contains("provider.bound"), "\(audit)")
        // It is the capsule that answers: killed, it is replaced by a new provider session that
        // serves the same store, and the restart is audited.
        let first = try #require(providerSession())
        let pid = try #require(Self.providerPID(under: node.processIdentifier), "no storage-provider process under the node")
        kill(pid, SIGKILL)
        var second: String?
        for _ in 0..<200 {
            if let s = providerSession(), s != first { second = s; break }
            usleep(50_000)
        }
        #expect(second != nil, "no new provider session after kill -9 of \(first)")
        #expect(try call("notes/today", "read", body: "") == "call 1: ok: from the caller capsule")
        #expect(try cli.run(["audit", "tail", "-n", "80"]).stdout.contains("provider.restarted"))
    }

    /// `elastos node` with no flag serves storage from the installed storage-provider capsule
    /// (scripts/install.sh installs it); `--in-process-storage` opts out.
    @Test func anInstalledStorageProviderIsUsedByDefault() throws {
        try require()
        let installed = try cli.run(["capsule", "install", "--dev", Self.provider])
        #expect(installed.status == 0, "\(installed.stderr)")
        do {
            let node = try startNode([])
            defer { CLI.stopNode(node) }
            #expect(try call("notes/default", "write", body: "put\nvia the installed provider").contains(": ok: "))
            #expect(try cli.run(["audit", "tail", "-n", "60"]).stdout.contains("provider.bound"))
        }
        let node = try cli.startNode(["--in-process-storage"])
        defer { CLI.stopNode(node) }
        #expect(try call("notes/default", "read", body: "") == "call 1: ok: via the installed provider")
        #expect(providerSession() == nil)
    }

    @Test func killDashNineOfTheProviderDuringWritesLeavesTheOldOrTheNewContent() throws {
        try require()
        let size = 48 << 10
        for round in 0..<4 {
            let old = String(repeating: Character(UnicodeScalar(UInt8(0x61 + 2 * round))), count: size)
            let new = String(repeating: Character(UnicodeScalar(UInt8(0x62 + 2 * round))), count: size)
            let put = try cli.run(["storage", "put", "apps/caller-native/big"], stdin: old)
            #expect(put.status == 0, "\(put.stderr)")
            let node = try startNode()
            defer { CLI.stopNode(node) }
            // A capsule rewriting the file over and over, one line per answered write, with
            // `step`: it writes only when the test sends a line, so the test knows writes are
            // under way before it kills the provider.
            let writer = Process()
            writer.executableURL = URL(fileURLWithPath: CLI.binary)
            writer.arguments = ["run", "--dev", Self.nativeCaller, "localhost://storage/apps/caller-native/*", "read,write",
                                "localhost://storage/apps/caller-native/big", "write", "400", "step", "body=put\n" + new,
                                "--home", cli.home]
            let input = Pipe(), output = Pipe()
            writer.standardInput = input
            writer.standardOutput = output
            writer.standardError = FileHandle.nullDevice
            try writer.run()
            // Ten writes first, answered one by one.
            let reader = output.fileHandleForReading
            var seen = Data()
            func lines() -> [Substring] { String(decoding: seen, as: UTF8.self).split(separator: "\n") }
            for i in 1...10 {
                input.fileHandleForWriting.write(Data("\n".utf8))
                while !lines().contains(where: { $0.hasPrefix("call \(i): ") }) {
                    let chunk = reader.availableData
                    if chunk.isEmpty { break }
                    seen += chunk
                }
            }
            // Then the rest as fast as the provider takes them, and kill -9 somewhere among them.
            input.fileHandleForWriting.write(Data(String(repeating: "\n", count: 390).utf8))
            usleep(UInt32.random(in: 5_000...150_000))
            let pid = try #require(Self.providerPID(under: node.processIdentifier))
            kill(pid, SIGKILL)
            input.fileHandleForWriting.closeFile()
            seen += reader.readDataToEndOfFile()
            writer.waitUntilExit()
            let all = lines()
            let ok = all.filter { $0.hasPrefix("call ") && $0.contains(": ok") }.count
            let failed = all.filter { $0.contains("provider_failed") || $0.contains("timed_out") }.count
            // Every write was answered: by the killed provider, as failed (at most the one it
            // held), or by its replacement; the kill landed inside the run.
            #expect(ok >= 10 && failed <= 1 && ok + failed == 400,
                    "round \(round): \(ok) answered, \(failed) failed: \(all.suffix(2).map { $0.prefix(100) })")
            #expect(try cli.run(["audit", "tail", "-n", "1000"]).stdout.contains("provider.restarted"), "round \(round)")
            CLI.stopNode(node)
            let get = try cli.run(["storage", "get", "apps/caller-native/big"])
            #expect(get.status == 0, "round \(round): \(get.stderr)")
            #expect(get.stdout == old || get.stdout == new, "round \(round): \(get.stdout.prefix(40))… (\(get.stdout.utf8.count) bytes)")
        }
    }
}

extension CLI {
    /// A process whose name (`/proc/<pid>/comm`, 15 characters at most) is `name`, among the
    /// descendants of `ancestor` (within ten generations: bubblewrap adds a few).
    static func descendant(named name: String, under ancestor: Int32) -> Int32? {
        let all = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap { Int32($0) } ?? []
        func parent(_ pid: Int32) -> Int32? {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            return stat[stat.index(after: close)...].split(separator: " ").dropFirst(1).first.flatMap { Int32($0) }
        }
        for pid in all {
            guard let comm = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8),
                  comm.trimmingCharacters(in: .whitespacesAndNewlines) == name else { continue }
            var p: Int32? = pid
            for _ in 0..<10 {
                guard let q = p.flatMap(parent), q > 1 else { break }
                if q == ancestor { return pid }
                p = q
            }
        }
        return nil
    }
}

struct CLIFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
