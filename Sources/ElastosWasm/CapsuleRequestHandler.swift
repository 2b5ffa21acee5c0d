public import CapsuleWire

/// What answers a capsule's requests. The runtime implements it (the twelve checks, the audit
/// log, the providers); tests and benchmarks use small ones.
///
/// Called on the guest's thread, synchronously, once per request frame: the guest waits for the
/// reply, so a slow handler slows only its own capsule.
public protocol CapsuleRequestHandler: Sendable {
    func handle(_ request: CapsuleRequest, id: UInt32) -> RuntimeMessage

    /// The sandbox refused something the guest tried (see ``SandboxRefusal``). For auditing:
    /// the guest has already been told (an errno, a failed `memory.grow`, an `error` frame).
    /// The default does nothing.
    func sandboxRefused(_ refusal: SandboxRefusal)

    /// The capsule's connection is up. `push` queues a frame for the capsule from any thread
    /// (events for its subscriptions, id 0) and returns false when it was dropped: connection
    /// gone, frame over the limit, or the capsule not reading. The default ignores it.
    func connected(push: @escaping @Sendable (RuntimeMessage, UInt32) -> Bool)

    /// The capsule's connection is gone: nothing pushed from now on reaches it, so whatever
    /// feeds it (subscriptions) can stop. The default does nothing.
    func disconnected()
}

extension CapsuleRequestHandler {
    public func sandboxRefused(_ refusal: SandboxRefusal) {}
    public func connected(push: @escaping @Sendable (RuntimeMessage, UInt32) -> Bool) {}
    public func disconnected() {}
}

/// One thing the sandbox refused a guest, reported to ``CapsuleRequestHandler/sandboxRefused(_:)``.
public enum SandboxRefusal: Sendable, Equatable, CustomStringConvertible {
    /// A change below a read-only preopen (the guest got `EROFS`).
    case readOnlyPreopen(function: String, path: String?)
    /// The file system sandbox refused a path, e.g. `..` out of a preopen or a symlink leading
    /// out (the guest got `ENOTCAPABLE` or `EPERM`).
    case pathOutsidePreopens(function: String, path: String)
    /// A path call on a descriptor that is not an open directory of the guest's (`EBADF` or
    /// `ENOTDIR`): probing for descriptors it was never given.
    case notAnOpenDirectory(function: String, descriptor: UInt32, path: String?)
    /// `memory.grow` past ``WasmLaunch/memoryLimitBytes`` (the guest got -1).
    case memoryGrowth(requestedBytes: Int, limitBytes: Int)
    /// A pointer and length from the guest that lie outside its memory, or a misaligned pointer
    /// (the host function returned an error without touching memory).
    case badGuestPointer(function: String)
    /// A frame that did not decode (the guest got an `error` reply).
    case malformedFrame(id: UInt32?, FrameError)
    /// `send` while the reply queue is full (the guest got ``HostCallStatus/queueFull``).
    case queueFull
    /// A `served`/`serve_failed` answer to a call the runtime never handed the capsule, or
    /// one that had already timed out.
    case unexpectedAnswer(id: UInt32)

    public var description: String {
        switch self {
        case .readOnlyPreopen(let f, let p): "\(f): write below a read-only preopen refused" + (p.map { " ('\($0)')" } ?? "")
        case .pathOutsidePreopens(let f, let p): "\(f): path '\(p)' lies outside the preopened directories"
        case .notAnOpenDirectory(let f, let fd, let p):
            "\(f): descriptor \(fd) is not an open directory of the capsule's" + (p.map { " ('\($0)')" } ?? "")
        case .memoryGrowth(let want, let limit): "memory growth to \(WasmExit.bytes(want)) refused (limit \(WasmExit.bytes(limit)))"
        case .badGuestPointer(let f): "\(f): pointer outside guest memory or misaligned"
        case .malformedFrame(let id, let e): "malformed frame" + (id.map { " (id \($0))" } ?? "") + ": \(e)"
        case .queueFull: "send refused: replies and events are waiting to be received"
        case .unexpectedAnswer(let id): "an answer to call \(id), which the capsule was not handed (or which timed out)"
        }
    }
}

/// Results of the `elastos` host functions besides lengths. `send` returns 0 or one of these;
/// `recv` returns a frame's length, 0 on timeout, one of these, or −n (n ≥ 10, the smallest
/// frame) when its buffer is too small for the next frame, which stays queued.
public enum HostCallStatus: Int32, Sendable, CaseIterable, CustomStringConvertible {
    /// A pointer and length outside the guest's memory (nothing was read or written).
    case badPointer = -1
    /// `send`: replies and events are waiting; `recv` them first.
    case queueFull = -2
    /// A negative length or capacity.
    case invalidArgument = -3

    /// The most negative status; anything below it is "buffer too small, need −n bytes".
    public static let lowest: Int32 = -9

    public var description: String {
        switch self {
        case .badPointer: "pointer outside guest memory"
        case .queueFull: "reply queue full"
        case .invalidArgument: "negative length"
        }
    }
}
