import Foundation
import Testing

/// The real Swift capsules (capsules/hello, capsules/intruder) under a release build of the
/// substrate: `swift test` builds WasmKit in debug, which is 100× slower, so these run the
/// release-built `elastos-wasm-run` (built here on first use, into .build-wasm-run) on modules
/// built by scripts/build-capsules.sh. If either cannot be built the tests fail saying why.
enum Fixtures {
    /// The package root (this file is Tests/ElastosWasmTests/SwiftCapsuleTests.swift).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    struct BuildFailure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs a command in the package root; its combined output on failure.
    static func sh(_ command: String) -> Result<String, BuildFailure> {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", command]
        p.currentDirectoryURL = URL(fileURLWithPath: root)
        let out = Pipe()
        p.standardOutput = out; p.standardError = out
        do { try p.run() } catch { return .failure(BuildFailure(description: "cannot run \(command): \(error)")) }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0 else {
            return .failure(BuildFailure(description: "`\(command)` failed (\(p.terminationStatus)):\n" + String(text.suffix(3000))))
        }
        return .success(text)
    }

    /// Built once per test process, whichever test gets here first.
    static let capsules: Result<String, BuildFailure> = sh("scripts/build-capsules.sh hello intruder").map { _ in root + "/capsules" }

    static let runner: Result<String, BuildFailure> = {
        let build = "swift build -c release --product elastos-wasm-run --scratch-path .build-wasm-run"
        return sh(build).flatMap { _ in sh(build + " --show-bin-path") }.map { (output: String) -> String in
            let dir = output.split(separator: "\n").last.map(String.init) ?? ""
            return dir.trimmingCharacters(in: .whitespaces) + "/elastos-wasm-run"
        }
    }()

    static func require() throws -> (runner: String, capsules: String) {
        let r: String, c: String
        switch runner {
        case .success(let v): r = v
        case .failure(let e): throw FixtureError(what: "the release elastos-wasm-run", why: e.description)
        }
        switch capsules {
        case .success(let v): c = v
        case .failure(let e): throw FixtureError(what: "the Swift capsules", why: e.description)
        }
        return (r, c)
    }

    struct FixtureError: Error, CustomStringConvertible {
        let what: String, why: String
        var description: String { "could not build \(what) for this test:\n\(why)" }
    }
}

struct RunnerResult {
    let status: Int32
    let stdout: String
    let stderr: String
    let elapsed: Duration
    var lines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty } }
    var audit: [String] { stderr.split(separator: "\n").map(String.init).filter { $0.hasPrefix("audit: ") } }
    /// The runner's closing line: how the guest ended.
    var ending: String { stderr.split(separator: "\n").last { $0.hasPrefix("elastos-wasm-run: ") }.map { String($0.dropFirst(18)) } ?? "" }
}

/// Runs `capsule` (a name under capsules/) with the release runner. The blocking parts (building
/// the fixtures the first time, waiting for the process) happen on a thread of their own, never
/// on the cooperative pool the other tests need.
func runCapsule(_ capsule: String, _ options: [String] = [], args: [String] = [], stdin: String? = nil) async throws -> RunnerResult {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<RunnerResult, any Error>) in
        Thread {
            do { c.resume(returning: try runCapsuleBlocking(capsule, options, args: args, stdin: stdin)) } catch { c.resume(throwing: error) }
        }.start()
    }
}

func runCapsuleBlocking(_ capsule: String, _ options: [String], args: [String], stdin: String?) throws -> RunnerResult {
    let (runner, dir) = try Fixtures.require()
    let p = Process()
    p.executableURL = URL(fileURLWithPath: runner)
    p.arguments = ["\(dir)/\(capsule)/\(capsule).wasm"] + options + (args.isEmpty ? [] : ["--"] + args)
    let input = Pipe(), out = Pipe(), err = Pipe()
    p.standardInput = stdin == nil ? FileHandle.nullDevice : input
    p.standardOutput = out; p.standardError = err
    let start = ContinuousClock.now
    try p.run()
    if let stdin {
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
    }
    // Read both pipes concurrently so neither fills up.
    nonisolated(unsafe) var errData = Data()
    let errDone = DispatchSemaphore(value: 0)
    Thread { errData = err.fileHandleForReading.readDataToEndOfFile(); errDone.signal() }.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    errDone.wait()
    p.waitUntilExit()
    return RunnerResult(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                        stderr: String(decoding: errData, as: UTF8.self), elapsed: ContinuousClock.now - start)
}

@Suite(.timeLimit(.minutes(30))) struct HelloCapsuleTests {
    @Test func helloGreetsEchoesStdinPingsAndPrintsInfo() async throws {
        let r = try await runCapsule("hello", stdin: "first line\nsecond line\n")
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.lines
        guard lines.count == 5 else { Issue.record("unexpected output:\n\(r.stdout)\n\(r.stderr)"); return }
        #expect(lines[0] == "Hello from an Elastos capsule!")
        #expect(lines[1] == "first line")
        #expect(lines[2] == "second line")
        #expect(lines[3].hasPrefix("ping: round trip ") && lines[3].hasSuffix(" µs"))
        #expect(lines[4] == #"info: {"session":"wasm-session-1","capsule":"hello","cid":"","substrate":"wasm","protocol":1}"#)
        #expect(r.ending == "exited with code 0")
    }

    @Test func helloEchoesAThousandPipedLinesInOrder() async throws {
        let input = (1...1000).map { "line \($0) " + String(repeating: "x", count: $0 % 50) }
        let r = try await runCapsule("hello", stdin: input.joined(separator: "\n") + "\n")
        #expect(r.status == 0)
        #expect(Array(r.lines.dropFirst().prefix(1000)) == input)
    }

    @Test func helloWithoutInputStillPings() async throws {
        let r = try await runCapsule("hello", ["--stdin", "null"])
        #expect(r.status == 0)
        #expect(r.lines.count == 3)
        #expect(r.lines.dropFirst().first?.hasPrefix("ping: ") == true)
    }
}

