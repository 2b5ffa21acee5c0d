#if canImport(Glibc)
import Glibc
#endif
public import CapsuleWire
public import ElastosWasm
import Foundation
import Synchronization

/// Everything needed to start one native capsule under bubblewrap.
public struct NativeLaunch: Sendable {
    public var name: String
    public var profile: BubblewrapProfile
    public var stdio: StdioDescriptors
    /// `RLIMIT_AS` for the sandbox's processes (bwrap included).
    public var memoryLimitBytes: Int
    /// CPU time: `RLIMIT_CPU` (whole seconds, rounded up) plus the watchdog's finer check.
    public var cpuMillis: UInt64?
    public var wallMillis: UInt64?
    /// How long a stopped capsule gets between SIGTERM and SIGKILL.
    public var stopGrace: Duration
    public var maxFrameLength: Int

    public init(name: String, profile: BubblewrapProfile, stdio: StdioDescriptors, memoryLimitBytes: Int,
                cpuMillis: UInt64?, wallMillis: UInt64?, stopGrace: Duration = .seconds(2),
                maxFrameLength: Int = 1 << 20) {
        self.name = name; self.profile = profile; self.stdio = stdio; self.memoryLimitBytes = memoryLimitBytes
        self.cpuMillis = cpuMillis; self.wallMillis = wallMillis; self.stopGrace = stopGrace; self.maxFrameLength = maxFrameLength
    }
}

/// How a native capsule ended.
public enum NativeExit: Sendable, Equatable, CustomStringConvertible {
    case exited(code: Int32)
    /// Killed by a signal it did not stop for (bwrap reports these as exit codes 129–159).
    case signaled(signal: Int32, name: String)
    /// Stopped by the runtime: an operator's `stop`, or a limit (the reason says which).
    case stopped(reason: String)

    public var description: String {
        switch self {
        case .exited(let c): "exited (\(c))"
        case .signaled(let s, let n): "killed by \(n) (signal \(s))"
        case .stopped(let r): r
        }
    }
}

/// A native capsule running inside bubblewrap, its runtime connection served by a
/// ``CapsuleChannel``. `prlimit` applies the rlimits before bwrap starts, so they hold from the
/// first instruction of every process in the sandbox.
public final class NativeCapsule: Sendable {
    public let launch: NativeLaunch
    public let channel: CapsuleChannel
    /// The spawned process (prlimit, then bwrap, then the capsule below it).
    public let pid: Int32
    public let startedAt: ContinuousClock.Instant

    private let outcome: Outcome

    /// What the monitor thread, the watchdog and `stop` share.
    private final class Outcome: Sendable {
        let spawned = Mutex<Result<Int32, ProcessSpawn.Failure>?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let stopReason = Mutex<String?>(nil)
        let exit = Mutex<NativeExit?>(nil)
        let done = DispatchSemaphore(value: 0)
    }
    private var done: DispatchSemaphore { outcome.done }

    /// Starts the capsule; returns once bwrap is running. The spawn happens on the capsule's own
    /// monitor thread, which lives until it ends: bwrap's `--die-with-parent` is tied to the
    /// thread that spawned it, and that must not be a caller's short-lived thread.
    public init(_ launch: NativeLaunch, bubblewrap: BubblewrapSupport, prlimit: String = "/usr/bin/prlimit",
                handler: any CapsuleRequestHandler) throws(LaunchError) {
        self.launch = launch
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw LaunchError("socketpair: \(String(cString: strerror(errno)))")
        }
        var seccomp: [Int32] = [-1, -1]
        guard Pipe.make(&seccomp) else {
            let e = errno
            close(pair[0]); close(pair[1])
            throw LaunchError("pipe: \(String(cString: strerror(e)))")
        }
        // 1.2 KB fits in any pipe buffer: write it all now, bwrap reads it to EOF.
        let program = SeccompFilter.standard.bytes
        let written = program.withUnsafeBytes { write(seccomp[1], $0.baseAddress, $0.count) }
        close(seccomp[1])
        guard written == program.count else {
            close(pair[0]); close(pair[1]); close(seccomp[0])
            throw LaunchError("cannot write the seccomp program to its pipe")
        }

        var profile = launch.profile
        profile.channelDescriptor = 3
        profile.seccompDescriptor = 4
        profile.disableNestedUserNamespaces = bubblewrap.disableUserNamespaces
        var command = [prlimit, "--as=\(max(launch.memoryLimitBytes, 1 << 20))", "--core=0"]
        if let cpu = launch.cpuMillis {
            let seconds = (cpu + 999) / 1000
            command.append("--cpu=\(seconds):\(seconds + 1)")  // SIGXCPU at the soft limit, SIGKILL a second later
        }
        command += ["--", bubblewrap.path] + profile.arguments
        let commandLine = command
        let descriptors: [Int32: Int32] = [0: launch.stdio.input, 1: launch.stdio.output, 2: launch.stdio.error,
                                           3: pair[1], 4: seccomp[0]]

