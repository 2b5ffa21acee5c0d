#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Crypto
public import ElastosNode
import Foundation
import Synchronization

/// The encrypted object store behind `localhost://storage/` (docs/STORAGE.md).
///
/// Every file is sealed with AES-256-GCM under a key derived for its namespace and path, with
/// associated data binding it to its version and length; a per-namespace authenticated index
/// records the current version of every path, so swapped, edited, truncated or rolled-back
/// files read as ``StorageError/integrity(_:_:)``, never as data.
///
/// Safe to share between threads (one lock per store) and between processes (an `flock` on
/// each namespace). Independent of the runtime: it needs a directory and nothing else, so it
/// can move into a provider capsule unchanged.
public final class EncryptedStore: Sendable {
    /// The largest object a write may produce. Objects are read and written whole.
    public static let maxObjectSize = 256 << 20

    public let directory: String
    private let keys: StorageKeys
    /// In-process serialisation, what this process learnt about each namespace the first time
    /// it opened it (orphans collected, or an index rollback found), and its last index.
    private let state = Mutex<[StorageNamespace: NamespaceState]>([:])

    enum NamespaceHealth { case collected, rolledBack }

    struct NamespaceState {
        var health: NamespaceHealth
        /// The index as this process last read or wrote it, with the identity of the file it
        /// came from; reused while the file under the lock is still that file.
        var cached: (identity: IndexFileIdentity, index: StorageIndex)?
    }

    /// Opens (creating on first use) the store in `directory`, mode 0700, with its master key.
    public init(directory: String) throws(StorageError) {
        self.directory = directory
        do { keys = StorageKeys(master: try StorageMasterKey.loadOrCreate(directory: directory)) } catch {
            throw .masterKey(error)
        }
    }

    /// The store of a node: `<home>/storage`.
    public convenience init(home: NodeHome) throws(StorageError) {
        do { try FileIO.makeDirectory(home.path) } catch { throw .io(error) }
        try self.init(directory: Self.directory(of: home))
    }

    public static func directory(of home: NodeHome) -> String { home.path + "/storage" }

    // MARK: Operations

    /// A file's plaintext.
    public func read(_ address: StorageAddress) throws(StorageError) -> [UInt8] {
        try withNamespace(address.namespace, exclusive: false) { (ns) throws(StorageError) in
            try ns.readFile(address.path, index: ns.index)
        }
    }

    /// What `address` is, its plaintext size and version.
    public func stat(_ address: StorageAddress) throws(StorageError) -> StorageStat {
        try withNamespace(address.namespace, exclusive: false) { (ns) throws(StorageError) in
            guard let s = ns.index.stat(address.path) else { throw .notFound(address.path) }
            return s
        }
    }

    /// The direct children of a directory, sorted by name.
    public func list(_ address: StorageAddress) throws(StorageError) -> [StorageListing] {
        try withNamespace(address.namespace, exclusive: false) { (ns) throws(StorageError) in
            guard let s = ns.index.stat(address.path) else { throw .notFound(address.path) }
            guard s.kind == .directory else { throw .notADirectory(address.path) }
            return ns.index.children(of: address.path)
        }
    }

    /// Replaces (or creates) a file; missing parent directories are created.
    @discardableResult
    public func write(_ bytes: [UInt8], to address: StorageAddress) throws(StorageError) -> StorageStat {
        guard bytes.count <= Self.maxObjectSize else { throw .tooLarge(size: bytes.count, limit: Self.maxObjectSize) }
        return try withNamespace(address.namespace, exclusive: true) { (ns) throws(StorageError) in
            try ns.replace(address.path, with: bytes)
        }
    }

    /// Appends to a file, creating it if missing. (Read, extend, write a new version: the
    /// whole object is re-sealed, so appends cost the file's size.)
    @discardableResult
    public func append(_ bytes: [UInt8], to address: StorageAddress) throws(StorageError) -> StorageStat {
        try withNamespace(address.namespace, exclusive: true) { (ns) throws(StorageError) in
            var content: [UInt8] = []
            if let existing = ns.index.stat(address.path) {
                guard existing.kind == .file else { throw .isADirectory(address.path) }
                content = try ns.readFile(address.path, index: ns.index)
            }
            guard content.count + bytes.count <= Self.maxObjectSize else {
                throw .tooLarge(size: content.count + bytes.count, limit: Self.maxObjectSize)
            }
            content.append(contentsOf: bytes)
            return try ns.replace(address.path, with: content)
        }
    }

