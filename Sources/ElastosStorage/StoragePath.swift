// Names inside the encrypted store (docs/STORAGE.md, "Namespaces and paths").
//
// A namespace is `apps/<capsule name>`; a path is a sequence of names below it. Paths are
// normalised (`.` segments and repeated slashes dropped) and everything else that could change
// what a name means is refused rather than repaired: `..`, a leading `/`, `\`, NUL and other
// control characters, over-long names and paths.

/// Why a storage path or namespace was refused.
public enum StoragePathError: Error, Equatable, Sendable, CustomStringConvertible {
    case parentSegment
    case absolute
    case backslash
    case controlCharacter
    case emptyName
    case nameTooLong(Int)
    case pathTooLong(Int)
    case tooDeep(Int)
    case invalidNamespace(String)

    public static let maxNameBytes = 255
    public static let maxPathBytes = 1024
    public static let maxDepth = 64

    public var description: String {
        switch self {
        case .parentSegment: "storage path may not contain '..'"
        case .absolute: "storage path must be relative to its namespace (no leading '/')"
        case .backslash: "storage path may not contain '\\'"
        case .controlCharacter: "storage path may not contain NUL or other control characters"
        case .emptyName: "storage path names may not be empty"
        case .nameTooLong(let n): "a storage path name is \(n) bytes; the limit is \(Self.maxNameBytes)"
        case .pathTooLong(let n): "storage path is \(n) bytes; the limit is \(Self.maxPathBytes)"
        case .tooDeep(let n): "storage path has \(n) levels; the limit is \(Self.maxDepth)"
        case .invalidNamespace(let why): "invalid storage namespace: \(why)"
        }
    }
}

/// A normalised path inside one namespace. The empty path is the namespace's root directory.
public struct StoragePath: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The names from the root down; none is empty, `.` or `..`.
    public let names: [String]

    public static let root = StoragePath(validated: [])

    init(validated names: [String]) { self.names = names }

    /// Parses `a/b/c`: `.` and empty segments (`a//b`, a trailing `/`) are dropped.
    public init(_ text: String) throws(StoragePathError) {
        guard text.utf8.count <= StoragePathError.maxPathBytes else { throw .pathTooLong(text.utf8.count) }
        guard !text.hasPrefix("/") else { throw .absolute }
        let parts = text.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        try self.init(names: parts.filter { $0 != "." })
    }

    /// From names that are already split (e.g. the decoded segments of a URI).
    public init(names: [String]) throws(StoragePathError) {
        var kept: [String] = []
        for name in names where name != "." {
            try Self.check(name)
            kept.append(name)
        }
        guard kept.count <= StoragePathError.maxDepth else { throw .tooDeep(kept.count) }
        let total = kept.reduce(0) { $0 + $1.utf8.count } + max(kept.count - 1, 0)
        guard total <= StoragePathError.maxPathBytes else { throw .pathTooLong(total) }
        self.names = kept
    }

    static func check(_ name: String) throws(StoragePathError) {
        guard !name.isEmpty else { throw .emptyName }
        guard name != ".." else { throw .parentSegment }
        guard name.utf8.count <= StoragePathError.maxNameBytes else { throw .nameTooLong(name.utf8.count) }
        for b in name.utf8 {
            if b < 0x20 || b == 0x7F { throw .controlCharacter }
            if b == UInt8(ascii: "\\") { throw .backslash }
            if b == UInt8(ascii: "/") { throw .emptyName }  // only reachable from `init(names:)`
        }
        // C1 controls (U+0080–U+009F) are control characters too.
        if name.unicodeScalars.contains(where: { (0x80...0x9F).contains($0.value) }) { throw .controlCharacter }
    }

    public var isRoot: Bool { names.isEmpty }
    /// `a/b/c`, without leading or trailing slash; empty for the root.
    public var text: String { names.joined(separator: "/") }
    public var description: String { "/" + text }
    public var parent: StoragePath? { isRoot ? nil : StoragePath(validated: Array(names.dropLast())) }
    public var lastName: String? { names.last }
    public func appending(_ name: String) throws(StoragePathError) -> StoragePath {
        try StoragePath(names: names + [name])
    }
    /// Every ancestor, nearest the root first, excluding the root and the path itself.
    var ancestors: [StoragePath] {
        names.count < 2 ? [] : (1..<names.count).map { StoragePath(validated: Array(names.prefix($0))) }
    }

    public static func < (a: StoragePath, b: StoragePath) -> Bool { a.names.lexicographicallyPrecedes(b.names) }
}

