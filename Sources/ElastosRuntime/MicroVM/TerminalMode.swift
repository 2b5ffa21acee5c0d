#if canImport(Glibc)
import Glibc
#endif

/// The user's terminal while a microVM capsule owns it: raw mode (the guest's own line
/// discipline on /dev/hvc0 does echo, line editing and Ctrl-C), restored when the capsule ends,
/// and the window size, which a virtio console does not carry (QEMU 7.2 has no console-size
/// feature): the runtime reads it and sends it over the control port.
struct TerminalMode {
    let descriptor: Int32
    private var saved = termios()
    private(set) var isRaw = false

    init(descriptor: Int32) { self.descriptor = descriptor }

    static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    mutating func makeRaw() {
        guard tcgetattr(descriptor, &saved) == 0 else { return }
        var raw = saved
        cfmakeraw(&raw)
        isRaw = tcsetattr(descriptor, TCSANOW, &raw) == 0
    }

    func restore() {
        guard isRaw else { return }
        var original = saved
        _ = tcsetattr(descriptor, TCSADRAIN, &original)
    }

    typealias Ioctl = @convention(c) (Int32, UInt, UnsafeMutableRawPointer?) -> Int32
    /// `ioctl` is variadic in C, which Swift cannot call directly: through a fixed prototype.
    private static let ioctlFunction: Ioctl? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "ioctl").map { unsafeBitCast($0, to: Ioctl.self) }

    /// Rows and columns (TIOCGWINSZ), nil if it is not a terminal.
    static func windowSize(_ fd: Int32) -> (rows: Int, columns: Int)? {
        var size = winsize()
        guard let ioctl = ioctlFunction, ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_row > 0, size.ws_col > 0 else { return nil }
        return (Int(size.ws_row), Int(size.ws_col))
    }
}
