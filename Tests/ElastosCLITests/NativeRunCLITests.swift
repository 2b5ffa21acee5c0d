import ElastosCore
import Foundation
import Testing

/// Native capsules under the real runtime and the real bubblewrap: `elastos run` of the native
/// hello and of probe-native, which tries to get out (built by scripts/build-native-capsules.sh,
/// which scripts/test.sh runs).
@Suite(.serialized) struct NativeRunCLITests {
    let dir = TempDir()
    var cli: CLI { CLI(home: dir.path + "/home") }

    static var native: URL { CLI.packageRoot.appendingPathComponent("capsules/native") }
    static var hello: String { native.appendingPathComponent("hello-native").path }
    static var probe: String { native.appendingPathComponent("probe-native").path }

    func require(_ binary: String) throws {
        try #require(FileManager.default.isExecutableFile(atPath: binary),
                     "\(binary) is missing: run scripts/build-native-capsules.sh (scripts/test.sh does)")
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/bwrap"), "bubblewrap is not installed: apt install bubblewrap")
    }

    /// A copy of probe-native with other limits.
    func probeCopy(limits: String) throws -> String {
        try require(Self.probe + "/probe-native")
        let d = dir.path + "/probe-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.probe + "/probe-native", toPath: d + "/probe-native")
        let manifest = """
            {"schema":"elastos.capsule/v1","name":"probe-native","version":"0.1.0","type":"native","role":"app",
             "description":"probe with test limits","entrypoint":"probe-native","capabilities":[],"limits":\(limits)}
            """
        try manifest.write(toFile: d + "/capsule.json", atomically: true, encoding: .utf8)
        return d
    }

    @Test func nativeHelloRunsInsideBubblewrapAndPingsTheRuntime() throws {
        try require(Self.hello + "/hello")
        let r = try cli.run(["run", "--dev", Self.hello], stdin: "first line\nsecond line\n")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Hello from an Elastos capsule!"))
        #expect(r.stdout.contains("first line\nsecond line\n"))
        #expect(r.stdout.contains("ping: round trip"))
        #expect(r.stdout.contains("\"substrate\":\"native\""), "\(r.stdout)")
        let tail = try cli.run(["audit", "tail", "-n", "20"]).stdout
        #expect(tail.contains("capsule.launched") && tail.contains("on native") && tail.contains("capsule.ended"))
    }

    @Test func theProbeCannotReachTheNetworkTheHostsFilesOrTheKernelsDangerousCalls() throws {
        try require(Self.probe + "/probe-native")
        // A real listener on the host's loopback: the capsule must not get through to it.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(listener >= 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try #require(withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } } == 0)
        try #require(listen(listener, 8) == 0)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        let port = UInt16(bigEndian: address.sin_port)

        let r = try cli.run(["run", "--dev", Self.probe, "probe", String(port)])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        func line(_ prefix: String) -> String { lines.first { $0.hasPrefix("probe " + prefix + ":") } ?? "(no line for \(prefix))" }

        #expect(!r.stdout.contains("ALLOWED"), "\(r.stdout)")
        #expect(line("tcp-connect 127.0.0.1:\(port)").contains("refused"))
        var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        #expect(poll(&p, 1, 200) == 0, "a connection reached the host's listener")
        for path in ["/etc/shadow", "/etc/hostname", "/etc/passwd"] { #expect(line("read \(path)").contains("refused")) }
        for path in ["/work", "/root", "/home"] { #expect(line("list \(path)").contains("refused")) }
        #expect(line("write /capsule/probe-written").contains("Read-only file system"))
        for path in ["/probe-written", "/usr/probe-written", "/etc/probe-written", "/proc/probe-written"] {
            #expect(line("write \(path)").contains("refused"))
        }
        for what in ["ptrace attach 1", "unshare user namespace", "unshare mount namespace", "mount tmpfs", "ioctl TIOCSTI"] {
            #expect(line(what).contains("refused (Operation not permitted)"), "\(line(what))")
        }
        #expect(line("hostname") == "probe hostname: capsule")
        #expect(line("write /tmp/probe.txt").hasSuffix("ok"))
        #expect(line("ping") == "probe ping: ok")
        #expect(line("info").contains("\"substrate\":\"native\""))

        // Its own /data write landed in <home>/data/<name>/ and outlives the run.
        #expect(line("write /data/probe.txt").hasSuffix("ok"))
        let data = cli.home + "/data/probe-native"
        #expect((try? String(contentsOfFile: data + "/probe.txt", encoding: .utf8)) == "written by probe-native\n")
        var st = stat()
        #expect(stat(data, &st) == 0 && st.st_mode & 0o777 == 0o700)
        // The package stayed as it was.
        #expect(!FileManager.default.fileExists(atPath: Self.probe + "/probe-written"))
    }

    @Test func aNativeCapsuleHoldsOnlyItsStdioAndTheRuntimeSocket() throws {
        try require(Self.probe + "/probe-native")
        let r = try cli.run(["run", "--dev", Self.probe, "fds"])
        #expect(r.status == 0, "\(r.stderr)")
        // 0, 1, 2, the socket (3), and the descriptor opendir used to list them.
        #expect(r.stdout.contains("list /proc/self/fd: ALLOWED (5 entries"), "\(r.stdout)")
    }

    @Test func memoryPastTheManifestsLimitIsRefused() throws {
        let d = try probeCopy(limits: #"{"memory_mb":64,"cpu_ms":10000,"wall_ms":20000}"#)
        let small = try cli.run(["run", "--dev", d, "alloc", "8"])
        #expect(small.stdout.contains("alloc 8 MiB: ok"), "\(small.stdout)\(small.stderr)")
        let big = try cli.run(["run", "--dev", d, "alloc", "512"])
        #expect(big.stdout.contains("alloc 512 MiB: refused"), "\(big.stdout)\(big.stderr)")
    }

    @Test func aSpinningCapsuleIsStoppedByItsWallClockLimit() throws {
        let d = try probeCopy(limits: #"{"memory_mb":64,"cpu_ms":60000,"wall_ms":1500}"#)
        let start = ContinuousClock.now
        let r = try cli.run(["run", "--dev", d, "spin"])
        let elapsed = ContinuousClock.now - start
        #expect(r.status != 0)
        #expect(r.stdout.contains("spinning"))
        #expect(r.stderr.contains("stopped: wall-clock limit of 1500 ms reached"), "\(r.stderr)")
        #expect(elapsed < .seconds(15), "\(elapsed)")
        #expect(try cli.run(["audit", "tail", "-n", "10"]).stdout.contains("wall-clock limit"))
    }

    @Test func aSpinningCapsuleIsStoppedByItsCPULimit() throws {
        let d = try probeCopy(limits: #"{"memory_mb":64,"cpu_ms":400,"wall_ms":30000}"#)
        let start = ContinuousClock.now
        let r = try cli.run(["run", "--dev", d, "spin"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("CPU-time limit of 400 ms reached"), "\(r.stderr)")
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    @Test func aCapsuleDeafToSIGTERMIsKilledAfterTheGracePeriod() throws {
        let d = try probeCopy(limits: #"{"memory_mb":64,"cpu_ms":60000,"wall_ms":1000}"#)
        let start = ContinuousClock.now
        let r = try cli.run(["run", "--dev", d, "stubborn"])
        let elapsed = ContinuousClock.now - start
        #expect(r.status != 0)
        #expect(r.stdout.contains("deaf to SIGTERM"))
        #expect(r.stderr.contains("wall-clock limit of 1000 ms reached"), "\(r.stderr)")
        #expect(elapsed >= .milliseconds(2900) && elapsed < .seconds(15), "\(elapsed)")  // 1 s + the 2 s grace
    }

    @Test func psAndStopWorkForANativeCapsuleInsideTheNode() throws {
        let d = try probeCopy(limits: #"{"memory_mb":64,"cpu_ms":60000,"wall_ms":120000}"#)
        #expect(try cli.run(["capsule", "install", "--dev", d]).status == 0)
        let node = try cli.startNode()
        defer { CLI.stopNode(node) }

        let run = Process(), out = Pipe()
        run.executableURL = URL(fileURLWithPath: CLI.binary)
        run.arguments = ["run", "--home", cli.home, "probe-native", "spin"]
        run.standardInput = FileHandle.nullDevice
        run.standardOutput = out
        run.standardError = FileHandle.nullDevice
        try run.run()
        defer { if run.isRunning { kill(run.processIdentifier, SIGTERM); run.waitUntilExit() } }
        var session: [String: Any]? = nil
        for _ in 0..<200 {
            let ps = try cli.run(["ps", "--json"])
            let all = (try? JSONSerialization.jsonObject(with: Data(ps.stdout.utf8)) as? [[String: Any]]) ?? []
            session = all.first { $0["state"] as? String == "running" }
            if session != nil { break }
            usleep(50_000)
        }
        let running = try #require(session)
        #expect(running["substrate"] as? String == "native")
        #expect(running["capsule"] as? String == "probe-native")
        let id = try #require(running["id"] as? String)
        let stop = try cli.run(["stop", String(id.prefix(8))])
        #expect(stop.status == 0, "\(stop.stderr)")
        run.waitUntilExit()
        #expect(run.terminationStatus != 0)
        let after = (try? JSONSerialization.jsonObject(with: Data(try cli.run(["ps", "--json"]).stdout.utf8)) as? [[String: Any]]) ?? []
        let state = after.first { $0["id"] as? String == id }?["state"] as? String ?? "(gone)"
        #expect(state != "running", "\(state)")
        #expect(try cli.run(["audit", "tail", "-n", "40"]).stdout.contains("capsule.stop"))
    }
}
