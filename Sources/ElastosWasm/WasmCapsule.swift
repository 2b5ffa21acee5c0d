public import CapsuleWire
import Foundation
import Synchronization
@_spi(Fuzzing) internal import WasmKit
internal import WasmKitWASI

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One WASM capsule: a validated module and what it is allowed, run once on WasmKit with WASI
/// Preview 1 and the capsule protocol over the `elastos` host functions (docs/WASM.md).
///
/// ```swift
/// let capsule = try WasmCapsule(launch, handler: session)
/// let exit = capsule.run()          // blocks; from elsewhere: capsule.stop(reason: "…")
/// ```
///
/// `run()` executes the guest on the calling thread; use a dedicated `Thread` (or
/// ``runDetached()``), never a Swift-concurrency task: a guest that blocks or computes would
/// hold one of the cooperative pool's few threads.
public final class WasmCapsule: Sendable {
    public let launch: WasmLaunch
    private let handler: any CapsuleRequestHandler
    private let module: Module
    private let control: RunControl
    private let started = Atomic<Bool>(false)

    /// One engine for every capsule in the process: it holds no per-guest state. Fuel metering
    /// is always on, because zeroing fuel is how the watchdog stops a guest.
    private static let engine = Engine(configuration: EngineConfiguration(fuelMetering: true))

    /// Parses and validates the module and the launch: exports, imports and their signatures,
    /// limits, preopens. Nothing runs yet.
    public init(_ launch: WasmLaunch, handler: any CapsuleRequestHandler) throws(WasmError) {
        guard launch.memoryLimitBytes > 0, launch.memoryLimitBytes <= WasmLaunch.maxMemoryLimit else {
            throw .invalidLimit("memory limit \(launch.memoryLimitBytes) bytes is outside 1 byte … \(WasmExit.bytes(WasmLaunch.maxMemoryLimit))")
        }
        guard launch.maxFrameLength >= CapsuleFrame.headerSize, launch.maxFrameLength <= Int(Int32.max) - 4 else {
            throw .invalidLimit("frame limit \(launch.maxFrameLength) must be at least \(CapsuleFrame.headerSize) bytes")
        }
        guard launch.maxQueuedBytes > 0 else { throw .invalidLimit("the reply queue limit must be positive") }
        if let w = launch.wallClockLimit, w <= .zero { throw .invalidLimit("the wall-clock limit must be positive") }
        if let c = launch.cpuTimeLimit, c <= .zero { throw .invalidLimit("the CPU-time limit must be positive") }
        try Self.validatePreopens(launch.preopens)
        let module: Module
        do { module = try parseWasm(bytes: launch.module) } catch {
            throw .invalidModule(String(describing: error))
        }
        try Self.validate(module)
        self.launch = launch
        self.handler = handler
        self.module = module
        self.control = RunControl(maxQueuedBytes: launch.maxQueuedBytes)
    }

    /// Runs the guest to its end on the calling thread and says how it ended. A capsule runs
    /// once; a second call returns ``WasmExit/failedToStart(reason:)``.
    public func run() -> WasmExit {
        guard started.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            return .failedToStart(reason: "this capsule has already run; create a new WasmCapsule")
        }
        defer { control.finish() }
        if let cause = control.interruption { return cause.exit }
        // Subscriptions push their events into this run's queue, and end with it.
        handler.connected { [weak self] message, id in self?.push(message, id: id) ?? false }
        defer { handler.disconnected() }
        control.startWatchdog(limit: launch.wallClockLimit, cpuLimit: launch.cpuTimeLimit,
                              cpuClock: launch.cpuTimeLimit == nil ? nil : RunControl.currentThreadCPUClock())