        let shared = Outcome()
        outcome = shared
        let channel = CapsuleChannel(fd: pair[0], handler: handler, maxFrameLength: launch.maxFrameLength)
        self.channel = channel
        let monitor = Thread {
            let spawn = Result { () throws(ProcessSpawn.Failure) in
                try ProcessSpawn.spawn(prlimit, arguments: commandLine, environment: ["PATH=/usr/bin:/bin"], descriptors: descriptors)
            }
            shared.spawned.withLock { $0 = spawn }
            shared.ready.signal()
            guard case .success(let pid) = spawn else { return }
            let status = ChildProcess.waitForExit(pid)
            channel.shutdown()
            let exit = Self.exit(status, stopReason: shared.stopReason.withLock { $0 }, cpuMillis: launch.cpuMillis)
            shared.exit.withLock { $0 = exit }
            shared.done.signal()
        }
        monitor.name = "native capsule \(launch.name)"
        monitor.start()
        shared.ready.wait()
        close(pair[1])
        close(seccomp[0])
        switch shared.spawned.withLock({ $0 }) {
        case .success(let pid)?:
            self.pid = pid
        case .failure(let e)?:
            close(pair[0])
            throw LaunchError(e.description)
        case nil:
            close(pair[0])
            throw LaunchError("the monitor thread did not report a spawn")
        }
        startedAt = .now
        channel.start(name: launch.name)
        startWatchdog()
    }

    /// Blocks until the capsule (and bwrap) ended.
    public func wait() -> NativeExit {
        done.wait()
        done.signal()  // later waiters see it too
        return outcome.exit.withLock { $0 } ?? .stopped(reason: "no result")
    }

    /// Whether it has ended, waiting at most `timeout`.
    public func hasEnded(within timeout: Duration) -> Bool {
        let nanos = Int(clamping: timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
        guard done.wait(timeout: .now() + .nanoseconds(nanos)) == .success else { return false }
        done.signal()
        return true
    }

    /// Stops the capsule: SIGTERM to every process in the sandbox, SIGKILL to all of it (bwrap's
    /// process group, and the sandbox with it) if it has not ended after the grace period.
    /// The first reason given is the one reported.
    public func stop(reason: String, grace: Duration? = nil) {
        let first = outcome.stopReason.withLock { r -> Bool in
            guard r == nil else { return false }
            r = reason
            return true
        }
        guard first, outcome.exit.withLock({ $0 }) == nil else { return }
        let grace = grace ?? launch.stopGrace
        if grace > .zero {
            signalSandbox(SIGTERM)
            if hasEnded(within: grace) { return }
        }
        kill(-pid, SIGKILL)
        signalSandbox(SIGKILL)
    }

    /// Pushes an event to the capsule (see ``CapsuleChannel/push(_:id:)``).
    @discardableResult
    public func push(_ message: RuntimeMessage, id: UInt32) -> Bool { channel.push(message, id: id) }

    /// CPU time used so far by every process in the sandbox, in milliseconds.
    public var cpuMillisUsed: UInt64 {
        ([pid] + ChildProcess.descendants(of: pid)).map(ChildProcess.cpuMillis(of:)).reduce(0, +)
    }

    private func signalSandbox(_ signal: Int32) {
        for p in ChildProcess.descendants(of: pid) { kill(p, signal) }
    }

    /// Enforces wall_ms and cpu_ms every 20 ms (RLIMIT_CPU alone only counts whole seconds
    /// per process).
    private func startWatchdog() {
        guard launch.wallMillis != nil || launch.cpuMillis != nil else { return }
        let thread = Thread { [self] in
            let deadline = launch.wallMillis.map { startedAt + .milliseconds(Int64(clamping: $0)) }
            while !hasEnded(within: .milliseconds(20)) {
                if let deadline, ContinuousClock.now >= deadline {
                    stop(reason: "wall-clock limit of \(launch.wallMillis ?? 0) ms reached")
                    return
                }
                if let cpu = launch.cpuMillis, cpuMillisUsed > cpu {
                    stop(reason: "CPU-time limit of \(cpu) ms reached", grace: .zero)
                    return
                }
            }
        }
        thread.name = "native watchdog \(launch.name)"
        thread.start()
    }

    /// bwrap exits with the capsule's exit code, or 128 + the signal that killed it.
    static func exit(_ status: ChildProcess.Status, stopReason: String?, cpuMillis: UInt64?) -> NativeExit {
        if let stopReason { return .stopped(reason: stopReason) }
        switch status {
        case .exited(let code) where code > 128 && code < 128 + 32:
            let signal = code - 128
            if signal == SIGXCPU { return .stopped(reason: "CPU-time limit of \(cpuMillis ?? 0) ms reached (RLIMIT_CPU)") }
            return .signaled(signal: signal, name: ChildProcess.signalName(signal))
        case .exited(let code):
            return .exited(code: code)
        case .signaled(let signal):
            return .signaled(signal: signal, name: ChildProcess.signalName(signal))
        }
    }
}
