// File-system access for capsules: reading a directory into a tree without following links,
// writing a tree out, and durable writes. The write helpers follow Sources/ElastosNode/FileIO.swift
// (temp file + fsync + rename + directory fsync); they are copied rather than shared because
// FileIO is internal to ElastosNode and Core does no I/O.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ElastosCore
import ElastosNode
import Foundation

enum CapsuleFiles {
    // MARK: Reading a directory

    /// The tree under `path`: regular files and directories only, each name valid UTF-8; no
    /// symlink is followed below the root. Modes, owners and times are not read.
    static func readTree(_ path: String, limits: CapsuleLimits) throws(CapsuleError) -> UnixFSEntry {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOTDIR { throw .notADirectory(path) }
            throw .io(FileError("open directory", path))
        }
        var walk = TreeWalk(root: path, limits: limits)
        return try walk.directory(fd, relative: "", depth: 0)
    }

    private struct TreeWalk {
        let root: String
        let limits: CapsuleLimits
        var total = 0
        var entries = 1

        func display(_ relative: String) -> String { relative.isEmpty ? root : root + "/" + relative }

        /// Reads the directory open at `fd` (and closes it).
        mutating func directory(_ fd: Int32, relative: String, depth: Int) throws(CapsuleError) -> UnixFSEntry {
            guard let dir = fdopendir(fd) else {
                let e = FileError("read directory", display(relative))
                close(fd)
                throw .io(e)
            }
            defer { closedir(dir) }
            let dfd = dirfd(dir)
            var names: [(name: String, bytes: [UInt8])] = []
            while true {
                errno = 0
                guard let ent = readdir(dir) else {
                    if errno != 0 { throw .io(FileError("read directory", display(relative))) }
                    break
                }
                let bytes = withUnsafeBytes(of: ent.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
                if bytes == [0x2E] || bytes == [0x2E, 0x2E] { continue }
                guard let name = String(validating: bytes, as: UTF8.self) else {
                    let shown = String(decoding: bytes, as: UTF8.self)
                    throw .invalidName(path: display(relative.isEmpty ? shown : relative + "/" + shown),
                                       reason: "name is not valid UTF-8 (rename it)")
                }
                names.append((name, bytes))
            }
            names.sort { $0.bytes.lexicographicallyPrecedes($1.bytes) }
            var children: [UnixFSDirectoryEntry] = []
            children.reserveCapacity(names.count)
            for (name, _) in names {
                let childRelative = relative.isEmpty ? name : relative + "/" + name
                if let problem = UnixFSImporter.nameProblem(name) {
                    throw .invalidName(path: display(childRelative), reason: problem)
                }
                entries += 1
                guard entries <= limits.maxEntries else { throw .tooManyEntries(limit: limits.maxEntries) }
                var st = stat()
                guard fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                    throw .io(FileError("stat", display(childRelative)))
                }
                switch st.st_mode & S_IFMT {
                case S_IFDIR:
                    guard depth + 1 < limits.maxDepth else { throw .tooDeep(path: display(childRelative), limit: limits.maxDepth) }
                    let child = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                    guard child >= 0 else { throw .io(FileError("open directory", display(childRelative))) }
                    children.append(UnixFSDirectoryEntry(name: name, entry: try directory(child, relative: childRelative, depth: depth + 1)))
                case S_IFREG:
                    children.append(UnixFSDirectoryEntry(name: name, entry: .file(try file(dfd, name, relative: childRelative, size: Int(st.st_size)))))
                case S_IFLNK:
                    throw .unsupportedFileType(path: display(childRelative), kind: "a symbolic link")
                case S_IFCHR, S_IFBLK:
                    throw .unsupportedFileType(path: display(childRelative), kind: "a device")
                case S_IFIFO:
                    throw .unsupportedFileType(path: display(childRelative), kind: "a FIFO")
                case S_IFSOCK:
                    throw .unsupportedFileType(path: display(childRelative), kind: "a socket")
                default:
                    throw .unsupportedFileType(path: display(childRelative), kind: "not a regular file")
                }
            }
            return .directory(children)
        }

        mutating func file(_ dfd: Int32, _ name: String, relative: String, size: Int) throws(CapsuleError) -> [UInt8] {
            let path = display(relative)
            guard size <= limits.maxFileSize else { throw .fileTooLarge(path: path, size: size, limit: limits.maxFileSize) }
            total += size
            guard total <= limits.maxTotalSize else { throw .contentTooLarge(limit: limits.maxTotalSize) }
            // O_NONBLOCK: should the entry have been swapped for a FIFO since fstatat, do not hang.
            let fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            guard fd >= 0 else {
                if errno == ELOOP { throw .unsupportedFileType(path: path, kind: "a symbolic link") }
                throw .io(FileError("open", path))
            }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw .io(FileError("stat", path)) }
            guard st.st_mode & S_IFMT == S_IFREG, Int(st.st_size) == size else { throw .changedWhileReading(path: path) }
            // Read one byte more than expected to notice a file that grew.
            let bytes = try readAll(fd, path: path, limit: size + 1)
            guard bytes.count == size else { throw .changedWhileReading(path: path) }
            return bytes
        }
    }

    /// Reads until EOF or `limit` bytes.
    static func readAll(_ fd: Int32, path: String, limit: Int) throws(CapsuleError) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(min(limit, 1 << 20))
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while out.count < limit {
            let want = min(buffer.count, limit - out.count)
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, want) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(FileError("read", path))
            }
            if n == 0 { break }
            out.append(contentsOf: buffer[0..<n])
        }
        return out
    }

    /// A whole regular file (not following a final symlink), or nil if it does not exist.
    static func readFile(_ path: String, limit: Int) throws(CapsuleError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            if errno == ELOOP { throw .unsupportedFileType(path: path, kind: "a symbolic link") }
            throw .io(FileError("open", path))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io(FileError("stat", path)) }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw .unsupportedFileType(path: path, kind: st.st_mode & S_IFMT == S_IFDIR ? "a directory" : "not a regular file")
        }
        guard Int(st.st_size) <= limit else { throw .fileTooLarge(path: path, size: Int(st.st_size), limit: limit) }
        let bytes = try readAll(fd, path: path, limit: limit + 1)
        guard bytes.count <= limit else { throw .fileTooLarge(path: path, size: bytes.count, limit: limit) }
        return bytes
    }

    /// Whether `path` is a directory (following links, as the user named it).
    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR
    }

    // MARK: Writing a tree

    /// Writes `tree` (a directory) into the new directory `path`, which must not exist. Files get
    /// mode 0400, except `executable` (relative paths) which get 0500; directories 0700.
    /// Nothing is fsynced: a materialized tree is a cache, re-extracted when needed.
    static func writeTree(_ tree: UnixFSEntry, to path: String, executable: Set<String>) throws(CapsuleError) {
        guard case .directory(let entries) = tree else { throw .notADirectory(path) }
        guard mkdir(path, 0o700) == 0 else { throw .io(FileError("create directory", path)) }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw .io(FileError("open directory", path)) }
        defer { close(fd) }
        try writeEntries(entries, in: fd, display: path, relative: "", executable: executable)
    }

    private static func writeEntries(_ entries: [UnixFSDirectoryEntry], in dfd: Int32, display: String, relative: String,
                                     executable: Set<String>) throws(CapsuleError) {
        for child in entries {
            let rel = relative.isEmpty ? child.name : relative + "/" + child.name
            let shown = display + "/" + rel
            // Names were checked by the importer; check again before touching the file system.
            guard UnixFSImporter.nameProblem(child.name) == nil else { throw .invalidName(path: shown, reason: "invalid name") }
            switch child.entry {
            case .directory(let sub):
                guard mkdirat(dfd, child.name, 0o700) == 0 else { throw .io(FileError("create directory", shown)) }
                let fd = openat(dfd, child.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard fd >= 0 else { throw .io(FileError("open directory", shown)) }
                defer { close(fd) }
                try writeEntries(sub, in: fd, display: display, relative: rel, executable: executable)
            case .file(let bytes):
                let mode: mode_t = executable.contains(rel) ? 0o500 : 0o400
                let fd = openat(dfd, child.name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
                guard fd >= 0 else { throw .io(FileError("create", shown)) }
                defer { close(fd) }
                do throws(FileError) { try writeAll(fd, bytes, path: shown) } catch { throw .io(error) }
                guard fchmod(fd, mode) == 0 else { throw .io(FileError("chmod", shown)) }
            }
        }
    }

    /// Removes a tree this module wrote (making read-only directories writable on the way).
    static func removeTree(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if st.st_mode & S_IFMT == S_IFDIR {
            chmod(path, 0o700)
            if let names = try? FileManager.default.contentsOfDirectory(atPath: path) {
                for name in names { removeTree(path + "/" + name) }
            }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    // MARK: Durable writes (as ElastosNode's FileIO)

    /// Writes `bytes` to `path` atomically: a temp file in the same directory created with
    /// `mode`, fsync, rename over the target, then (unless the caller batches it) an fsync of
    /// the directory.
    static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600,
                                syncDirectory sync: Bool = true) throws(FileError) {
        let parent = (path as NSString).deletingLastPathComponent
        let dir = parent.isEmpty ? "." : parent  // a bare file name is in the current directory
        let tmp = dir + "/." + (path as NSString).lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw FileError("create", tmp) }
        var ok = false
        defer { if !ok { unlink(tmp) } }
        guard fchmod(fd, mode) == 0 else { let e = FileError("chmod", tmp); close(fd); throw e }
        do throws(FileError) { try writeAll(fd, bytes, path: tmp) } catch { close(fd); throw error }
        guard fsync(fd) == 0 else { let e = FileError("fsync", tmp); close(fd); throw e }
        close(fd)
        guard rename(tmp, path) == 0 else { throw FileError("rename into place", path) }
        ok = true
        if sync { try syncDirectory(dir) }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(FileError) {
        try FileIO.writeAll(fd, bytes, path: path)
    }

    static func syncDirectory(_ dir: String) throws(FileError) { try FileIO.syncDirectory(dir) }

    /// Creates a directory (and parents) with mode 0700 if missing.
    static func makeDirectory(_ path: String) throws(FileError) { try FileIO.makeDirectory(path) }

    /// An exclusive advisory lock held for the life of the returned descriptor.
    static func lockExclusively(_ path: String) throws(FileError) -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileError("open lock", path) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            close(fd)
            throw FileError("lock (another elastos process is changing the capsule store)", path, code: e)
        }
        return fd
    }
}