        var opened: [Int32] = []
        defer { for fd in opened { close(fd) } }
        func descriptor(_ target: StdioTarget, _ standard: Int32) -> Int32? {
            switch target {
            case .inherit: return standard
            case .fileDescriptor(let fd): return fd
            case .null:
                let fd = open("/dev/null", O_RDWR | O_CLOEXEC)
                if fd >= 0 { opened.append(fd) }
                return fd >= 0 ? fd : nil
            }
        }
        guard let stdin = descriptor(launch.stdin, 0), let stdout = descriptor(launch.stdout, 1),
              let stderr = descriptor(launch.stderr, 2) else {
            return .failedToStart(reason: "cannot open /dev/null: \(String(cString: strerror(errno)))")
        }

        let argv = [launch.name] + launch.args
        let bridge: WASIBridgeToHost
        do {
            bridge = try WASIBridgeToHost(
                args: argv, environment: launch.environment,
                preopens: launch.preopens.map { .init(guestPath: $0.guestPath, hostPath: $0.hostPath) },
                stdin: stdin, stdout: stdout, stderr: stderr)
        } catch {
            return .failedToStart(reason: String(describing: error))
        }
        let limiter = MemoryCap(limit: launch.memoryLimitBytes, handler: handler)
        var running = false
        do {
            let code = try bridge.runAndClose { bridge throws -> UInt32 in
                let store = Store(engine: Self.engine)
                store.resourceLimiter = limiter
                if let fuel = launch.fuel { store.fuel = Fuel(remaining: fuel) }
                control.attach(StoreRef(store))
                var imports = Imports()
                let sandbox = WASISandbox(bridge: bridge, launch: launch, argv: argv, control: control, handler: handler,
                                          stdinFD: launch.stdin == .null ? nil : stdin)
                sandbox.link(into: &imports, store: store)
                let memory = MemorySlot()
                ProtocolFunctions(control: control, handler: handler, memory: memory, maxFrameLength: launch.maxFrameLength)
                    .link(into: &imports, store: store)
                let instance = try module.instantiate(store: store, imports: imports)
                memory.memory = instance.exports[memory: "memory"]
                running = true
                return try bridge.start(instance)
            }
            return .exited(code: Int32(bitPattern: code))
        } catch {
            return classify(error, running: running, limiter: limiter)
        }
    }

    /// ``run()`` on a thread of its own (8 MiB stack), for callers in Swift concurrency.
    public func runDetached() async -> WasmExit {
        await withCheckedContinuation { (continuation: CheckedContinuation<WasmExit, Never>) in
            let thread = Thread { continuation.resume(returning: self.run()) }
            thread.name = "elastos-wasm-guest"
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// Stops the guest from any thread: whether it is computing, waiting in `recv`, reading
    /// stdin or sleeping, `run()` returns ``WasmExit/stopped(reason:)`` within milliseconds.
    /// Before `run()`, the capsule will not start; after it, nothing happens.
    public func stop(reason: String) {
        control.interrupt(.stopped(reason))
    }

    /// Queues a runtime message (an event for a subscription, usually with id 0) for the
    /// guest's `recv`, from any thread. Returns false if it was dropped: the run is over, the
    /// queue is full, or the frame is over ``WasmLaunch/maxFrameLength``.
    @discardableResult
    public func push(_ message: RuntimeMessage, id: UInt32) -> Bool {
        let frame = CapsuleFrame.runtime(id: id, message).encoded()
        guard frame.count - 4 <= launch.maxFrameLength else { return false }
        return control.enqueue(frame, force: false)
    }

    // MARK: How a run ended

    private func classify(_ error: any Error, running: Bool, limiter: MemoryCap) -> WasmExit {
        if error is GuestInterrupted, let cause = control.interruption { return cause.exit }
        if let trap = error as? Trap {
            let reason = Self.reason(trap)
            if reason.hasPrefix("out of fuel") {
                return control.interruption?.exit ?? .fuelExhausted
            }
            if limiter.refused { return .memoryLimitExceeded(limit: launch.memoryLimitBytes) }
            return running ? .trapped(reason: reason) : .failedToStart(reason: "the start function trapped: \(reason)")
        }
        if let cause = control.interruption { return cause.exit }
        if limiter.refused { return .memoryLimitExceeded(limit: launch.memoryLimitBytes) }
        return running ? .trapped(reason: String(describing: error)) : .failedToStart(reason: String(describing: error))
    }

    /// "unreachable (in main)" from WasmKit's "Trap: unreachable\n    0: (0x…) main\n…".
    static func reason(_ trap: Trap) -> String {
        let lines = trap.description.split(separator: "\n", omittingEmptySubsequences: true)
        var reason = String(lines.first ?? "trap")
        if reason.hasPrefix("Trap: ") { reason.removeFirst(6) }
        if lines.count > 1, let name = lines[1].split(separator: " ").last, !name.hasPrefix("(") && name != "unknown" {
            reason += " (in \(name))"
        }
        return reason
    }

    // MARK: Validation

    private static let protocolImports: [String: FunctionType] = [
        "send": FunctionType(parameters: [.i32, .i32], results: [.i32]),
        "recv": FunctionType(parameters: [.i32, .i32, .i32], results: [.i32]),
    ]
    private static let wasiImports = WASISandbox.signatures()

    private static func validate(_ module: Module) throws(WasmError) {
        var start = false, memory = false
        for e in module.exports {
            if case .function = e.descriptor, e.name == "_start" { start = true }
            if case .memory = e.descriptor, e.name == "memory" { memory = true }
        }
        guard start else { throw .missingExport("_start") }
        guard memory else { throw .missingExport("memory") }
        for i in module.imports {
            let provided: FunctionType?
            switch i.module {
            case WASISandbox.moduleName: provided = wasiImports[i.name]
            case ProtocolFunctions.moduleName: provided = protocolImports[i.name]
            default: provided = nil
            }
            guard let provided, case .function(let typeIndex) = i.descriptor else {
                throw .unsupportedImport(module: i.module, name: i.name)
            }
            guard let found = module.functionType(at: typeIndex) else {
                throw .invalidModule("import \(i.module).\(i.name) names type \(typeIndex), which is not a function type")
            }
            guard found == provided else {
                throw .importSignatureMismatch(module: i.module, name: i.name, expected: "\(provided)", found: "\(found)")
            }
        }
    }

    private static func validatePreopens(_ preopens: [Preopen]) throws(WasmError) {
        var resolved: [(path: String, readOnly: Bool)] = []
        for p in preopens {
            guard !p.guestPath.isEmpty else { throw .invalidPreopen(hostPath: p.hostPath, reason: "the guest path is empty") }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: p.hostPath, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw .invalidPreopen(hostPath: p.hostPath, reason: "not an existing directory")
            }
            guard let real = realpath(p.hostPath, nil) else {
                throw .invalidPreopen(hostPath: p.hostPath, reason: String(cString: strerror(errno)))
            }
            resolved.append((String(cString: real), p.readOnly))
            free(real)
        }
        // A read-only directory reachable through a writable one would not be read-only.
        for ro in resolved where ro.readOnly {
            for rw in resolved where !rw.readOnly {
                if ro.path == rw.path || ro.path.hasPrefix(rw.path.hasSuffix("/") ? rw.path : rw.path + "/") {
                    throw .invalidPreopen(hostPath: ro.path, reason: "it is read-only but lies inside the writable preopen \(rw.path)")
                }
            }
        }
    }
}

/// The memory cap: the store asks before the initial allocation and before every `memory.grow`.
final class MemoryCap: ResourceLimiter, @unchecked Sendable {
    let limit: Int
    let handler: any CapsuleRequestHandler
    /// Set once growth was refused; read after the run (same thread).
    private(set) var refused = false

    init(limit: Int, handler: any CapsuleRequestHandler) { self.limit = limit; self.handler = handler }

    func limitMemoryGrowth(to desired: Int) throws -> Bool {
        guard desired <= limit else {
            refused = true
            handler.sandboxRefused(.memoryGrowth(requestedBytes: desired, limitBytes: limit))
            return false
        }
        return true
    }

    func limitTableGrowth(to desired: Int) throws -> Bool { desired <= 1 << 20 }
}

/// The guest's memory export, filled in after instantiation (host functions run only after).
final class MemorySlot {
    var memory: Memory?
}
