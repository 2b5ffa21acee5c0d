import CapsuleWire
import ElastosWasm
import Foundation
import Synchronization
import Testing
import WAT

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A handler that answers `ping`, `info`, echoes `call` bodies, grants nothing, and records
/// every request and refusal.
final class RecordingHandler: CapsuleRequestHandler {
    private let state = Mutex<(requests: [(UInt32, CapsuleRequest)], refusals: [SandboxRefusal])>(([], []))
    let name: String

    init(name: String = "test-session-1") { self.name = name }

    func handle(_ request: CapsuleRequest, id: UInt32) -> RuntimeMessage {
        state.withLock { $0.requests.append((id, request)) }
        switch request {
        case .ping: return .reply(body: [])
        case .info: return .reply(body: Array("{\"session\":\"\(name)\",\"substrate\":\"wasm\",\"protocol\":1}".utf8))
        case .call(_, _, let token, let body):
            return token.isEmpty ? .error(code: .missingToken, message: "no token") : .reply(body: body)
        case .requestCapability: return .error(code: .capabilityRefused, message: "nothing is granted in tests")
        case .subscribe: return .reply(body: [0, 0, 0, 1])
        case .unsubscribe: return .reply(body: [])
        case .served, .serveFailed: return .error(code: .invalidRequest, message: "no call to answer")
        }
    }

    func sandboxRefused(_ refusal: SandboxRefusal) { state.withLock { $0.refusals.append(refusal) } }

    var requests: [(id: UInt32, request: CapsuleRequest)] { state.withLock { $0.requests.map { (id: $0.0, request: $0.1) } } }
    var refusals: [SandboxRefusal] { state.withLock { $0.refusals } }
}

/// Guests written in WAT for the substrate's own tests (tiny, so a debug WasmKit runs them fast).
/// Memory map: 0–15 scratch (iovec, nwritten, a value to print), data from 1024, buffers from 4096.
enum WATGuest {
    static func module(_ body: String, data: String = "", pages: Int = 1, maxPages: Int? = nil, extra: String = "") throws -> [UInt8] {
        let memory = maxPages.map { "(memory (export \"memory\") \(pages) \($0))" } ?? "(memory (export \"memory\") \(pages))"
        let text = """
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
          (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
          (import "elastos" "send" (func $send (param i32 i32) (result i32)))
          (import "elastos" "recv" (func $recv (param i32 i32 i32) (result i32)))
          \(memory)
          (func $print (param $ptr i32) (param $len i32) (result i32)
            (i32.store (i32.const 0) (local.get $ptr))
            (i32.store (i32.const 4) (local.get $len))
            (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
          (func $print_i32 (param $v i32)
            (i32.store (i32.const 12) (local.get $v))
            (drop (call $print (i32.const 12) (i32.const 4))))
          \(extra)
          \(data)
          (func (export "_start") (local $n i32) (local $i i32) (local $fd i32)
            \(body)))
        """
        return try wat2wasm(text)
    }

    /// A frame as a WAT data string.
    static func data(at offset: Int, _ bytes: [UInt8]) -> String {
        "(data (i32.const \(offset)) \"" + bytes.map { "\\" + (($0 < 16 ? "0" : "") + String($0, radix: 16)) }.joined() + "\")"
    }
}

/// What a finished run left behind.
struct RunResult {
    let exit: WasmExit
    let stdout: [UInt8]
    let stderr: [UInt8]
    let elapsed: Duration

    var stdoutText: String { String(decoding: stdout, as: UTF8.self) }

    /// Little-endian i32 values the WAT guests print with `$print_i32`, starting at `offset`.
    func int32(at offset: Int) -> Int32? {
        guard stdout.count >= offset + 4 else { return nil }
        return Int32(bitPattern: UInt32(stdout[offset]) | UInt32(stdout[offset + 1]) << 8 | UInt32(stdout[offset + 2]) << 16 | UInt32(stdout[offset + 3]) << 24)
    }
}

