#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Why a control-socket operation failed.
public struct SocketError: Error, Equatable, Sendable, CustomStringConvertible {
    public let operation: String
    public let code: Int32
    init(_ operation: String, code: Int32? = nil) { self.operation = operation; self.code = code ?? errno }
    public var description: String { "\(operation): \(String(cString: strerror(code)))" }
}

/// A connected Unix stream socket that can carry file descriptors (SCM_RIGHTS), used by the
/// control API so `elastos run` can hand its terminal to the node.
public final class UnixConnection: @unchecked Sendable {
    // @unchecked: the descriptor is only used by the thread that owns the connection (the CLI's
    // main thread, or the node's per-connection thread); `close` is idempotent.
    public private(set) var fd: Int32
    private var buffer: [UInt8] = []

    init(fd: Int32) { self.fd = fd }
    deinit { close() }

    public func close() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    /// Ends both directions without releasing the descriptor, so a thread blocked reading it
    /// returns end-of-stream (closing it under that thread could hand the number to another file).
    public func shutdown() {
        if fd >= 0 { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
    }

    /// Connects to a listening socket at `path`.
    public static func connect(path: String) throws(SocketError) -> UnixConnection {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError("socket") }
        var addr = try sockaddrUn(path)
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard r == 0 else { let e = SocketError("connect to \(path)"); Glibc.close(fd); throw e }
        return UnixConnection(fd: fd)
    }

    /// Sends one line (a JSON message), with `fds` attached to its first byte.
    public func sendLine(_ text: String, fds: [Int32] = []) throws(SocketError) {
        var bytes = Array(text.utf8)
        bytes.append(0x0A)
        var offset = 0
        if !fds.isEmpty {
            let n = try sendWithDescriptors(Array(bytes.prefix(1)), fds: fds)
            offset = n
        }
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 { if errno == EINTR { continue }; throw SocketError("send") }
            offset += n
        }
    }

    /// Reads one line (at most `limit` bytes) and any descriptors that arrived with it.
    /// Returns nil at end of stream.
    public func readLine(limit: Int = 1 << 20) throws(SocketError) -> (line: String, fds: [Int32])? {
        var fds: [Int32] = []
        while true {
            if let nl = buffer.firstIndex(of: 0x0A), nl - buffer.startIndex <= limit {
                let line = String(decoding: buffer[..<nl], as: UTF8.self)
                buffer.removeSubrange(...nl)
                return (line, fds)
            }
            guard buffer.count <= limit else {
                // Descriptors that came with a refused line are ours to close.
                for d in fds { Glibc.close(d) }
                throw SocketError("read (line over \(limit) bytes)", code: EMSGSIZE)
            }
            let (chunk, got) = try receiveWithDescriptors(max: 65536)
            fds += got
            if chunk.isEmpty {
                for d in fds { Glibc.close(d) }
                return nil
            }
            buffer += chunk
        }
    }

    /// The uid of the process at the other end (SO_PEERCRED).
    public func peerUID() -> UInt32? {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } — not exported without _GNU_SOURCE.
        var cred: (Int32, UInt32, UInt32) = (0, 0, 0)
        var len = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0, len == 12 else { return nil }
        return cred.1
    }

    // MARK: SCM_RIGHTS by hand (the CMSG_* macros are not visible to Swift).

    private static let headerSize = MemoryLayout<cmsghdr>.size

    private static func align(_ n: Int) -> Int { (n + MemoryLayout<Int>.size - 1) & ~(MemoryLayout<Int>.size - 1) }

    private func sendWithDescriptors(_ bytes: [UInt8], fds: [Int32]) throws(SocketError) -> Int {
        let dataLen = fds.count * MemoryLayout<Int32>.size
        var control = [UInt8](repeating: 0, count: Self.headerSize + Self.align(dataLen))
        control.withUnsafeMutableBytes { raw in
            let h = raw.baseAddress!.assumingMemoryBound(to: cmsghdr.self)
            h.pointee.cmsg_len = Int(Self.headerSize + dataLen)
            h.pointee.cmsg_level = SOL_SOCKET
            h.pointee.cmsg_type = Int32(SCM_RIGHTS)
            let data = raw.baseAddress!.advanced(by: Self.headerSize).assumingMemoryBound(to: Int32.self)
            for (i, d) in fds.enumerated() { data[i] = d }
        }
        var payload = bytes
        let n = payload.withUnsafeMutableBytes { p -> Int in
            control.withUnsafeMutableBytes { c -> Int in
                var iov = iovec(iov_base: p.baseAddress, iov_len: p.count)
                return withUnsafeMutablePointer(to: &iov) { iovp in
                    var msg = msghdr()
                    msg.msg_iov = iovp
                    msg.msg_iovlen = 1
                    msg.msg_control = c.baseAddress
                    msg.msg_controllen = c.count
                    return sendmsg(fd, &msg, Int32(MSG_NOSIGNAL))
                }
            }
        }
        guard n > 0 else { throw SocketError("sendmsg") }
        return n
    }

    private func receiveWithDescriptors(max: Int) throws(SocketError) -> ([UInt8], [Int32]) {
        var data = [UInt8](repeating: 0, count: max)
        var control = [UInt8](repeating: 0, count: Self.headerSize + Self.align(16 * MemoryLayout<Int32>.size))
        var flags: Int32 = 0
        var controlLen = 0
        let n = data.withUnsafeMutableBytes { p -> Int in
            control.withUnsafeMutableBytes { c -> Int in
                var iov = iovec(iov_base: p.baseAddress, iov_len: p.count)
                return withUnsafeMutablePointer(to: &iov) { iovp in
                    var msg = msghdr()
                    msg.msg_iov = iovp
                    msg.msg_iovlen = 1
                    msg.msg_control = c.baseAddress
                    msg.msg_controllen = c.count
                    var r: Int
                    repeat { r = recvmsg(fd, &msg, Int32(MSG_CMSG_CLOEXEC)) } while r < 0 && errno == EINTR
                    flags = msg.msg_flags
                    controlLen = msg.msg_controllen
                    return r
                }
            }
        }
        guard n >= 0 else { throw SocketError("recvmsg") }
        var fds: [Int32] = []
        // One SCM_RIGHTS header is all this protocol ever sends.
        if controlLen >= Self.headerSize {
            control.withUnsafeBytes { raw in
                let h = raw.baseAddress!.assumingMemoryBound(to: cmsghdr.self).pointee
                guard h.cmsg_level == SOL_SOCKET, h.cmsg_type == Int32(SCM_RIGHTS), h.cmsg_len >= Self.headerSize,
                    h.cmsg_len <= controlLen else { return }
                let count = (Int(h.cmsg_len) - Self.headerSize) / MemoryLayout<Int32>.size
                let d = raw.baseAddress!.advanced(by: Self.headerSize).assumingMemoryBound(to: Int32.self)
                for i in 0..<count { fds.append(d[i]) }
            }
        }
        if flags & Int32(MSG_CTRUNC) != 0 {
            for d in fds { Glibc.close(d) }
            throw SocketError("recvmsg (too many descriptors)", code: EMSGSIZE)
        }
        return (Array(data.prefix(n)), fds)
    }
}

