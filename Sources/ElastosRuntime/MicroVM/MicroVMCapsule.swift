#if canImport(Glibc)
import Glibc
#endif
public import CapsuleWire
public import ElastosWasm
import Foundation
import Synchronization

/// One capsule in a QEMU microVM. The runtime holds its ends of socketpairs whose other ends
/// QEMU inherits as virtio-serial ports: the capsule protocol (served by the same
/// ``CapsuleChannel`` as native capsules), the control port to the guest init (`READY`,
/// `EXIT <code>`, window sizes), and the capsule's standard I/O (three ports, or one virtio
/// console when the user's side is a terminal). QEMU's own output and the guest's kernel console
/// go to files in the run directory, which is removed when the VM ends.
public final class MicroVMCapsule: Sendable {
    public let launch: MicroVMLaunch
    public let channel: CapsuleChannel
    /// QEMU's pid (setpriv execs it, so the spawned pid is QEMU's).
    public let pid: Int32
    public let startedAt: ContinuousClock.Instant

    private let state: Shared

    /// What the threads share.
    private final class Shared: Sendable {
        let spawned = Mutex<Result<Int32, ProcessSpawn.Failure>?>(nil)
        let spawnReported = DispatchSemaphore(value: 0)
        let booted = DispatchSemaphore(value: 0)
        /// When the guest said READY, and its uptime then (seconds, as the guest counts).
        let readyAt = Mutex<(ContinuousClock.Instant, String)?>(nil)
        let cpuAtReady = Mutex<UInt64>(0)
        let exitCode = Mutex<Int32?>(nil)
        /// Set by stop, the boot timeout or a limit: the first one wins and is what is reported.
        let ending = Mutex<SessionState?>(nil)
        let result = Mutex<SessionState?>(nil)
        let done = DispatchSemaphore(value: 0)
        let control = Mutex<Int32>(-1)
    }

    public var consoleLog: String { launch.runDirectory + "/console.log" }
    var qemuLog: String { launch.runDirectory + "/qemu.log" }

    public init(_ launch: MicroVMLaunch, handler: any CapsuleRequestHandler) throws(LaunchError) {
        self.launch = launch
        let terminal = TerminalMode.isTerminal(launch.stdio.input) && TerminalMode.isTerminal(launch.stdio.output)
        var runtimeEnds: [Int32] = [], guestEnds: [Int32] = []
        func pair() throws(LaunchError) -> Int32 {
            var p: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &p) == 0 else {
                let e = errno
                for fd in runtimeEnds + guestEnds { close(fd) }
                throw LaunchError("socketpair: \(String(cString: strerror(e)))")
            }
            runtimeEnds.append(p[0]); guestEnds.append(p[1])
            return p[0]
        }
        let control = try pair(), capsule = try pair()
        var ports = [QEMUCommand.Port(name: GuestInit.controlPort, descriptor: 3), QEMUCommand.Port(name: GuestInit.capsulePort, descriptor: 4)]
        var relays: [ByteRelay] = []
        var inputRelay: ByteRelay?
        if terminal {
            let console = try pair()
            ports.append(QEMUCommand.Port(name: "console", descriptor: 5, console: true))
            inputRelay = ByteRelay(from: launch.stdio.input, to: console, closeSource: false, closeSink: false)
            relays.append(ByteRelay(from: console, to: launch.stdio.output, closeSource: true, closeSink: false))
        } else {
            let input = try pair(), output = try pair(), error = try pair()
            ports += [QEMUCommand.Port(name: GuestInit.stdinPort, descriptor: 5), QEMUCommand.Port(name: GuestInit.stdoutPort, descriptor: 6),
                      QEMUCommand.Port(name: GuestInit.stderrPort, descriptor: 7)]
            inputRelay = ByteRelay(from: launch.stdio.input, to: input, closeSource: false, closeSink: true, halfCloseSink: true)
            relays.append(ByteRelay(from: output, to: launch.stdio.output, closeSource: true, closeSink: false))
            relays.append(ByteRelay(from: error, to: launch.stdio.error, closeSource: true, closeSink: false))
        }
        let command = QEMUCommand(qemu: launch.qemu, accelerator: launch.accelerator, memoryMiB: launch.memoryMiB,
                                  kernel: launch.kernel.vmlinux, initramfs: launch.initramfs,
                                  consoleLog: launch.runDirectory + "/console.log", ports: ports, shares: launch.shares,
                                  tscKilohertz: Accelerator.hostTSCKilohertz(), extraKernelArguments: launch.extraKernelArguments)
        var commandLine = command.arguments
        var executable = launch.qemu
        if let setpriv = launch.setpriv {
            commandLine = [setpriv, "--pdeathsig", "KILL", "--"] + commandLine
            executable = setpriv
        }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        let log = open(launch.runDirectory + "/qemu.log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        var descriptors: [Int32: Int32] = [0: null, 1: log, 2: log]
        for (i, fd) in guestEnds.enumerated() { descriptors[Int32(3 + i)] = fd }

        let shared = Shared()
        state = shared
        shared.control.withLock { $0 = control }
        channel = CapsuleChannel(fd: capsule, handler: handler, maxFrameLength: launch.maxFrameLength)
        var terminalMode = TerminalMode(descriptor: launch.stdio.input)
        if terminal { terminalMode.makeRaw() }
        let restoreTerminal = terminalMode
        let qemuLogPath = launch.runDirectory + "/qemu.log"
        let consolePath = launch.runDirectory + "/console.log"
        let runDirectory = launch.runDirectory
        let channel = channel
        let (program, argv, inherited) = (executable, commandLine, descriptors)
        let (outputs, input) = (relays, inputRelay)
        let monitor = Thread {
            let spawn = Result { () throws(ProcessSpawn.Failure) in
                try ProcessSpawn.spawn(program, arguments: argv, environment: ["PATH=/usr/bin:/bin"], descriptors: inherited)
            }
            shared.spawned.withLock { $0 = spawn }
            shared.spawnReported.signal()
            guard case .success(let pid) = spawn else { return }
            let status = ChildProcess.waitForExit(pid)
            // QEMU is gone: its ends of every socket are closed, so the output relays reach end of
            // input once they have passed on what was still buffered.
            for relay in outputs { relay.join(timeout: .seconds(5)) }
            input?.cancel()
            input?.join(timeout: .seconds(1))
            channel.shutdown()
            restoreTerminal.restore()
            let outcome = Self.outcome(status: status, shared: shared, console: consolePath, qemuLog: qemuLogPath)
            try? FileManager.default.removeItem(atPath: runDirectory)
            shared.result.withLock { $0 = outcome }
            shared.done.signal()
        }
        monitor.name = "microvm \(launch.name)"
        monitor.start()
        shared.spawnReported.wait()
        for fd in guestEnds { close(fd) }
        if null >= 0 { close(null) }
        if log >= 0 { close(log) }
        switch shared.spawned.withLock({ $0 }) {
        case .success(let pid)?:
            self.pid = pid
        case .failure(let e)?:
            restoreTerminal.restore()
            for fd in runtimeEnds { close(fd) }
            throw LaunchError(e.description)
        case nil:
            restoreTerminal.restore()
            for fd in runtimeEnds { close(fd) }
            throw LaunchError("the monitor thread did not report a spawn")
        }
        startedAt = .now
        // For ``MicroVMSubstrate``'s sweep of run directories left by a runtime that was killed.
        try? String(pid).write(toFile: launch.runDirectory + "/qemu.pid", atomically: true, encoding: .utf8)
        channel.start(name: launch.name)
        for (i, relay) in relays.enumerated() { relay.start(name: "microvm \(launch.name) output \(i)") }
        inputRelay?.start(name: "microvm \(launch.name) input")
        startControlReader(control, terminal: terminal)
        startWatchdog()
    }

