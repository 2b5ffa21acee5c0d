#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import ElastosCore

/// Why the node key could not be used. The program stops on any of these: a key is never
/// silently replaced, because every token it signed would be orphaned.
public enum NodeKeyError: Error, Equatable, Sendable, CustomStringConvertible {
    case corrupt(path: String, reason: String)
    case readableByOthers(path: String, mode: UInt32)
    case notOwnedByUser(path: String)
    case notAFile(path: String)
    case io(FileError)

    public var description: String {
        switch self {
        case .corrupt(let p, let r):
            "node key \(p) is corrupt (\(r)); it was not replaced. Restore it from a backup, or move it aside to create a new identity"
        case .readableByOthers(let p, let m):
            "node key \(p) has mode \(String(m, radix: 8)) and is accessible to other users; run: chmod 600 \(p)"
        case .notOwnedByUser(let p): "node key \(p) is owned by another user; refusing to use it"
        case .notAFile(let p): "node key \(p) is not a regular file"
        case .io(let e): "node key: \(e)"
        }
    }
}

/// Loads the node's Ed25519 key from the home, creating it on first run.
///
/// File format (text, mode 0600):
///     elastos-node-key v1
///     seed <64 hex>
///     did <did:key of the public key>
/// The `did` line lets a damaged seed be told apart from a valid one.
public enum NodeKeyStore {
    static let header = "elastos-node-key v1"

    /// Returns the key, and whether it was just created.
    public static func loadOrCreate(in home: NodeHome) throws(NodeKeyError) -> (key: SigningKey, created: Bool) {
        do { try home.prepare() } catch { throw .io(error) }
        if let key = try load(home.keyFile) { return (key, false) }
        let key = SigningKey()
        let text = "\(header)\nseed \(Hex.encode(key.seed))\ndid \(key.publicKey.did)\n"
        do {
            try FileIO.writeAtomically(Array(text.utf8), to: home.keyFile, mode: 0o600, replace: false)
        } catch {
            // Lost a race with another process creating it: use theirs.
            if error.code == EEXIST, let existing = try load(home.keyFile) { return (existing, false) }
            throw .io(error)
        }
        return (key, true)
    }

    /// Loads an existing key file, or nil if there is none.
    public static func load(_ path: String) throws(NodeKeyError) -> SigningKey? {
        var st = stat()
        if lstat(path, &st) != 0 {
            if errno == ENOENT { return nil }
            throw .io(FileError("stat", path))
        }
        guard st.st_mode & S_IFMT == S_IFREG else { throw .notAFile(path: path) }
        guard st.st_uid == geteuid() else { throw .notOwnedByUser(path: path) }
        guard st.st_mode & 0o077 == 0 else { throw .readableByOthers(path: path, mode: UInt32(st.st_mode & 0o777)) }
        let bytes: [UInt8]
        do {
            guard let b = try FileIO.read(path, limit: 4096) else { return nil }
            bytes = b
        } catch { throw .io(error) }
        return try parse(bytes, path: path)
    }

    static func parse(_ bytes: [UInt8], path: String) throws(NodeKeyError) -> SigningKey {
        let text = String(decoding: bytes, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count == 4, lines[3].isEmpty, lines[0] == header else {
            throw .corrupt(path: path, reason: "not an elastos node key file")
        }
        guard lines[1].hasPrefix("seed "), let seed = Hex.decode(String(lines[1].dropFirst(5))), seed.count == 32 else {
            throw .corrupt(path: path, reason: "the seed line is damaged")
        }
        guard let key = try? SigningKey(seed: seed) else { throw .corrupt(path: path, reason: "the seed is not a valid key") }
        guard lines[2] == "did \(key.publicKey.did)" else {
            throw .corrupt(path: path, reason: "the seed does not match the recorded DID")
        }
        return key
    }
}