/// A listening Unix socket at a path, created with mode 0600.
public final class UnixListener: @unchecked Sendable {
    // @unchecked: `fd` is written once at init and by `close()`; accept runs on one thread.
    public private(set) var fd: Int32
    public let path: String

    public init(path: String) throws(SocketError) {
        self.path = path
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError("socket") }
        // Bind and listen under a temporary name, then rename into place: a client that sees
        // the path can connect at once (between bind and listen it would be refused and, e.g.,
        // `elastos run` would fall back to running in-process).
        let staging = path + ".\(getpid()).new"
        let bindPath = (try? sockaddrUn(staging)) != nil ? staging : path
        var addr = try sockaddrUn(bindPath)
        unlink(bindPath)
        // Create the socket file 0600 from the start: no window where others could connect.
        let old = umask(0o177)
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(old)
        guard r == 0 else { let e = SocketError("bind \(bindPath)"); Glibc.close(fd); throw e }
        guard listen(fd, 64) == 0 else { let e = SocketError("listen"); Glibc.close(fd); unlink(bindPath); throw e }
        if bindPath != path, rename(bindPath, path) != 0 {
            let e = SocketError("rename \(bindPath) into place"); Glibc.close(fd); unlink(bindPath); throw e
        }
        self.fd = fd
    }

    deinit { close() }

    public func close() {
        if fd >= 0 { Glibc.shutdown(fd, Int32(SHUT_RDWR)); Glibc.close(fd); fd = -1; unlink(path) }
    }

    /// Waits for the next connection; nil once the listener is closed.
    public func accept() -> UnixConnection? {
        while fd >= 0 {
            let c = Glibc.accept(fd, nil, nil)
            if c >= 0 {
                _ = fcntl(c, F_SETFD, FD_CLOEXEC)
                return UnixConnection(fd: c)
            }
            if errno == EINTR || errno == ECONNABORTED { continue }
            return nil
        }
        return nil
    }
}

private func sockaddrUn(_ path: String) throws(SocketError) -> sockaddr_un {
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
        throw SocketError("socket path \(path) is too long", code: ENAMETOOLONG)
    }
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
        for (i, b) in bytes.enumerated() { raw[i] = b }
        raw[bytes.count] = 0
    }
    return addr
}
