#if canImport(Glibc)
package import Glibc
#elseif canImport(Musl)
package import Musl
#elseif canImport(Darwin)
package import Darwin
#endif
import Foundation

/// A file-system failure, with the path and the OS's reason.
public struct FileError: Error, Equatable, Sendable, CustomStringConvertible {
    public let path: String
    public let operation: String
    public let code: Int32

    public init(_ operation: String, _ path: String, code: Int32? = nil) {
        self.operation = operation; self.path = path; self.code = code ?? errno
    }

    public var description: String { "cannot \(operation) \(path): \(String(cString: strerror(code)))" }
}

/// Durable file writes: a crash leaves either the old or the new content, never a mix.
package enum FileIO {
    /// Writes `bytes` to `path` atomically: a temp file in the same directory created with
    /// `mode`, fsync, rename over the target, fsync of the directory.
    package static func writeAtomically(_ bytes: [UInt8], to path: String, mode: UInt32 = 0o600, replace: Bool = true) throws(FileError) {
        let dir = (path as NSString).deletingLastPathComponent
        let tmp = dir + "/." + (path as NSString).lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else { throw FileError("create", tmp) }
        var ok = false
        defer { if !ok { unlink(tmp) } }
        // The umask may have narrowed it; make the mode exact.
        guard fchmod(fd, mode_t(mode)) == 0 else { let e = FileError("chmod", tmp); close(fd); throw e }
        do throws(FileError) { try writeAll(fd, bytes, path: tmp) } catch { close(fd); throw error }
        guard fsync(fd) == 0 else { let e = FileError("fsync", tmp); close(fd); throw e }
        close(fd)
        if replace {
            guard rename(tmp, path) == 0 else { throw FileError("rename into place", path) }
        } else {
            // Never overwrite: link fails with EEXIST if someone else created the file first.
            guard link(tmp, path) == 0 else { throw FileError("create", path) }
            unlink(tmp)
        }
        ok = true
        try syncDirectory(dir)
    }

    package static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(FileError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError("write", path)
            }
            offset += n
        }
    }

    package static func syncDirectory(_ dir: String) throws(FileError) {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError("open directory", dir) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw FileError("fsync directory", dir) }
    }

    /// Reads a whole file, or nil if it does not exist.
    package static func read(_ path: String, limit: Int = 64 << 20) throws(FileError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw FileError("open", path)
        }
        defer { close(fd) }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError("read", path)
            }
            if n == 0 { break }
            out.append(contentsOf: buf[0..<n])
            if out.count > limit { throw FileError("read (file too large)", path, code: EFBIG) }
        }
        return out
    }

    /// Creates a directory (and parents) with mode 0700 if missing.
    package static func makeDirectory(_ path: String) throws(FileError) {
        var st = stat()
        if stat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else { throw FileError("use as a directory", path, code: ENOTDIR) }
            return
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path { try makeDirectory(parent) }
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw FileError("create directory", path) }
    }

    /// An exclusive advisory lock held for the life of the returned descriptor.
    package static func lockExclusively(_ path: String) throws(FileError) -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileError("open lock", path) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            close(fd)
            throw FileError("lock (another elastos process is using this node home)", path, code: e)
        }
        return fd
    }
}