    /// Creates a directory and any missing parents; an existing directory is left as it is.
    @discardableResult
    public func makeDirectory(_ address: StorageAddress) throws(StorageError) -> StorageStat {
        try withNamespace(address.namespace, exclusive: true) { (ns) throws(StorageError) in
            if let existing = ns.index.stat(address.path) {
                guard existing.kind == .directory else { throw .notADirectory(address.path) }
                return existing
            }
            var index = ns.index
            try Self.createParents(of: address.path, in: &index)
            let s = StorageStat(kind: .directory, size: 0, version: index.takeVersion())
            index.entries[address.path] = s
            try ns.commit(index)
            return s
        }
    }

    /// Deletes a file or an empty directory.
    public func delete(_ address: StorageAddress) throws(StorageError) {
        try withNamespace(address.namespace, exclusive: true) { (ns) throws(StorageError) in
            guard !address.path.isRoot else { throw .rootCannotBeDeleted }
            guard let existing = ns.index.stat(address.path) else { throw .notFound(address.path) }
            if existing.kind == .directory, !ns.index.children(of: address.path).isEmpty {
                throw .directoryNotEmpty(address.path)
            }
            var index = ns.index
            index.entries[address.path] = nil
            _ = index.takeVersion()  // the index changes on every mutation
            try ns.commit(index)
            if existing.kind == .file { ns.removeObject(address.path, version: existing.version) }
        }
    }

    // MARK: Namespaces

    static func createParents(of path: StoragePath, in index: inout StorageIndex) throws(StorageError) {
        for ancestor in path.ancestors {
            if let s = index.entries[ancestor] {
                guard s.kind == .directory else { throw .notADirectory(ancestor) }
            } else {
                index.entries[ancestor] = StorageStat(kind: .directory, size: 0, version: index.takeVersion())
            }
        }
    }

    /// Runs `body` with the namespace locked (in this process and, with `flock`, across
    /// processes) and its index loaded. The first use in this process collects orphans.
    private func withNamespace<R: Sendable>(_ namespace: StorageNamespace, exclusive: Bool,
                                            _ body: (inout OpenNamespace) throws(StorageError) -> R) throws(StorageError) -> R {
        try state.withLock { (states) throws(StorageError) -> R in
            let dir = directory + "/" + keys.directoryName(namespace)
            var exists = true
            var st = Glibc.stat()
            if lstat(dir, &st) != 0 {
                guard errno == ENOENT else { throw .io(FileError("stat", dir)) }
                exists = false
            } else if st.st_mode & S_IFMT != S_IFDIR {
                throw .io(FileError("use as a directory", dir, code: ENOTDIR))
            }
            if !exists {
                if !exclusive {
                    // Nothing stored yet: an empty namespace, without creating anything.
                    var empty = OpenNamespace(namespace: namespace, directory: dir, keys: keys, index: StorageIndex())
                    return try body(&empty)
                }
                if mkdir(dir, 0o700) != 0 && errno != EEXIST { throw .io(FileError("create directory", dir)) }
                do throws(FileError) { try FileIO.syncDirectory(directory) } catch { throw .io(error) }
            }
            let known = states[namespace]?.health
            if known == .rolledBack { throw .integrity(.indexRolledBack, nil) }
            let lock = try Self.lock(dir + "/lock", exclusive: exclusive || known == nil)
            defer { close(lock) }
            var ns = OpenNamespace(namespace: namespace, directory: dir, keys: keys, index: StorageIndex())
            let loaded = try ns.loadIndex(cached: states[namespace]?.cached)
            ns.index = loaded.index
            ns.indexIdentity = loaded.identity
            if known == nil {
                if try ns.collectOrphans() == .rolledBack {
                    states[namespace] = NamespaceState(health: .rolledBack)
                    throw .integrity(.indexRolledBack, nil)
                }
            }
            // Whatever the body does, the index it leaves (committed or not) is what's on disk.
            defer {
                states[namespace] = NamespaceState(health: .collected,
                                                   cached: ns.indexIdentity.map { ($0, ns.index) })
            }
            return try body(&ns)
        }
    }

    private static func lock(_ path: String, exclusive: Bool) throws(StorageError) -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .io(FileError("open lock", path)) }
        while flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0 {
            if errno == EINTR { continue }
            let e = FileError("lock", path)
            close(fd)
            throw .io(e)
        }
        return fd
    }
}

/// One namespace, locked, with its index: the steps every operation is made of.
struct OpenNamespace {
    let namespace: StorageNamespace
    let directory: String
    let keys: StorageKeys
    var index: StorageIndex
    /// Which file `index` is, when known (nil: not on disk yet, or a commit did not finish).
    var indexIdentity: IndexFileIdentity?

