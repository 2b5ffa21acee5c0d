/// How a run of a WASM capsule ended. Every way a guest can fail is one of these; none of them
/// takes the host down.
public enum WasmExit: Sendable, Equatable, CustomStringConvertible {
    /// The guest returned from `_start` (code 0) or called `proc_exit(code)`.
    case exited(code: Int32)
    /// The guest trapped (`unreachable`, an out-of-bounds access, a division by zero, a stack
    /// overflow, …). `reason` is WasmKit's, with the innermost function when it is known.
    case trapped(reason: String)
    /// The guest trapped after the host refused to grow its memory past `limit` bytes (an
    /// allocation that could not be satisfied), or its initial memory is over the limit.
    case memoryLimitExceeded(limit: Int)
    /// The instruction budget (``WasmLaunch/fuel``) ran out.
    case fuelExhausted
    /// The watchdog stopped the guest at ``WasmLaunch/wallClockLimit``.
    case wallClockExceeded(Duration)
    /// The guest's thread used up its CPU-time budget.
    case cpuTimeExceeded(Duration)
    /// ``WasmCapsule/stop(reason:)`` was called.
    case stopped(reason: String)
    /// The guest never ran: it could not be instantiated (a wrong import signature, a start
    /// function that trapped, a preopen that vanished, a second `run()`).
    case failedToStart(reason: String)

    public var description: String {
        switch self {
        case .exited(let code): "exited with code \(code)"
        case .trapped(let reason): "trapped: \(reason)"
        case .memoryLimitExceeded(let limit): "stopped: memory limit of \(WasmExit.bytes(limit)) exceeded"
        case .fuelExhausted: "stopped: instruction budget (fuel) exhausted"
        case .wallClockExceeded(let d): "stopped: wall-clock limit of \(WasmExit.seconds(d)) exceeded"
        case .cpuTimeExceeded(let d): "stopped: CPU-time limit of \(WasmExit.seconds(d)) exceeded"
        case .stopped(let reason): "stopped: \(reason)"
        case .failedToStart(let reason): "failed to start: \(reason)"
        }
    }

    static func bytes(_ n: Int) -> String {
        n % (1 << 20) == 0 ? "\(n >> 20) MiB" : n % 1024 == 0 ? "\(n >> 10) KiB" : "\(n) bytes"
    }

    static func seconds(_ d: Duration) -> String {
        let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
        return ms % 1000 == 0 ? "\(ms / 1000) s" : "\(ms) ms"
    }
}

/// Why a module cannot be run at all. Thrown by ``WasmCapsule/init(_:handler:)`` before
/// anything executes.
public enum WasmError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidModule(String)
    case missingExport(String)
    case unsupportedImport(module: String, name: String)
    case importSignatureMismatch(module: String, name: String, expected: String, found: String)
    case invalidLimit(String)
    case invalidPreopen(hostPath: String, reason: String)

    public var description: String {
        switch self {
        case .invalidModule(let why):
            "not a valid WebAssembly module: \(why)"
        case .missingExport(let name):
            "the module does not export '\(name)' (a capsule must be a WASI command: build it as an executable, not a reactor or library)"
        case .unsupportedImport(let module, let name):
            "the module imports \(module).\(name), which this runtime does not provide (capsules may import wasi_snapshot_preview1 functions and elastos.send / elastos.recv only)"
        case .importSignatureMismatch(let module, let name, let expected, let found):
            "the module imports \(module).\(name) as \(found), but the runtime provides \(expected)"
        case .invalidLimit(let why):
            "invalid capsule limit: \(why)"
        case .invalidPreopen(let path, let why):
            "cannot preopen '\(path)': \(why)"
        }
    }
}
