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

    func startNode() throws -> Process {
        let node = try cli.startNode(["--storage-provider", Self.provider, "--dev"])
        // The provider session shows up once it has started.
        for _ in 0..<400 {
            if let ps = try? cli.run(["ps"]), ps.stdout.contains("storage-provider"), ps.stdout.contains("running") { return node }
            usleep(50_000)
        }
        CLI.stopNode(node)
        throw CLIFailure("the storage provider capsule did not start")
    }

    /// The caller capsule, granted its own namespace by the default policy, making one call.
    func call(_ path: String, _ action: String, body: String) throws -> String {
        let r = try cli.run(["run", "--dev", Self.caller, "localhost://storage/apps/caller/*", "read,write,delete",
                             "localhost://storage/apps/caller/" + path, action, "1", "body=" + body])
        return r.stdout.split(separator: "\n").map(String.init).first { $0.hasPrefix("call 1:") } ?? "(no call line) \(r.stdout) \(r.stderr)"
    }

    /// The provider capsule's process (inside its sandbox), found among the node's descendants.
    static func providerPID(under node: Int32) -> Int32? {
        let all = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap { Int32($0) } ?? []
        func parent(_ pid: Int32) -> Int32? {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            return stat[stat.index(after: close)...].split(separator: " ").dropFirst(1).first.flatMap { Int32($0) }
        }
        for pid in all {
            guard let comm = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8),
                  comm.trimmingCharacters(in: .whitespacesAndNewlines) == "storage-provide" else { continue }
            var p: Int32? = pid
            for _ in 0..<10 {
                guard let q = p.flatMap(parent), q > 1 else { break }
                if q == node { return pid }
                p = q
            }
        }
        return nil
    }

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
        // It is the capsule that answers: without it, calls fail and nothing else serves them.
        let pid = try #require(Self.providerPID(under: node.processIdentifier), "no storage-provider process under the node")
        kill(pid, SIGKILL)
        var after = ""
        for _ in 0..<100 {
            after = try call("notes/today", "read", body: "")
            if after.contains("provider_failed") { break }
            usleep(50_000)
        }
        #expect(after.hasPrefix("call 1: provider_failed"), "\(after)")
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
            #expect(ok >= 10 && failed >= 1, "round \(round): \(ok) answered, \(failed) failed: \(all.suffix(2).map { $0.prefix(100) })")
            CLI.stopNode(node)
            let get = try cli.run(["storage", "get", "apps/caller-native/big"])
            #expect(get.status == 0, "round \(round): \(get.stderr)")
            #expect(get.stdout == old || get.stdout == new, "round \(round): \(get.stdout.prefix(40))… (\(get.stdout.utf8.count) bytes)")
        }
    }
}

struct CLIFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
