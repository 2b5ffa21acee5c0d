public import ElastosNode

/// How stored bytes failed their authentication. Every one of these means the files on disk are
/// not what this store wrote for that path and version; the bytes are never returned.
public enum IntegrityFailure: Equatable, Sendable, CustomStringConvertible {
    /// The index does not authenticate (edited, truncated, or from another namespace).
    case indexTampered
    /// The object file does not authenticate for its path and version: edited, truncated,
    /// swapped with another object, or an older version put back under the current name.
    case objectTampered
    /// The index names a version whose object file is gone.
    case objectMissing
    /// Object files newer than the index exist: the index was put back to an older state.
    case indexRolledBack

    public var description: String {
        switch self {
        case .indexTampered: "the namespace index failed authentication"
        case .objectTampered: "the object failed authentication (modified, truncated, swapped or rolled back)"
        case .objectMissing: "the object file for the current version is missing"
        case .indexRolledBack: "object files newer than the index exist: the index was rolled back"
        }
    }
}

/// Why the master key could not be used. The key itself never appears in these.
public enum MasterKeyError: Error, Equatable, Sendable, CustomStringConvertible {
    case readableByOthers(path: String, mode: UInt32)
    case directoryAccessibleByOthers(path: String, mode: UInt32)
    case symbolicLink(path: String)
    case notAFile(path: String)
    case notOwnedByUser(path: String)
    case wrongSize(path: String, size: Int)
    case io(FileError)

    public var description: String {
        switch self {
        case .readableByOthers(let p, let m):
            "storage master key \(p) has mode \(String(m, radix: 8)) and is accessible to other users; refusing it (run: chmod 600 \(p))"
        case .directoryAccessibleByOthers(let p, let m):
            "storage directory \(p) has mode \(String(m, radix: 8)); it must be 0700 (run: chmod 700 \(p))"
        case .symbolicLink(let p): "storage master key \(p) is a symbolic link; refusing it"
        case .notAFile(let p): "storage master key \(p) is not a regular file"
        case .notOwnedByUser(let p): "storage master key \(p) is owned by another user; refusing it"
        case .wrongSize(let p, let n):
            "storage master key \(p) is \(n) bytes, not 32: it is damaged and was not replaced (restore it from a backup)"
        case .io(let e): "storage master key: \(e)"
        }
    }
}

/// Why a storage operation failed.
public enum StorageError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidPath(StoragePathError)
    case notFound(StoragePath)
    /// The path is a directory where a file was needed.
    case isADirectory(StoragePath)
    /// The path (or one of its parents) is a file where a directory was needed.
    case notADirectory(StoragePath)
    case directoryNotEmpty(StoragePath)
    case rootCannotBeDeleted
    case tooLarge(size: Int, limit: Int)
    case integrity(IntegrityFailure, StoragePath?)
    case masterKey(MasterKeyError)
    case io(FileError)

    public var description: String {
        switch self {
        case .invalidPath(let e): e.description
        case .notFound(let p): "\(p) does not exist"
        case .isADirectory(let p): "\(p) is a directory"
        case .notADirectory(let p): "\(p) is not a directory"
        case .directoryNotEmpty(let p): "\(p) is a directory that is not empty"
        case .rootCannotBeDeleted: "the namespace root cannot be deleted"
        case .tooLarge(let n, let l): "object of \(n) bytes is over the \(l)-byte limit"
        case .integrity(let f, let p): "integrity check failed" + (p.map { " for \($0)" } ?? "") + ": \(f)"
        case .masterKey(let e): e.description
        case .io(let e): "storage: \(e)"
        }
    }
}
