public import ElastosCapsule
import ElastosCore

/// A capsule ready to launch: verified, unpacked, with its manifest's facts.
public struct LaunchableCapsule: Sendable {
    public var name: String
    public var version: String
    public var cid: String
    public var publisher: String
    public var trust: TrustLevel
    /// `wasm`, `native` or `microvm`: which substrate runs it.
    public var type: String
    /// The unpacked capsule directory (read-only to the capsule).
    public var directory: String
    public var entrypoint: String
    public var declared: [DeclaredCapability]
    public var memoryLimitBytes: Int
    public var cpuMillis: UInt64?
    public var wallMillis: UInt64?
    public var maxFuel: UInt64?
    /// The manifest's role (`app`, `provider`, `shell`, `agent`, `viewer`): agents and providers
    /// are never prompted for.
    public var role: String
    /// Where the capsule's own read-write directory is, when not the default
    /// `<home>/data/<name>` (the storage provider's is the node's store, `<home>/storage`).
    public var dataDirectory: String?

    public init(name: String, version: String, cid: String, publisher: String, trust: TrustLevel, type: String,
                directory: String, entrypoint: String, declared: [DeclaredCapability], memoryLimitBytes: Int,
                cpuMillis: UInt64?, wallMillis: UInt64?, maxFuel: UInt64? = nil, role: String = "app") {
        self.name = name; self.version = version; self.cid = cid; self.publisher = publisher; self.trust = trust
        self.type = type; self.directory = directory; self.entrypoint = entrypoint; self.declared = declared
        self.memoryLimitBytes = memoryLimitBytes; self.cpuMillis = cpuMillis; self.wallMillis = wallMillis
        self.maxFuel = maxFuel
        self.role = role
    }
}

/// The terminal or pipes a capsule's stdio is attached to (descriptors owned by the caller).
public struct StdioDescriptors: Sendable, Equatable {
    public var input: Int32, output: Int32, error: Int32
    public init(input: Int32, output: Int32, error: Int32) { self.input = input; self.output = output; self.error = error }
    public static let inherited = StdioDescriptors(input: 0, output: 1, error: 2)
}

/// Runs capsules of one type behind the one capsule protocol.
public protocol Substrate: Sendable {
    var name: String { get }
    /// Starts the capsule; requests it makes go to `handler`.
    func start(_ capsule: LaunchableCapsule, args: [String], stdio: StdioDescriptors, handler: SessionHandler) throws -> any RunningCapsule
}

/// A started capsule.
public protocol RunningCapsule: Sendable {
    /// Blocks until the capsule ends; says how.
    func wait() -> SessionState
    /// Stops it from another thread.
    func stop(reason: String)
    /// The capsule-protocol channel the runtime can hand calls to (`serve`), for substrates
    /// that have one: what a provider capsule is reached through.
    var channel: CapsuleChannel? { get }
    /// How the substrate runs it, when it has more than one way (a microVM: `kvm` or `tcg`),
    /// shown by `elastos ps` and in the launch's audit line.
    var mode: String? { get }
}

extension RunningCapsule {
    public var channel: CapsuleChannel? { nil }
    public var mode: String? { nil }
}

/// Why a launch failed before the capsule ran.
public struct LaunchError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}