    static let indexName = "index"
    static let indexLimit = 64 << 20
    static let temporaryPrefix = ".tmp-"

    var indexPath: String { directory + "/" + Self.indexName }

    func objectPath(_ path: StoragePath, version: UInt64) -> String {
        directory + "/" + keys.objectFileName(namespace, path, version: version)
    }

    /// The namespace's index: `cached` if the index file is still the one it came from
    /// (same inode, size and header — the header carries `nextVersion`, which every commit
    /// raises), else read and authenticated. An empty index when there is no file yet.
    func loadIndex(cached: (identity: IndexFileIdentity, index: StorageIndex)?) throws(StorageError)
        -> (index: StorageIndex, identity: IndexFileIdentity?) {
        let fd = open(indexPath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        if fd < 0 {
            if errno == ENOENT { return (StorageIndex(), nil) }
            throw .io(FileError("open", indexPath))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io(FileError("stat", indexPath)) }
        let size = Int(st.st_size)
        guard size <= Self.indexLimit else { throw .io(FileError("read (file too large)", indexPath, code: EFBIG)) }
        var header = [UInt8](repeating: 0, count: StorageIndex.headerSize)
        let got = try DurableFile.readFully(fd, into: &header, path: indexPath)
        let identity = IndexFileIdentity(st, size: size, header: Array(header[0..<got]))
        if let cached, cached.identity == identity { return (cached.index, identity) }
        var bytes = [UInt8](repeating: 0, count: size)
        guard lseek(fd, 0, SEEK_SET) == 0 else { throw .io(FileError("seek", indexPath)) }
        let n = try DurableFile.readFully(fd, into: &bytes, path: indexPath)
        bytes.removeLast(size - n)
        return (try StorageIndex.decode(bytes, key: keys.indexKey(namespace), namespace: namespace), identity)
    }

    func readFile(_ path: StoragePath, index: StorageIndex) throws(StorageError) -> [UInt8] {
        guard let s = index.stat(path) else { throw .notFound(path) }
        guard s.kind == .file else { throw .isADirectory(path) }
        return try ObjectFormat.readAndOpen(objectPath(path, version: s.version), key: keys.objectKey(namespace, path),
                                            namespace: namespace, path: path, version: s.version, length: s.size)
    }

    /// The write ordering that makes a crash leave the old or the new state: (1) the new
    /// version goes to a new object file (temp, fsync, rename, directory fsync); (2) the index
    /// naming it replaces the old index the same way; (3) the old object file is removed.
    /// A crash after (1) leaves an orphan of the next version; after (2), an orphan of an older
    /// one; both are collected on the next open.
    mutating func replace(_ path: StoragePath, with bytes: [UInt8]) throws(StorageError) -> StorageStat {
        guard !path.isRoot else { throw .isADirectory(path) }
        let old = index.stat(path)
        if let old, old.kind == .directory { throw .isADirectory(path) }
        var next = index
        try EncryptedStore.createParents(of: path, in: &next)
        let version = next.takeVersion()
        let key = keys.objectKey(namespace, path)
        try DurableFile.write(in: directory, name: keys.objectFileName(namespace, path, version: version)) { (fd, tmp) throws(FileError) in
            try ObjectFormat.sealAndWrite(bytes, key: key, namespace: namespace, path: path, version: version, to: fd, file: tmp)
        }
        let s = StorageStat(kind: .file, size: bytes.count, version: version)
        next.entries[path] = s
        try commit(next)
        if let old { removeObject(path, version: old.version) }
        return s
    }

    mutating func commit(_ next: StorageIndex) throws(StorageError) {
        let bytes = try next.encode(key: keys.indexKey(namespace), namespace: namespace)
        // Until the rename lands, which file is on disk is unknown: no cache.
        indexIdentity = nil
        try DurableFile.write(in: directory, name: Self.indexName) { (fd, tmp) throws(FileError) in
            try DurableFile.writeAll(fd, bytes, path: tmp)
        }
        index = next
        // The exclusive lock keeps other writers out, so the file at the path is the one just
        // renamed there (rename changes its ctime, hence a stat after it).
        var st = stat()
        if lstat(indexPath, &st) == 0, Int(st.st_size) == bytes.count {
            indexIdentity = IndexFileIdentity(st, size: bytes.count, header: Array(bytes.prefix(StorageIndex.headerSize)))
        }
    }

    /// Best effort: a file left behind is an orphan, collected on the next open.
    func removeObject(_ path: StoragePath, version: UInt64) {
        unlink(objectPath(path, version: version))
    }

    /// Removes temp files and object files the index does not name. An orphan whose header
    /// claims a version the index has not handed out yet is evidence that the index was put
    /// back to an older state: nothing is removed and the namespace is refused.
    func collectOrphans() throws(StorageError) -> EncryptedStore.NamespaceHealth {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw .io(FileError("list", directory, code: EIO))
        }
        var referenced = Set<String>()
        for (path, s) in index.entries where s.kind == .file {
            referenced.insert(keys.objectFileName(namespace, path, version: s.version))
        }
        var orphans: [String] = []
        for name in names {
            if name.hasPrefix(Self.temporaryPrefix) { orphans.append(name); continue }
            guard name.utf8.count == 32, name.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }),
                  !referenced.contains(name) else { continue }
            let header = (try? DurableFile.readPrefix(directory + "/" + name, count: ObjectFormat.headerSize)) ?? []
            // A crash between (1) and (2) leaves exactly version == nextVersion; anything
            // beyond was written after this index was replaced by a newer one.
            if let v = ObjectFormat.unauthenticatedVersion(header: header), v > index.nextVersion { return .rolledBack }
            orphans.append(name)
        }
        for name in orphans { unlink(directory + "/" + name) }
        return .collected
    }
}

