#if canImport(Glibc)
import Glibc
#endif
import CapsuleWire
import ElastosCore
public import ElastosWasm
import ElastosNode
import Foundation

/// Runs `microvm` capsules, Linux executables, each in its own QEMU `-M microvm` guest
/// (docs/MICROVM.md): a Debian kernel set up by scripts/get-microvm-kernel.sh, an initramfs
/// built once per capsule CID, the package and the capsule's data directory shared over 9p, the
/// capsule protocol over a virtio-serial port, no network device. KVM where the host really has
/// it, TCG software emulation otherwise; the mode (`kvm`, `tcg`) is the running capsule's
/// ``RunningCapsule/mode``, which `elastos ps` shows as `microvm/tcg` and the launch's audit line
/// names.
public struct MicroVMSubstrate: Substrate {
    public let qemu: String
    public let setpriv: String
    /// nil: 60 s under TCG (a boot takes 3–7 s on a loaded 2-core machine), 10 s under KVM.
    public let bootTimeout: Duration?
    public let stopGrace: Duration
    /// Appended to the guest kernel's command line (tests make guests hang or panic with it).
    public let extraKernelArguments: [String]
    public let accelerator: Accelerator

    public init(qemu: String? = nil, setpriv: String = "/usr/bin/setpriv", bootTimeout: Duration? = nil,
                stopGrace: Duration = .seconds(2), extraKernelArguments: [String] = [], accelerator: Accelerator = .detect()) {
        self.qemu = qemu ?? Self.defaultQEMU
        self.setpriv = setpriv
        self.bootTimeout = bootTimeout
        self.stopGrace = stopGrace
        self.extraKernelArguments = extraKernelArguments
        self.accelerator = accelerator
    }

    public var name: String { "microvm" }

    static var defaultQEMU: String {
        #if arch(x86_64)
        "/usr/bin/qemu-system-x86_64"
        #else
        "/usr/bin/qemu-system-aarch64"
        #endif
    }

    public func start(_ capsule: LaunchableCapsule, args: [String], stdio: StdioDescriptors, handler: SessionHandler) throws -> any RunningCapsule {
        let vm = try boot(capsule, args: args, stdio: stdio, handler: handler)
        handler.node.audit.record(AuditEvent(event: "microvm.booting", subject: handler.session.principal, resource: capsule.cid,
                                             decision: .info, reason: "QEMU pid \(vm.pid), \(accelerator), \(vm.launch.memoryMiB) MiB"))
        return MicroVMRunning(vm)
    }

