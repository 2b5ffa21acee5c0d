#if canImport(Glibc)
import Glibc
#endif
import ElastosNode
import ElastosStorage
import Foundation
import Testing

@Suite(.serialized) struct StorageCLITests {
    let dir = TempDir()
    var home: String { dir.path + "/home" }
    var cli: CLI { CLI(home: home) }

    @Test func putGetListAndRemoveThroughTheCommandLine() throws {
        let put = try cli.run(["storage", "put", "localhost://storage/apps/notes/todo/today.txt"], stdin: "buy milk\n")
        #expect(put.status == 0, "\(put.stderr)")
        #expect(put.stdout.hasPrefix("stored 9 bytes at localhost://storage/apps/notes/todo/today.txt"))
        let get = try cli.run(["storage", "get", "apps/notes/todo/today.txt"])
        #expect(get.status == 0 && get.stdout == "buy milk\n")
        // --file in, --out out (0600).
        let source = dir.path + "/source.txt"
        try Data("from a file".utf8).write(to: URL(fileURLWithPath: source))
        #expect(try cli.run(["storage", "put", "apps/notes/b", "--file", source]).status == 0)
        let out = dir.path + "/out.txt"
        #expect(try cli.run(["storage", "get", "apps/notes/b", "--out", out]).status == 0)
        #expect(FileManager.default.contents(atPath: out) == Data("from a file".utf8))
        var st = stat()
        #expect(stat(out, &st) == 0 && st.st_mode & 0o777 == 0o600)
        let ls = try cli.run(["storage", "ls", "localhost://storage/apps/notes"])
        #expect(ls.status == 0)
        #expect(ls.stdout.split(separator: "\n").map { $0.split(separator: " ").last.map(String.init) ?? "" } == ["b", "todo/"])
        #expect(ls.stdout.contains("          11  v"))
        // rm, then get is a one-line error.
        #expect(try cli.run(["storage", "rm", "apps/notes/b"]).status == 0)
        let gone = try cli.run(["storage", "get", "apps/notes/b"])
        #expect(gone.status != 0)
        #expect(gone.stderr.contains("apps/notes/b: /b does not exist"))
        #expect(gone.stderr.split(separator: "\n").count == 1)
        // The data really is in the node's store.
        let store = try EncryptedStore(home: NodeHome(path: home))
        #expect(try store.read(try StorageAddress(parsing: "apps/notes/todo/today.txt")) == Array("buy milk\n".utf8))
    }

    @Test func badAddressesAndTamperingAreOneLineErrors() throws {
        for bad in ["apps/x/../../etc/passwd", "/etc/passwd", "localhost://storage/apps/x/%2E%2E/y", "apps/UPPER/x"] {
            let r = try cli.run(["storage", "put", bad], stdin: "x")
            #expect(r.status != 0, "\(bad)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(bad): \(r.stderr)")
        }
        #expect(try cli.run(["storage", "put", "apps/t/a"], stdin: "original").status == 0)
        // Flip a byte in every object file: get reports an integrity failure and prints nothing.
        let storage = home + "/storage"
        for sub in try FileManager.default.contentsOfDirectory(atPath: storage) where sub != "master.key" {
            for f in try FileManager.default.contentsOfDirectory(atPath: storage + "/" + sub) where f != "index" && f != "lock" {
                var b = try [UInt8](Data(contentsOf: URL(fileURLWithPath: storage + "/" + sub + "/" + f)))
                b[b.count - 1] ^= 1
                try Data(b).write(to: URL(fileURLWithPath: storage + "/" + sub + "/" + f))
            }
        }
        let r = try cli.run(["storage", "get", "apps/t/a"])
        #expect(r.status != 0 && r.stdout.isEmpty)
        #expect(r.stderr.contains("integrity check failed"))
        // An exposed master key is refused.
        chmod(storage + "/master.key", 0o644)
        let exposed = try cli.run(["storage", "ls", "apps/t"])
        #expect(exposed.status != 0 && exposed.stderr.contains("accessible to other users"))
    }

    /// `elastos storage put` of 32 MiB from stdin, killed with SIGKILL at random moments: the
    /// object always reads back as exactly the old or the new content.
    @Test func killDashNineDuringAPutLeavesTheOldOrTheNewContent() throws {
        let size = 32 << 20
        let a = try StorageAddress(parsing: "apps/crash/big")
        var inputs: [String] = []
        for fill in [UInt8(0x41), 0x42] {
            let path = dir.path + "/input-\(fill)"
            try Data(repeating: fill, count: size).write(to: URL(fileURLWithPath: path))
            inputs.append(path)
        }
        func put(_ input: String, killAfter seconds: Double?) throws -> (status: Int32, elapsed: Double) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CLI.binary)
            p.arguments = ["storage", "put", a.uri, "--home", home]
            p.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: input))
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            let start = ContinuousClock.now
            try p.run()
            if let seconds {
                usleep(UInt32(seconds * 1_000_000))
                kill(p.processIdentifier, SIGKILL)
            }
            p.waitUntilExit()
            let d = ContinuousClock.now - start
            return (p.terminationStatus, Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
        }
        // The old content, written to completion; its time sets the range of kill moments.
        let full = try put(inputs[0], killAfter: nil)
        #expect(full.status == 0)
        var current: UInt8 = 0x41
        var outcomes: [String] = []
        for iteration in 0..<8 {
            let next: UInt8 = current == 0x41 ? 0x42 : 0x41
            // Random moments, spread from early (still reading stdin) to past the commit.
            let moment = full.elapsed * (0.3 + (Double(iteration) + Double.random(in: 0..<1)) / 8)
            let r = try put(inputs[next == 0x41 ? 0 : 1], killAfter: moment)
            let store = try EncryptedStore(home: NodeHome(path: home))  // a fresh open: collects leftovers
            let content = try store.read(a)
            let isOld = content.count == size && content.allSatisfy { $0 == current }
            let isNew = content.count == size && content.allSatisfy { $0 == next }
            #expect(isOld || isNew, "iteration \(iteration): killed after \(moment) s, read \(content.count) bytes of neither")
            outcomes.append(String(format: "%.2fs→%@", moment, isNew ? "new" : "old") + (r.status == 0 ? "(finished)" : ""))
            if isNew { current = next }
        }
        print("kill -9 during put (full put \(String(format: "%.2f", full.elapsed)) s): " + outcomes.joined(separator: ", "))
        // No temp file or orphan survives a reopen.
        let storage = home + "/storage"
        for sub in try FileManager.default.contentsOfDirectory(atPath: storage) where sub != "master.key" {
            let names = try FileManager.default.contentsOfDirectory(atPath: storage + "/" + sub)
            #expect(!names.contains { $0.hasPrefix(".tmp-") })
            #expect(names.filter { $0 != "index" && $0 != "lock" }.count == 1)
        }
    }
}