/// What tells one index file from another without reading it all.
/// What tells one index file from another without reading it all. Commits rename a new file
/// into place (a new inode, a higher `nextVersion` in the header); the change and modification
/// times catch the file being edited in place.
struct IndexFileIdentity: Equatable {
    let device: UInt64
    let inode: UInt64
    let size: Int
    let changed: [Int]
    let header: [UInt8]

    init(_ st: stat, size: Int, header: [UInt8]) {
        device = UInt64(st.st_dev); inode = UInt64(st.st_ino); self.size = size
        changed = [st.st_ctim.tv_sec, st.st_ctim.tv_nsec, st.st_mtim.tv_sec, st.st_mtim.tv_nsec]
        self.header = header
    }
}

/// Durable whole-file writes and reads for the store.
enum DurableFile {
    /// Creates `name` in `directory` through an O_EXCL temp file: write, fsync, rename over
    /// `name`, fsync the directory. Mode 0600.
    static func write(in directory: String, name: String,
                      _ fill: (Int32, String) throws(FileError) -> Void) throws(StorageError) {
        let tmp = directory + "/" + OpenNamespace.temporaryPrefix + "\(getpid())-\(UInt64.random(in: 0 ... .max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .io(FileError("create", tmp)) }
        var done = false
        defer { if !done { unlink(tmp) } }
        do throws(FileError) {
            try fill(fd, tmp)
            guard fsync(fd) == 0 else { throw FileError("fsync", tmp) }
        } catch {
            close(fd)
            throw .io(error)
        }
        close(fd)
        guard rename(tmp, directory + "/" + name) == 0 else { throw .io(FileError("rename into place", directory + "/" + name)) }
        done = true
        do { try FileIO.syncDirectory(directory) } catch { throw .io(error) }
    }

    static func writeAll(_ fd: Int32, _ bytes: some ContiguousBytes, path: String) throws(FileError) {
        let failure: FileError? = bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return FileError("write", path)
                }
                offset += n
            }
            return nil
        }
        if let failure { throw failure }
    }

    /// Fills `buffer` from `fd`'s current offset; returns how many bytes it got (fewer only at
    /// the end of the file).
    static func readFully(_ fd: Int32, into buffer: inout [UInt8], path: String) throws(StorageError) -> Int {
        try buffer.withUnsafeMutableBytes { raw in Result { () throws(StorageError) in try readFully(fd, into: raw, path: path) } }.get()
    }

    static func readFully(_ fd: Int32, into buffer: inout Data, path: String) throws(StorageError) -> Int {
        try buffer.withUnsafeMutableBytes { raw in Result { () throws(StorageError) in try readFully(fd, into: raw, path: path) } }.get()
    }

    static func readFully(_ fd: Int32, into raw: UnsafeMutableRawBufferPointer, path: String) throws(StorageError) -> Int {
        var got = 0
        while got < raw.count {
            let n = Glibc.read(fd, raw.baseAddress! + got, raw.count - got)
            if n < 0 { if errno == EINTR { continue }; throw .io(FileError("read", path)) }
            if n == 0 { break }
            got += n
        }
        return got
    }

    static func readPrefix(_ path: String, count: Int) throws(StorageError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw .io(FileError("open", path)) }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: count)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, count) }
        return n > 0 ? Array(buffer[0..<n]) : []
    }
}
