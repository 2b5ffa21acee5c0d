#if canImport(Glibc)
import Glibc
#endif
/// Everything needed to boot one microVM capsule.
public struct MicroVMLaunch: Sendable {
    public var name: String
    public var qemu: String
    public var accelerator: Accelerator
    public var kernel: MicroVMKernel
    public var initramfs: String
    /// Per-launch files (console log, QEMU's own log, the launch share), removed when it ends.
    public var runDirectory: String
    /// Host directory → guest mount: the package (read-only), the capsule's data directory.
    var shares: [QEMUCommand.Share]
    public var memoryMiB: Int
    public var stdio: StdioDescriptors
    /// The time from spawning QEMU to the guest init's `READY` on the control port.
    public var bootTimeout: Duration
    public var wallMillis: UInt64?
    /// Counted as QEMU's CPU time after the guest said `READY` (the boot itself is not the capsule's).
    public var cpuMillis: UInt64?
    public var stopGrace: Duration
    public var extraKernelArguments: [String]
    public var maxFrameLength: Int = 1 << 20
    /// setpriv(1), for `--pdeathsig KILL`: QEMU dies with the thread that started it.
    public var setpriv: String?
}

/// How a microVM ended, in the runtime's terms, with the guest's last console lines when it
/// did not end by its capsule exiting.
enum MicroVMOutcome {
    static func panicLine(_ console: [String]) -> String? {
        console.first { $0.contains("Kernel panic") }.map { $0.drop { $0 != "K" }.description }
    }

    /// The last `count` lines of a log file (at most 64 KB read).
    static func tail(_ path: String, lines count: Int) -> [String] {
        guard let handle = FileHandleReader(path) else { return [] }
        let text = String(decoding: handle.lastBytes(64 << 10), as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map {
            String($0.filter { $0 != "\r" })
        }
        return Array(lines.suffix(count))
    }
}

/// Reads the end of a file without loading all of it.
struct FileHandleReader {
    let fd: Int32
    init?(_ path: String) {
        fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return nil }
    }
    func lastBytes(_ count: Int) -> [UInt8] {
        defer { close(fd) }
        let end = lseek(fd, 0, SEEK_END)
        guard end >= 0 else { return [] }
        let start = max(0, Int(end) - count)
        var buffer = [UInt8](repeating: 0, count: Int(end) - start)
        let n = pread(fd, &buffer, buffer.count, off_t(start))
        return n > 0 ? Array(buffer[0..<n]) : []
    }
}