    /// Blocks until QEMU has ended and everything the guest wrote has been passed on.
    public func wait() -> SessionState {
        state.done.wait()
        state.done.signal()
        return state.result.withLock { $0 } ?? .failed(reason: "no result")
    }

    public func hasEnded(within timeout: Duration) -> Bool {
        let nanos = Int(timeout.components.seconds) * 1_000_000_000 + Int(timeout.components.attoseconds / 1_000_000_000)
        guard state.done.wait(timeout: .now() + .nanoseconds(nanos)) == .success else { return false }
        state.done.signal()
        return true
    }

    /// Whether the guest has said READY, and how long that took from the spawn.
    public var bootTime: Duration? { state.readyAt.withLock { $0 }.map { $0.0 - startedAt } }
    /// The guest kernel's uptime when its init said READY (as the guest reports it).
    public var guestUptimeAtReady: String? { state.readyAt.withLock { $0 }?.1 }

    /// Ends the VM: SIGTERM to QEMU (it exits at once, taking the guest with it), SIGKILL after
    /// the grace period. The first reason given is the one reported.
    public func stop(reason: String, grace: Duration? = nil) {
        end(.stopped(reason: reason), grace: grace ?? launch.stopGrace)
    }

    private func end(_ ending: SessionState, grace: Duration) {
        let first = state.ending.withLock { e -> Bool in
            guard e == nil else { return false }
            e = ending
            return true
        }
        guard first, state.result.withLock({ $0 }) == nil else { return }
        if grace > .zero {
            kill(pid, SIGTERM)
            if hasEnded(within: grace) { return }
        }
        kill(pid, SIGKILL)
    }

    /// Pushes an event to the capsule (see ``CapsuleChannel/push(_:id:)``).
    @discardableResult
    public func push(_ message: RuntimeMessage, id: UInt32) -> Bool { channel.push(message, id: id) }

