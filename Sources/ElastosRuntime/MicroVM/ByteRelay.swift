#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// Copies bytes from one descriptor to another on a thread of its own until end of input, an
/// error, or ``cancel()``: the user's stdio to and from a microVM's virtio ports. Descriptors
/// marked as owned are closed when it ends.
///
/// End of input towards the guest is `shutdown(SHUT_WR)` on the port's socket, not `close`:
/// QEMU reads a port's socket only once the guest has opened the port, but a closed peer is a
/// hang-up QEMU acts on at once, dropping what the guest has not read yet. After a half-close
/// QEMU reads the rest, then end of file, and the guest's read returns 0 when it gets there.
final class ByteRelay: Sendable {
    private let source: Int32, sink: Int32
    private let closeSource: Bool, closeSink: Bool, halfCloseSink: Bool
    /// Written to by `cancel` to wake the poll.
    private let wake: [Int32]
    private let done = DispatchSemaphore(value: 0)
    private let transferred = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)

    /// `halfCloseSink`: at the end, shut the sink socket down for writing (and close it on ``join``).
    init(from source: Int32, to sink: Int32, closeSource: Bool, closeSink: Bool, halfCloseSink: Bool = false) {
        self.source = source; self.sink = sink; self.closeSource = closeSource; self.closeSink = closeSink
        self.halfCloseSink = halfCloseSink
        var fds: [Int32] = [-1, -1]
        wake = Pipe.make(&fds) ? fds : [-1, -1]
    }

    func start(name: String) {
        let thread = Thread { [self] in
            run()
            if closeSource { close(source) }
            if halfCloseSink { _ = shutdown(sink, Int32(SHUT_WR)) } else if closeSink { close(sink) }
            done.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Stops it (an input relay still waiting for the user's next keystroke when the VM ended).
    func cancel() {
        if wake[1] >= 0 {
            var byte: UInt8 = 1
            _ = write(wake[1], &byte, 1)
        }
    }

    /// Waits until it has ended, at most `timeout`; true if it has.
    @discardableResult
    func join(timeout: Duration) -> Bool {
        let nanos = Int(timeout.components.seconds) * 1_000_000_000 + Int(timeout.components.attoseconds / 1_000_000_000)
        guard done.wait(timeout: .now() + .nanoseconds(nanos)) == .success else { return false }
        done.signal()
        if closed.exchange(true, ordering: .relaxed) == false {
            for fd in wake where fd >= 0 { close(fd) }
            if halfCloseSink { close(sink) }
        }
        return true
    }

    var bytesTransferred: Int { transferred.load(ordering: .relaxed) }

    private func run() {
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            var fds = [pollfd(fd: source, events: Int16(POLLIN), revents: 0), pollfd(fd: wake[0], events: Int16(POLLIN), revents: 0)]
            let r = poll(&fds, 2, -1)
            if r < 0 && errno == EINTR { continue }
            if r < 0 || fds[1].revents != 0 { return }
            let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if n <= 0 { return }
            var offset = 0
            while offset < n {
                let w = buffer[offset..<n].withUnsafeBytes { raw -> Int in
                    // send() on sockets (no SIGPIPE if the guest side has gone), write() on anything else.
                    let s = Glibc.send(sink, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
                    return s < 0 && errno == ENOTSOCK ? Glibc.write(sink, raw.baseAddress, raw.count) : s
                }
                if w < 0 && errno == EINTR { continue }
                if w <= 0 { return }
                offset += w
            }
            transferred.add(n, ordering: .relaxed)
        }
    }
}