/// Collects everything written to a pipe, on a thread of its own.
final class PipeReader: @unchecked Sendable {
    let readFD: Int32
    let writeFD: Int32
    private let done = DispatchSemaphore(value: 0)
    private let data = Mutex<[UInt8]>([])

    init() {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0, "pipe() failed")
        readFD = fds[0]; writeFD = fds[1]
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(readFD, &buffer, buffer.count)
                if n <= 0 { break }
                data.withLock { $0.append(contentsOf: buffer[0..<n]) }
            }
            done.signal()
        }
        thread.start()
    }

    /// Closes the write end and returns what was read once the reader reaches EOF.
    func finish() -> [UInt8] {
        close(writeFD)
        done.wait()
        close(readFD)
        return data.withLock { $0 }
    }

    var soFar: [UInt8] { data.withLock { $0 } }
}

/// A pipe the test writes into and the guest reads as stdin.
final class InputPipe {
    let readFD: Int32
    private(set) var writeFD: Int32

    init() {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0, "pipe() failed")
        readFD = fds[0]; writeFD = fds[1]
    }

    func write(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(writeFD, $0.baseAddress, $0.count) }
    }

    func closeWriting() {
        if writeFD >= 0 { close(writeFD); writeFD = -1 }
    }

    deinit {
        closeWriting()
        close(readFD)
    }
}

/// Runs a guest with stdout and stderr captured. `during` runs on the caller's task while the
/// guest runs (to stop it, push events, feed stdin).
func runGuest(_ module: [UInt8], handler: any CapsuleRequestHandler = RecordingHandler(),
              configure: (inout WasmLaunch) -> Void = { _ in },
              during: @Sendable (WasmCapsule) async throws -> Void = { _ in }) async throws -> RunResult {
    let out = PipeReader(), err = PipeReader()
    var launch = WasmLaunch(module: module, stdout: .fileDescriptor(out.writeFD), stderr: .fileDescriptor(err.writeFD))
    configure(&launch)
    let capsule: WasmCapsule
    do { capsule = try WasmCapsule(launch, handler: handler) } catch {
        _ = out.finish(); _ = err.finish()
        throw error
    }
    // Timed on the guest's own thread, so a busy test pool does not count against the limits.
    async let outcome = withCheckedContinuation { (c: CheckedContinuation<(WasmExit, Duration), Never>) in
        let thread = Thread {
            let start = ContinuousClock.now
            let exit = capsule.run()
            c.resume(returning: (exit, ContinuousClock.now - start))
        }
        thread.stackSize = 8 << 20
        thread.start()
    }
    try await during(capsule)
    let (exit, elapsed) = await outcome
    return RunResult(exit: exit, stdout: out.finish(), stderr: err.finish(), elapsed: elapsed)
}

/// Decodes every frame in `bytes`.
func frames(in bytes: [UInt8]) throws -> [CapsuleFrame] {
    var decoder = FrameStreamDecoder()
    decoder.append(bytes)
    var result: [CapsuleFrame] = []
    while let item = try decoder.next() {
        if case .frame(let f) = item { result.append(f) }
    }
    return result
}

/// A scratch directory removed at the end of the test.
final class TempDir {
    let path: String
    init(_ label: String = "wasm") {
        let template = NSTemporaryDirectory() + "elastos-\(label)-XXXXXX"
        var bytes = Array(template.utf8CString)
        guard let p = mkdtemp(&bytes) else { fatalError("mkdtemp failed") }
        path = String(cString: p)
    }
    func write(_ name: String, _ text: String) throws {
        let url = URL(fileURLWithPath: path + "/" + name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }
    func read(_ name: String) -> String? {
        (try? Data(contentsOf: URL(fileURLWithPath: path + "/" + name))).map { String(decoding: $0, as: UTF8.self) }
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}