    /// QEMU's resident memory (VmRSS), in bytes.
    public var residentBytes: Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = line.split(separator: " ").compactMap({ Int($0) }).first else { return nil }
        return kb * 1024
    }

    /// Sends one line to the guest init over the control port.
    func sendControl(_ line: String) {
        state.control.withLock { fd in
            guard fd >= 0 else { return }
            let bytes = Array((line + "\n").utf8)
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
    }

    /// Reads the guest init's lines: `READY <uptime>` once it has booted, `EXIT <code>` when the
    /// capsule has ended. In terminal mode it also forwards window sizes, polled every 200 ms
    /// (the runtime may be a node serving a terminal it is not the controlling process of, so
    /// it cannot rely on SIGWINCH).
    private func startControlReader(_ fd: Int32, terminal: Bool) {
        let shared = state
        let reader = Thread { [self] in
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                pending += buffer[0..<n]
                while let newline = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[..<newline], as: UTF8.self)
                    pending.removeSubrange(...newline)
                    let words = line.split(separator: " ")
                    if words.first == "READY", shared.readyAt.withLock({ $0 }) == nil {
                        shared.readyAt.withLock { $0 = (.now, words.count > 1 ? String(words[1]) : "?") }
                        shared.cpuAtReady.withLock { $0 = ChildProcess.cpuMillis(of: pid) }
                        shared.booted.signal()
                        if terminal { startWindowSizeForwarding() }
                    } else if words.first == "EXIT", words.count == 2, let code = Int32(words[1]) {
                        shared.exitCode.withLock { $0 = code }
                    }
                }
                if pending.count > 4096 { break }  // the guest init writes short lines only
            }
            shared.control.withLock { fd in
                if fd >= 0 { close(fd); fd = -1 }
            }
        }
        reader.name = "microvm \(launch.name) control"
        reader.start()
    }

    private func startWindowSizeForwarding() {
        let thread = Thread { [self] in
            var last: (Int, Int)?
            while !hasEnded(within: .milliseconds(200)) {
                guard let size = TerminalMode.windowSize(launch.stdio.output) ?? TerminalMode.windowSize(launch.stdio.input) else { continue }
                if last.map({ $0 != size }) ?? true {
                    sendControl("winsize \(size.rows) \(size.columns)")
                    last = size
                }
            }
        }
        thread.name = "microvm \(launch.name) winsize"
        thread.start()
    }

    /// The boot timeout (no READY in time: killed and reported with the console's last lines),
    /// wall_ms from the spawn, and cpu_ms on QEMU's CPU time after the boot, every 20 ms.
    private func startWatchdog() {
        let thread = Thread { [self] in
            let bootDeadline = startedAt + launch.bootTimeout
            let wallDeadline = launch.wallMillis.map { startedAt + .milliseconds(Int64(clamping: $0)) }
            while !hasEnded(within: .milliseconds(20)) {
                let now = ContinuousClock.now
                let ready = state.readyAt.withLock { $0 } != nil
                if !ready && now >= bootDeadline {
                    let lines = MicroVMOutcome.tail(consoleLog, lines: 8)
                    end(.failed(reason: "the guest did not boot within \(launch.bootTimeout) (\(launch.accelerator.name)); killed. Last console lines:\n"
                                + (lines.isEmpty ? "(none)" : lines.joined(separator: "\n"))), grace: .zero)
                    return
                }
                if let wallDeadline, now >= wallDeadline {
                    stop(reason: "wall-clock limit of \(launch.wallMillis ?? 0) ms reached")
                    return
                }
                if ready, let cpu = launch.cpuMillis, ChildProcess.cpuMillis(of: pid) - min(ChildProcess.cpuMillis(of: pid), state.cpuAtReady.withLock { $0 }) > cpu {
                    stop(reason: "CPU-time limit of \(cpu) ms reached", grace: .zero)
                    return
                }
            }
        }
        thread.name = "microvm \(launch.name) watchdog"
        thread.start()
    }

    private static func outcome(status: ChildProcess.Status, shared: Shared, console: String, qemuLog: String) -> SessionState {
        if let ending = shared.ending.withLock({ $0 }) { return ending }
        if let code = shared.exitCode.withLock({ $0 }) { return .exited(code: code) }
        let lines = MicroVMOutcome.tail(console, lines: 12)
        let consoleText = lines.isEmpty ? "(none)" : lines.joined(separator: "\n")
        switch status {
        case .exited(0):
            if let panic = MicroVMOutcome.panicLine(lines) ?? MicroVMOutcome.panicLine(MicroVMOutcome.tail(console, lines: 200)) {
                return .failed(reason: "the guest kernel panicked (\(panic)). Last console lines:\n" + consoleText)
            }
            return .failed(reason: "the guest stopped before its capsule exited. Last console lines:\n" + consoleText)
        case .exited(let code):
            let qemu = MicroVMOutcome.tail(qemuLog, lines: 6).joined(separator: "\n")
            return .failed(reason: "QEMU exited with status \(code): \(qemu.isEmpty ? "(no output)" : qemu)\nLast console lines:\n" + consoleText)
        case .signaled(let signal):
            return .failed(reason: "QEMU was killed by \(ChildProcess.signalName(signal)). Last console lines:\n" + consoleText)
        }
    }
}