/// Whose data: `apps/<capsule name>`. Each namespace has its own directory, index and lock.
public struct StorageNamespace: Hashable, Sendable, CustomStringConvertible {
    public let text: String
    public let capsule: String

    public static let maxCapsuleNameBytes = 64

    /// The namespace of one capsule. Capsule names are `[a-z0-9._-]`, 1–64 bytes, not `.`/`..`.
    public init(capsule: String) throws(StoragePathError) {
        let bytes = Array(capsule.utf8)
        guard !bytes.isEmpty, bytes.count <= Self.maxCapsuleNameBytes else {
            throw .invalidNamespace("a capsule name is 1–\(Self.maxCapsuleNameBytes) bytes")
        }
        guard capsule != ".", capsule != ".." else { throw .invalidNamespace("'\(capsule)' is not a capsule name") }
        for b in bytes {
            let ok = (0x61...0x7A).contains(b) || (0x30...0x39).contains(b) || b == 0x2D || b == 0x2E || b == 0x5F
            guard ok else { throw .invalidNamespace("capsule names use only a–z, 0–9, '.', '_' and '-'") }
        }
        self.capsule = capsule
        self.text = "apps/" + capsule
    }

    public var description: String { text }
}

/// A namespace and a path in it: what `localhost://storage/apps/<capsule>/<path>` names.
public struct StorageAddress: Hashable, Sendable, CustomStringConvertible {
    public let namespace: StorageNamespace
    public let path: StoragePath

    public static let uriPrefix = "localhost://storage/"

    public init(namespace: StorageNamespace, path: StoragePath) {
        self.namespace = namespace; self.path = path
    }

    /// From the segments after `localhost://storage/`, already percent-decoded:
    /// `["apps", capsule, name…]`.
    public init(segments: [String]) throws(StoragePathError) {
        guard segments.count >= 2, segments[0] == "apps" else {
            throw .invalidNamespace("storage URIs name a namespace first: localhost://storage/apps/<capsule>/…")
        }
        namespace = try StorageNamespace(capsule: segments[1])
        path = try StoragePath(names: Array(segments.dropFirst(2)))
    }

    /// `localhost://storage/apps/x/a/b` (percent-encoding decoded, `%2F` refused inside a
    /// name) or the bare form `apps/x/a/b` (taken literally).
    public init(parsing text: String) throws(StoragePathError) {
        var rest = text
        var encoded = false
        if text.lowercased().hasPrefix(Self.uriPrefix) {
            rest = String(text.dropFirst(Self.uriPrefix.count))
            encoded = true
            guard !rest.contains("?"), !rest.contains("#") else {
                throw .invalidNamespace("storage URIs have no query or fragment")
            }
        } else if text.hasPrefix("/") {
            throw .absolute
        }
        guard rest.utf8.count <= StoragePathError.maxPathBytes + 128 else { throw .pathTooLong(rest.utf8.count) }
        var segments: [String] = []
        for raw in rest.split(separator: "/", omittingEmptySubsequences: true) {
            if raw == "." { continue }
            if encoded {
                guard let decoded = Self.percentDecode(String(raw)) else {
                    throw .invalidNamespace("malformed percent-encoding in '\(raw)'")
                }
                segments.append(decoded)
            } else {
                segments.append(String(raw))
            }
        }
        try self.init(segments: segments)
    }

    /// `%XX` decoding; nil for malformed escapes or bytes that are not UTF-8.
    public static func percentDecode(_ s: String) -> String? {
        var out: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            guard b == UInt8(ascii: "%") else { out.append(b); continue }
            guard let h = it.popFirst(), let l = it.popFirst(), let hv = hexValue(h), let lv = hexValue(l) else { return nil }
            out.append(hv << 4 | lv)
        }
        return String(validating: out, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x41...0x46: c - 0x41 + 10
        case 0x61...0x66: c - 0x61 + 10
        default: nil
        }
    }

    /// `localhost://storage/apps/<capsule>/<path>`, with reserved characters percent-encoded.
    public var uri: String {
        var t = Self.uriPrefix + namespace.text
        for name in path.names { t += "/" + Self.percentEncode(name) }
        return t
    }

    static func percentEncode(_ name: String) -> String {
        var out = ""
        for b in name.utf8 {
            let unreserved = (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) || (0x30...0x39).contains(b)
                || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E
            if unreserved { out.unicodeScalars.append(Unicode.Scalar(b)) } else {
                out += "%" + String(b >> 4, radix: 16, uppercase: true) + String(b & 0xF, radix: 16, uppercase: true)
            }
        }
        return out
    }

    public var description: String { uri }
}