/// Each intruder step is refused or stopped, and every refusal is audited.
@Suite(.timeLimit(.minutes(30))) struct IntruderCapsuleTests {
    static let checked = ["--handler", "checked", "--mint-tokens", "--audit"]

    @Test(arguments: [
        (step: "no-token", refusals: 1, audit: ["capability.missing_token deny"]),
        (step: "garbage-token", refusals: 2, audit: ["capability.denied.version deny", "capability.denied.malformed deny"]),
        (step: "other-token", refusals: 1, audit: ["capability.denied.holder deny"]),
        (step: "expired-token", refusals: 1, audit: ["capability.denied.expiry deny"]),
        (step: "widened-token", refusals: 3, audit: ["capability.allowed allow", "capability.denied.action deny",
                                                      "capability.denied.resource deny", "capability.denied.signature deny"]),
    ])
    func callsWithoutAValidTokenAreDeniedAndAudited(step: String, refusals: Int, audit: [String]) async throws {
        let r = try await runCapsule("intruder", Self.checked, args: [step])
        #expect(r.status == 0, "a call got through:\n\(r.stdout)")
        #expect(r.lines.filter { $0.contains(": refused, ") }.count == refusals, "\(r.stdout)")
        #expect(!r.stdout.contains("ALLOWED"))
        #expect(r.audit.count == audit.count, "\(r.audit)")
        for (line, expected) in zip(r.audit, audit) {
            #expect(line.hasPrefix("audit: " + expected), "\(line)")
        }
    }

    @Test func malformedFramesAndBadPointersAreRefusedAndTheCapsuleGoesOn() async throws {
        let malformed = try await runCapsule("intruder", ["--audit"], args: ["malformed-frame"])
        #expect(malformed.status == 0, "\(malformed.stdout)")
        #expect(malformed.stdout.contains("malformed-frame: refused, reply to id 42: malformed_frame"))
        #expect(malformed.stdout.contains("the connection still works"))
        #expect(malformed.audit.contains { $0.contains("sandbox.refused malformed frame (id 42)") })
        let pointers = try await runCapsule("intruder", ["--audit"], args: ["bad-pointer"])
        #expect(pointers.status == 0)
        #expect(pointers.stdout.contains("send outside memory returned -1, recv outside memory returned -1"))
        #expect(pointers.audit.count == 2)
    }

    @Test func readsOutsideThePreopensAreRefused() async throws {
        let dir = TempDir("intruder")
        try dir.write("outside.txt", "secret")
        try dir.write("box/notes.txt", "notes")
        try dir.write("box/sub/inner.txt", "inner")
        let r = try await runCapsule("intruder", ["--dir", "\(dir.path)/box:/data", "--audit"], args: ["read-outside"])
        #expect(r.status == 0, "\(r.stdout)")
        #expect(!r.stdout.contains("OPENED"))
        #expect(r.lines.filter { $0.hasPrefix("read-outside: ") && $0.contains("refused") }.count == 7)
        #expect(r.audit.filter { $0.contains("lies outside the preopened directories") }.count == 4)
        #expect(r.audit.filter { $0.contains("is not an open directory of the capsule's") }.count == 3, "\(r.audit)")
    }

    @Test func writesToAReadOnlyPreopenAreRefused() async throws {
        let dir = TempDir("intruder")
        try dir.write("box/notes.txt", "notes")
        let r = try await runCapsule("intruder", ["--dir", "\(dir.path)/box:/data:ro", "--audit"], args: ["write-readonly"])
        #expect(r.status == 0, "\(r.stdout)")
        #expect(r.lines.filter { $0.contains("refused (EROFS)") }.count == 5, "\(r.stdout)")
        #expect(r.audit.filter { $0.contains("read-only preopen") }.count == 5)
        #expect(dir.read("box/notes.txt") == "notes")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/box") == ["notes.txt"])
    }

    @Test func allocatingPastTheMemoryCapStopsTheCapsule() async throws {
        let r = try await runCapsule("intruder", ["--memory-mb", "16", "--audit"], args: ["memory"])
        #expect(r.ending == "stopped: memory limit of 16 MiB exceeded", "\(r.stderr)")
        #expect(r.status == 137)
        #expect(r.stdout.hasPrefix("memory: allocating"))
        #expect(r.audit.contains { $0.contains("memory growth to") && $0.contains("refused (limit 16 MiB)") })
    }

    @Test func spinningForeverIsStoppedByTheWallClock() async throws {
        let r = try await runCapsule("intruder", ["--wall-ms", "1000"], args: ["spin"])
        #expect(r.ending == "stopped: wall-clock limit of 1 s exceeded", "\(r.stderr)")
        #expect(r.status == 142)
        #expect(r.elapsed < .seconds(2), "took \(r.elapsed)")
    }

    @Test func spinningForeverIsStoppedByFuel() async throws {
        let r = try await runCapsule("intruder", ["--fuel", "100000000"], args: ["spin"])
        #expect(r.ending == "stopped: instruction budget (fuel) exhausted", "\(r.stderr)")
        #expect(r.status == 152)
    }
}
