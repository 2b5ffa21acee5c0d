public import CapsuleWire

/// Where one of a guest's standard streams goes.
public enum StdioTarget: Sendable, Equatable, CustomStringConvertible {
    /// The host process's own stream (fd 0, 1 or 2): the terminal, for interactive capsules.
    case inherit
    /// A host descriptor the caller owns (a pipe, a file, a socket). Borrowed: the capsule never
    /// closes it, so the caller closes its own ends to deliver EOF.
    case fileDescriptor(Int32)
    /// `/dev/null`: reads see EOF at once, writes are discarded.
    case null

    public var description: String {
        switch self {
        case .inherit: "inherit"
        case .fileDescriptor(let fd): "fd \(fd)"
        case .null: "null"
        }
    }
}

/// A host directory the guest may see, under a guest path. Guests see only these: there is no
/// other file system.
public struct Preopen: Sendable, Equatable {
    public var hostPath: String
    /// Where the guest finds it, e.g. `/data`.
    public var guestPath: String
    /// Refuses every change below it: creating, truncating, writing, renaming, linking, removing,
    /// setting sizes or times. Reads and directory listings work.
    public var readOnly: Bool

    public init(hostPath: String, guestPath: String, readOnly: Bool) {
        self.hostPath = hostPath; self.guestPath = guestPath; self.readOnly = readOnly
    }
}

/// Everything one run of a WASM capsule is given. Nothing else reaches the guest: no other
/// files, no sockets, no host environment unless it is listed here.
public struct WasmLaunch: Sendable {
    /// The module's bytes (a WASI Preview 1 command: exports `_start` and `memory`).
    public var module: [UInt8]
    /// `argv[0]`, as the guest sees it.
    public var name: String
    /// The arguments after `argv[0]`.
    public var args: [String]
    public var environment: [String: String]
    public var stdin: StdioTarget
    public var stdout: StdioTarget
    public var stderr: StdioTarget
    /// In order: the guest sees them as descriptors 3, 4, … .
    public var preopens: [Preopen]
    /// The most linear memory the guest may have (initial size included). Growth past it fails:
    /// `memory.grow` returns -1, and a guest that traps after that is reported as
    /// ``WasmExit/memoryLimitExceeded(limit:)``. At most 4 GiB − 64 KiB.
    public var memoryLimitBytes: Int
    /// Instruction budget (WasmKit fuel: about one unit per wasm operator, plus one per 64 bytes
    /// of bulk copy); nil for none.
    public var fuel: UInt64?
    /// Wall-clock budget from the start of `run()`; nil for none. A watchdog stops the guest when
    /// it runs out, even in a loop that never calls the host.
    public var wallClockLimit: Duration?
    /// CPU time the guest's thread may use (`limits.cpu_ms`); time spent waiting is free.
    /// Enforced by the same watchdog, to within a few milliseconds.
    public var cpuTimeLimit: Duration?
    /// Limit on a frame's `length` field, both directions (the protocol's default is 1 MiB).
    public var maxFrameLength: Int
    /// Replies and events waiting for `recv`, in bytes: past it `send` returns
    /// ``HostCallStatus/queueFull`` and pushed events are dropped, so a guest that never reads
    /// cannot make the host hold unbounded memory.
    public var maxQueuedBytes: Int

    public static let defaultMemoryLimit = 64 << 20
    /// The largest cap a wasm32 memory can be given here: 4 GiB less one page, so that guest
    /// offsets plus lengths always fit in 32 bits.
    public static let maxMemoryLimit = (1 << 32) - 65536

    public init(module: [UInt8], name: String = "capsule", args: [String] = [], environment: [String: String] = [:],
                stdin: StdioTarget = .null, stdout: StdioTarget = .inherit, stderr: StdioTarget = .inherit,
                preopens: [Preopen] = [], memoryLimitBytes: Int = WasmLaunch.defaultMemoryLimit, fuel: UInt64? = nil,
                wallClockLimit: Duration? = nil, cpuTimeLimit: Duration? = nil, maxFrameLength: Int = CapsuleFrame.defaultMaxLength,
                maxQueuedBytes: Int = 8 << 20) {
        self.module = module; self.name = name; self.args = args; self.environment = environment
        self.stdin = stdin; self.stdout = stdout; self.stderr = stderr; self.preopens = preopens
        self.memoryLimitBytes = memoryLimitBytes; self.fuel = fuel; self.wallClockLimit = wallClockLimit
        self.cpuTimeLimit = cpuTimeLimit
        self.maxFrameLength = maxFrameLength; self.maxQueuedBytes = maxQueuedBytes
    }

    /// `limits.memory_mb` of a capsule manifest, in bytes.
    public static func memoryLimit(megabytes: Int) -> Int { megabytes << 20 }
}
