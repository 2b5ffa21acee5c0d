/// The QEMU command line one microVM runs with (verified in probe-vm.md §5): `-M microvm`
/// (ACPI on: Debian's virtio_mmio finds its devices through it), no default devices, no
/// network device, no display, QEMU's own seccomp sandbox, the kernel console on a file, one
/// virtio-serial bus with the named ports, and 9p shares.
struct QEMUCommand {
    /// A 9p share: host directory, tag the guest init mounts by, read-only or not.
    struct Share: Equatable {
        var tag: String
        var path: String
        var readOnly: Bool
    }

    /// A virtio-serial port backed by an inherited socket descriptor (number in QEMU's process).
    struct Port: Equatable {
        var name: String
        var descriptor: Int32
        /// A virtio console (/dev/hvc0 in the guest) rather than a plain port.
        var console: Bool = false
    }

    var qemu: String
    var accelerator: Accelerator
    var memoryMiB: Int
    var kernel: String
    var initramfs: String
    var consoleLog: String
    var ports: [Port]
    var shares: [Share]
    var tscKilohertz: Int
    /// Appended to the kernel command line (tests use it to make a guest hang or panic).
    var extraKernelArguments: [String] = []

    var kernelCommandLine: String {
        var a = ["console=ttyS0", "panic=-1", "quiet"]
        if case .tcg = accelerator { a += ["lpj=4000000", "tsc_early_khz=\(tscKilohertz)"] }
        return (a + extraKernelArguments).joined(separator: " ")
    }

    var arguments: [String] {
        var a = [qemu, "-M", "microvm", "-m", String(memoryMiB), "-smp", "1",
                 "-nodefaults", "-no-user-config", "-nographic", "-no-reboot"]
        switch accelerator {
        case .kvm: a += ["-accel", "kvm", "-cpu", "host"]
        case .tcg: a += ["-accel", "tcg", "-cpu", "max"]
        }
        a += ["-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
              "-kernel", kernel, "-initrd", initramfs, "-append", kernelCommandLine,
              "-global", "virtio-mmio.force-legacy=false",
              "-chardev", "file,id=console,path=\(consoleLog)", "-serial", "chardev:console",
              "-device", "virtio-serial-device"]
        for (i, port) in ports.enumerated() {
            a += ["-chardev", "socket,id=port\(i),fd=\(port.descriptor)",
                  "-device", (port.console ? "virtconsole" : "virtserialport") + ",chardev=port\(i),name=\(port.name)"]
        }
        for (i, share) in shares.enumerated() {
            // mapped-xattr for writable shares: the guest's owners and modes live in xattrs, so a
            // guest root cannot make set-uid files on the host; read-only shares need no mapping.
            let model = share.readOnly ? "none" : "mapped-xattr"
            a += ["-fsdev", "local,id=share\(i),path=\(share.path),security_model=\(model)" + (share.readOnly ? ",readonly=on" : ""),
                  "-device", "virtio-9p-device,fsdev=share\(i),mount_tag=\(share.tag)"]
        }
        return a
    }
}
