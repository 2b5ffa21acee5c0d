import ElastosCore
import ElastosNode
@testable import ElastosRuntime
import Foundation
import Testing

/// The microVM substrate's pieces that need no guest (the initramfs format, the ELF reader, the
/// QEMU command line, kernel verification), and two real boots that go wrong on purpose: a guest
/// that hangs before its init says READY, and one whose init dies (a kernel panic). They boot
/// Debian's kernel under QEMU (TCG on hosts without vmx/svm), set up by .ci/run.
@Suite(.serialized) struct MicroVMSubstrateTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var hello: String { root.appendingPathComponent("capsules/microvm/hello-microvm").path }

    /// Why a boot cannot be tried here, printed by the tests that skip (CI installs everything).
    static func unavailable(home: String) -> String? {
        if access(MicroVMSubstrate.defaultQEMU, X_OK) != 0 { return "\(MicroVMSubstrate.defaultQEMU) is missing (apt install qemu-system-x86)" }
        do { _ = try MicroVMKernel.find(home: home) } catch { return error.description }
        if access(hello + "/hello", X_OK) != 0 { return "\(hello)/hello is missing: run scripts/build-native-capsules.sh" }
        return nil
    }

    // MARK: No guest

    @Test func theInitramfsIsANewcArchiveThatCpioReads() throws {
        var archive = CpioArchive()
        archive.file("/bin/busybox", Array("binary".utf8), mode: 0o755)
        archive.symlink("/bin/sh", to: "busybox")
        archive.file("/lib/modules/virtio.ko", [1, 2, 3])
        archive.directory("/proc")
        let bytes = archive.finished()
        #expect(bytes.count % 4 == 0)
        #expect(Array(bytes.prefix(6)) == Array("070701".utf8))
        guard access("/usr/bin/cpio", X_OK) == 0 else { print("cpio not installed: archive not cross-checked"); return }
        let t = try TempNode()
        let file = t.path + "/test.cpio"
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let listing = try shell("/usr/bin/cpio -itv < \(file) 2>&1")
        #expect(listing.contains("bin/busybox") && listing.contains("bin/sh -> busybox") && listing.contains("lib/modules/virtio.ko"), "\(listing)")
        #expect(listing.contains("drwxr-xr-x") && listing.contains("-rwxr-xr-x"), "\(listing)")
        #expect(!listing.contains("TRAILER"), "\(listing)")
    }

    @Test func theELFReaderFindsTheInterpreterAndLibrariesWithoutRunningTheBinary() throws {
        let deps = try ELFDependencies.read("/bin/ls")
        #expect(deps.interpreter?.hasPrefix("/lib") == true, "\(deps)")
        #expect(deps.needed.contains("libc.so.6"), "\(deps)")
        if let busybox = try? GuestImage.busybox() { #expect(try ELFDependencies.read(busybox).interpreter == nil) }
        // Not ELF, truncated, or for another machine: typed errors, no trap.
        #expect(throws: ELFDependencies.Failure.self) { try ELFDependencies.parse(Array("#!/bin/sh\n".utf8), path: "x", machine: 62) }
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: "/bin/ls")).prefix(80))
        #expect(throws: ELFDependencies.Failure.self) { try ELFDependencies.parse(bytes, path: "short", machine: ELFDependencies.hostMachine) }
        bytes[18] = 0x28
        #expect(throws: ELFDependencies.Failure.self) { try ELFDependencies.parse(bytes, path: "arm", machine: ELFDependencies.hostMachine) }
    }

    @Test func theCommandLineHasNoNetworkDeviceAndReadOnlySharesAreReadOnly() {
        let command = QEMUCommand(qemu: "/usr/bin/qemu-system-x86_64", accelerator: .tcg(reason: "test"), memoryMiB: 160,
                                  kernel: "/k/vmlinux", initramfs: "/i.cpio", consoleLog: "/r/console.log",
                                  ports: [.init(name: "elastos.control", descriptor: 3)],
                                  shares: [.init(tag: "elastos.capsule", path: "/pkg", readOnly: true),
                                           .init(tag: "elastos.data", path: "/data", readOnly: false)],
                                  tscKilohertz: 2_100_000)
        let a = command.arguments
        #expect(a.contains("-nodefaults"))
        for network in ["-net", "-netdev", "-nic"] { #expect(!a.contains(network)) }
        #expect(!a.joined(separator: " ").contains("virtio-net"))
        #expect(a.contains("local,id=share0,path=/pkg,security_model=none,readonly=on"))
        #expect(a.contains("local,id=share1,path=/data,security_model=mapped-xattr"))
        #expect(command.kernelCommandLine.contains("tsc_early_khz=2100000"))
        let kvm = QEMUCommand(qemu: "q", accelerator: .kvm, memoryMiB: 128, kernel: "k", initramfs: "i", consoleLog: "c",
                              ports: [], shares: [], tscKilohertz: 1)
        #expect(kvm.arguments.contains("kvm") && !kvm.kernelCommandLine.contains("tsc_early_khz"))
        // Arguments reach the guest quoted on the launch share, never on the kernel command line.
        #expect(GuestInit.launchScript(entrypoint: "hello", arguments: ["it's", "$(x)"], term: nil)
            .contains("exec '/capsule/hello' 'it'\\''s' '$(x)'"))
    }

    @Test func aMissingOrChangedKernelIsRefusedWithHowToGetOne() throws {
        let t = try TempNode()
        let dir = t.path + "/kernel"
        try FileManager.default.createDirectory(atPath: dir + "/modules", withIntermediateDirectories: true)
        let files = ["vmlinux": "not really a kernel", "modules.order": "virtio.ko\n", "release": "test\n", "modules/virtio.ko": "module"]
        var sums = ""
        for (name, text) in files.sorted(by: { $0.key < $1.key }) {
            try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
            sums += Multihash.sha256(of: Array(text.utf8)).digest.map { String(format: "%02x", $0) }.joined() + "  " + name + "\n"
        }
        #expect(throws: LaunchError.self) { try MicroVMKernel.load(dir) }  // no SHA256SUMS yet
        try sums.write(toFile: dir + "/SHA256SUMS", atomically: true, encoding: .utf8)
        let kernel = try MicroVMKernel.load(dir)
        #expect(kernel.modules == ["virtio.ko"] && kernel.release == "test")
        try "changed".write(toFile: dir + "/modules/virtio.ko", atomically: true, encoding: .utf8)
        do {
            _ = try MicroVMKernel.load(dir)
            Issue.record("a changed module was accepted")
        } catch {
            #expect(error.description.contains("does not match its SHA-256") && error.description.contains("get-microvm-kernel.sh"), "\(error)")
        }
        // Nowhere on the search path: the message says where it looked and how to get one.
        do {
            _ = try MicroVMKernel.find(home: t.path + "/no-home", environment: ["HOME": t.path, "XDG_CACHE_HOME": t.path + "/cache"])
            Issue.record("found a kernel in an empty home")
        } catch {
            #expect(error.description.contains("scripts/get-microvm-kernel.sh") && error.description.contains(t.path + "/cache/elastos/microvm/kernel"), "\(error)")
        }
    }

    @Test func runDirectoriesLeftByAKilledRuntimeAreSweptAndLiveOnesKept() throws {
        let t = try TempNode()
        let runs = t.path + "/microvm/run"
        for name in ["abandoned", "starting", "live"] {
            try FileManager.default.createDirectory(atPath: runs + "/" + name, withIntermediateDirectories: true)
        }
        // This test process's pid: alive, but its command line does not name the directory (a reused pid).
        try String(getpid()).write(toFile: runs + "/abandoned/qemu.pid", atomically: true, encoding: .utf8)
        // A live process whose command line names the directory stands in for its QEMU.
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sh")
        // The shell's builtin read on a pipe that never ends: no child process. SIGKILL ends it
        // (Foundation starts children with SIGTERM blocked).
        sleeper.arguments = ["-c", "read line", runs + "/live"]
        let input = Pipe()
        sleeper.standardInput = input
        try sleeper.run()
        defer { kill(sleeper.processIdentifier, SIGKILL); sleeper.waitUntilExit() }
        try String(sleeper.processIdentifier).write(toFile: runs + "/live/qemu.pid", atomically: true, encoding: .utf8)
        MicroVMSubstrate.removeAbandonedRunDirectories(in: runs)
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: runs))
        #expect(left == ["starting", "live"], "\(left)")
    }

    // MARK: Guests that go wrong

    func launch(_ substrate: MicroVMSubstrate, _ t: TempNode) throws -> MicroVMCapsule {
        let session = Session(capsule: "hello-microvm", version: "0.1.0", cid: "bafytesthellomicrovm", publisher: t.node.did.description,
                              trust: .node, substrate: "microvm", startedAt: Node.systemClock())
        let handler = SessionHandler(session: session, node: t.node, router: try ProviderRouter([]),
                                     policy: DeclaredCapabilityPolicy(allowDeclared: false), declared: [])
        let capsule = LaunchableCapsule(name: "hello-microvm", version: "0.1.0", cid: "bafytesthellomicrovm", publisher: "x", trust: .node,
                                        type: "microvm", directory: Self.hello, entrypoint: "hello", declared: [],
                                        memoryLimitBytes: 96 << 20, cpuMillis: nil, wallMillis: 120_000)
        let null = open("/dev/null", O_RDWR)
        defer { close(null) }
        return try substrate.boot(capsule, args: [], stdio: StdioDescriptors(input: null, output: null, error: null), handler: handler)
    }

    @Test func aGuestThatHangsAtBootIsKilledAtTheTimeLimit() throws {
        let t = try TempNode()
        if let why = Self.unavailable(home: t.path) { print("skipped: \(why)"); return }
        // A guest that never reaches READY: its init dies and panic=0 (the last one wins) makes the
        // kernel wait forever instead of rebooting. (tsc_early_khz=0, the TSC-calibration hang of
        // probe-vm.md §5.1, turned out not to hang every time on a quiet machine.)
        let substrate = MicroVMSubstrate(bootTimeout: .seconds(4), extraKernelArguments: ["rdinit=/bin/false", "panic=0"],
                                         accelerator: .tcg(reason: "test"))
        let vm = try launch(substrate, t)
        let state = vm.wait()
        let elapsed = ContinuousClock.now - vm.startedAt  // from QEMU's spawn (the image build before it is not timed)
        guard case .failed(let reason) = state else { Issue.record("\(state)"); return }
        #expect(reason.contains("did not boot within 4"), "\(reason)")
        #expect(reason.contains("Last console lines"), "\(reason)")
        // Killed at the limit, not at the capsule's 120 s wall-clock limit (slack for a loaded machine).
        #expect(elapsed >= .seconds(4) && elapsed < .seconds(20), "\(elapsed)")
        #expect(kill(vm.pid, 0) != 0, "QEMU \(vm.pid) still exists")
        #expect(!FileManager.default.fileExists(atPath: vm.launch.runDirectory))
    }

    @Test func aGuestWhoseInitDiesIsReportedAsAKernelPanicWithItsConsoleLines() throws {
        let t = try TempNode()
        if let why = Self.unavailable(home: t.path) { print("skipped: \(why)"); return }
        let substrate = MicroVMSubstrate(bootTimeout: .seconds(90), extraKernelArguments: ["rdinit=/bin/false"], accelerator: .tcg(reason: "test"))
        let vm = try launch(substrate, t)
        let state = vm.wait()
        guard case .failed(let reason) = state else { Issue.record("\(state)"); return }
        #expect(reason.contains("the guest kernel panicked"), "\(reason)")
        #expect(reason.contains("Attempted to kill init"), "\(reason)")
        #expect(!FileManager.default.fileExists(atPath: vm.launch.runDirectory))
    }

    func shell(_ command: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
