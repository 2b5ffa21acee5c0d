#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Crypto
import ElastosNode

/// The store's root secret: 32 random bytes in `<storage>/master.key` (mode 0600, in a 0700
/// directory). Every other key is derived from it (``StorageKeys``); it is never used directly,
/// never logged and never part of an error.
enum StorageMasterKey {
    static let fileName = "master.key"
    static let size = 32

    /// Loads the key, creating it (and the 0700 directory) on first use.
    static func loadOrCreate(directory: String) throws(MasterKeyError) -> SymmetricKey {
        do { try FileIO.makeDirectory(directory) } catch { throw .io(error) }
        try checkDirectory(directory)
        let path = directory + "/" + fileName
        if let key = try load(path) { return key }
        let key = SymmetricKey(size: .bits256)
        let bytes = key.withUnsafeBytes { Array($0) }
        do {
            // O_EXCL temp file, fsync, link (never replaces an existing key), directory fsync.
            try FileIO.writeAtomically(bytes, to: path, mode: 0o600, replace: false)
        } catch {
            // Another process created it first: use theirs.
            if error.code == EEXIST, let existing = try load(path) { return existing }
            throw .io(error)
        }
        return key
    }

    static func checkDirectory(_ directory: String) throws(MasterKeyError) {
        var st = stat()
        guard lstat(directory, &st) == 0 else { throw .io(FileError("stat", directory)) }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw .io(FileError("use as a directory", directory, code: ENOTDIR)) }
        guard st.st_mode & 0o077 == 0 else {
            throw .directoryAccessibleByOthers(path: directory, mode: UInt32(st.st_mode & 0o777))
        }
    }

    /// The key in `path`, or nil if there is none. Refuses links, other owners, modes that let
    /// anyone else read it, and any size but 32.
    static func load(_ path: String) throws(MasterKeyError) -> SymmetricKey? {
        var st = stat()
        if lstat(path, &st) != 0 {
            if errno == ENOENT { return nil }
            throw .io(FileError("stat", path))
        }
        guard st.st_mode & S_IFMT != S_IFLNK else { throw .symbolicLink(path: path) }
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ELOOP { throw .symbolicLink(path: path) }
            throw .io(FileError("open", path))
        }
        defer { close(fd) }
        // Check what was opened, not what the name pointed to a moment ago.
        guard fstat(fd, &st) == 0 else { throw .io(FileError("stat", path)) }
        guard st.st_mode & S_IFMT == S_IFREG else { throw .notAFile(path: path) }
        guard st.st_uid == geteuid() else { throw .notOwnedByUser(path: path) }
        guard st.st_mode & 0o077 == 0 else { throw .readableByOthers(path: path, mode: UInt32(st.st_mode & 0o777)) }
        guard st.st_size == off_t(size) else { throw .wrongSize(path: path, size: Int(st.st_size)) }
        var bytes = [UInt8](repeating: 0, count: size + 1)
        var got = 0
        while got < bytes.count {
            let n = bytes[got...].withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw .io(FileError("read", path)) }
            if n == 0 { break }
            got += n
        }
        guard got == size else { throw .wrongSize(path: path, size: got) }
        let key = SymmetricKey(data: bytes[0..<size])
        for i in bytes.indices { bytes[i] = 0 }
        return key
    }
}