    /// Boots the capsule's VM (also used directly by the benchmark).
    public func boot(_ capsule: LaunchableCapsule, args: [String], stdio: StdioDescriptors, handler: any CapsuleRequestHandler & SessionHandlerHome) throws(LaunchError) -> MicroVMCapsule {
        #if !arch(x86_64)
        throw LaunchError("microVM capsules run on x86_64 hosts only for now (QEMU -M microvm); aarch64 (-M virt) is not done yet: see docs/MICROVM.md")
        #endif
        guard access(qemu, X_OK) == 0 else {
            throw LaunchError("microVM capsules need QEMU, and \(qemu) is not there: apt install qemu-system-x86")
        }
        guard ProcessSpawn.isSupported else {
            throw LaunchError("microVM capsules need posix_spawn_file_actions_addclosefrom_np (glibc 2.34 or newer)")
        }
        guard !capsule.name.isEmpty, !capsule.name.contains("/"), capsule.name != ".", capsule.name != ".." else {
            throw LaunchError("capsule name \(capsule.name) cannot name a data directory")
        }
        let home = handler.homePath
        let entry = capsule.directory + "/" + capsule.entrypoint
        guard access(entry, X_OK) == 0, !capsule.entrypoint.contains("..") else {
            throw LaunchError("the capsule's entrypoint \(capsule.entrypoint) is missing from its package or not executable")
        }
        for path in [capsule.directory, home] where path.contains(",") || path.contains("\n") {
            throw LaunchError("\(path) contains a comma or newline, which QEMU's option syntax cannot carry")
        }
        let kernel = try MicroVMKernel.find(home: home)
        let initramfs = try GuestImage.image(for: capsule, kernel: kernel, home: home)

        // The capsule's own data directory, as native capsules get it (read-write, 0700).
        let data = NativeSubstrate.dataDirectory(home: home, capsule: capsule.name)
        let runs = home + "/microvm/run"
        for directory in [home + "/data", data, home + "/microvm", runs] {
            if mkdir(directory, 0o700) != 0 && errno != EEXIST {
                throw LaunchError("cannot create \(directory): \(String(cString: strerror(errno)))")
            }
        }
        Self.removeAbandonedRunDirectories(in: runs)
        let safeID = String(handler.sessionID.filter { $0.isLetter || $0.isNumber || $0 == "-" }.prefix(40))
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let run = runs + "/" + safeID + "-" + suffix
        let launchShare = run + "/launch"
        do {
            try FileManager.default.createDirectory(atPath: launchShare, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let term = TerminalMode.isTerminal(stdio.output) ? ProcessInfo.processInfo.environment["TERM"] : nil
            try GuestInit.launchScript(entrypoint: capsule.entrypoint, arguments: args, term: term)
                .write(toFile: launchShare + "/run.sh", atomically: true, encoding: .utf8)
        } catch {
            try? FileManager.default.removeItem(atPath: run)
            throw LaunchError("cannot prepare the run directory \(run): \(error)")
        }
        let shares = [QEMUCommand.Share(tag: GuestInit.packageTag, path: capsule.directory, readOnly: true),
                      QEMUCommand.Share(tag: GuestInit.launchTag, path: launchShare, readOnly: true),
                      QEMUCommand.Share(tag: GuestInit.dataTag, path: data, readOnly: false)]
        let timeout = bootTimeout ?? (accelerator == .kvm ? .seconds(10) : .seconds(60))
        // The kernel and init need ~80 MB of their own (-m 64 does not boot): on top of the capsule's limit.
        let memory = max(128, capsule.memoryLimitBytes >> 20 + 64)
        let launch = MicroVMLaunch(
            name: capsule.name, qemu: qemu, accelerator: accelerator, kernel: kernel, initramfs: initramfs, runDirectory: run,
            shares: shares, memoryMiB: memory, stdio: stdio, bootTimeout: timeout, wallMillis: capsule.wallMillis,
            cpuMillis: capsule.cpuMillis, stopGrace: stopGrace, extraKernelArguments: extraKernelArguments,
            setpriv: access(setpriv, X_OK) == 0 ? setpriv : nil)
        do throws(LaunchError) {
            return try MicroVMCapsule(launch, handler: handler)
        } catch {
            try? FileManager.default.removeItem(atPath: run)
            throw error
        }
    }
}

extension MicroVMSubstrate {
    /// Removes run directories whose QEMU is gone: a runtime killed with SIGKILL takes its QEMU
    /// with it (pdeathsig) but cannot clean up. A directory counts as abandoned when its
    /// `qemu.pid` names no live process whose command line mentions the directory (pids are
    /// reused); one without a pid file is left alone (it may be a launch in progress).
    static func removeAbandonedRunDirectories(in runs: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: runs)) ?? [] {
            let dir = runs + "/" + name
            guard let text = try? String(contentsOfFile: dir + "/qemu.pid", encoding: .utf8),
                  let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else { continue }
            let commandLine = (FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")).map { String(decoding: $0, as: UTF8.self) } ?? ""
            if !commandLine.contains(dir) { try? FileManager.default.removeItem(atPath: dir) }
        }
    }
}

/// What the substrate needs from the session beyond answering requests.
public protocol SessionHandlerHome {
    var homePath: String { get }
    var sessionID: String { get }
}

extension SessionHandler: SessionHandlerHome {
    public var homePath: String { node.home.path }
    public var sessionID: String { session.id }
}

/// A microVM capsule as a session sees it.
final class MicroVMRunning: RunningCapsule {
    let vm: MicroVMCapsule
    init(_ vm: MicroVMCapsule) { self.vm = vm }

    func wait() -> SessionState { vm.wait() }

    var mode: String? { vm.launch.accelerator.name }

    var channel: CapsuleChannel? { vm.channel }

    func stop(reason: String) {
        let vm = vm
        Thread.detachNewThread { vm.stop(reason: reason) }
    }
}
