// Canonical resource URIs and grant patterns (docs/TOKENS.md, "Resources").
//
// Canonical form, derived from RFC 3986 §6.2.2 syntax-based normalisation:
//   * scheme lowercased; `scheme://authority[/segment]*`; authority is case-sensitive (CIDs are);
//   * percent-encodings of unreserved characters (ALPHA DIGIT - . _ ~) decoded, all others kept
//     with uppercase hex (so `%2F` stays a literal slash inside one segment);
//   * empty and `.` segments dropped, `..` removes the previous segment, and a `..` that would
//     climb above the authority is an error, never silently clamped;
//   * no query, fragment, space, control, non-ASCII or `\`, and `*` only as a pattern wildcard.
// A pattern is a canonical URI, or a canonical URI followed by `/*` (everything strictly below
// it), or `scheme://*` (everything in that scheme). `p/*` never matches `p` itself or anything
// outside `p/`.

import Foundation

/// Why a resource URI or pattern was refused.
public enum ResourceError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case tooLong(Int)
    case missingScheme
    case invalidScheme
    case emptyAuthority
    case invalidAuthority
    case forbiddenCharacter(position: Int)
    case queryOrFragment
    case badPercentEncoding(position: Int)
    case escapesAuthority
    case misplacedWildcard

    public static let maxLength = 2048

    public var description: String {
        switch self {
        case .empty: "resource URI is empty"
        case .tooLong(let n): "resource URI is \(n) bytes; the limit is \(Self.maxLength)"
        case .missingScheme: "resource URI has no scheme (expected e.g. localhost://storage/… or elastos://…)"
        case .invalidScheme: "resource URI scheme must be a letter followed by letters, digits, '+', '-' or '.'"
        case .emptyAuthority: "resource URI has no authority after '://'"
        case .invalidAuthority: "resource URI authority may not be '.' or '..'"
        case .forbiddenCharacter(let p): "resource URI has a character that is not allowed at byte \(p) (percent-encode it)"
        case .queryOrFragment: "resource URI may not have a query ('?') or fragment ('#')"
        case .badPercentEncoding(let p): "resource URI has a malformed percent-encoding at byte \(p)"
        case .escapesAuthority: "resource URI path uses '..' to climb above its authority"
        case .misplacedWildcard: "'*' is only allowed as the last segment of a grant pattern ('…/*' or 'scheme://*')"
        }
    }
}

/// A resource named by a request, in canonical form.
public struct ResourceURI: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// The canonical text.
    public let text: String
    public let scheme: String
    public let authority: String
    public let segments: [String]

    public init(_ raw: String) throws(ResourceError) {
        let parsed = try Self.parse(raw, allowWildcard: false)
        self.init(scheme: parsed.scheme, authority: parsed.authority, segments: parsed.segments)
    }

    init(scheme: String, authority: String, segments: [String]) {
        self.scheme = scheme
        self.authority = authority
        self.segments = segments
        var t = scheme + "://" + authority
        for s in segments { t += "/" + s }
        self.text = t
    }

    public var description: String { text }
    public static func < (a: ResourceURI, b: ResourceURI) -> Bool { a.text < b.text }

    struct Parsed { var scheme: String; var authority: String; var segments: [String]; var wildcard: Bool }

    static func parse(_ raw: String, allowWildcard: Bool) throws(ResourceError) -> Parsed {
        let bytes = Array(raw.utf8)
        guard !bytes.isEmpty else { throw .empty }
        guard bytes.count <= ResourceError.maxLength else { throw .tooLong(bytes.count) }

        // Scheme.
        var i = 0
        while i < bytes.count, bytes[i] != UInt8(ascii: ":") { i += 1 }
        guard i + 2 < bytes.count, bytes[i + 1] == UInt8(ascii: "/"), bytes[i + 2] == UInt8(ascii: "/")
        else { throw .missingScheme }
        guard i > 0, isAlpha(bytes[0]), bytes[1..<i].allSatisfy({ isAlpha($0) || isDigit($0) || $0 == 0x2B || $0 == 0x2D || $0 == 0x2E })
        else { throw .invalidScheme }
        let scheme = String(decoding: bytes[0..<i].map { $0 | (isAlpha($0) ? 0x20 : 0) }, as: UTF8.self)

        // Authority and path, split on '/' after percent-normalisation of each part.
        var parts: [[UInt8]] = [[]]
        var j = i + 3
        while j < bytes.count {
            let c = bytes[j]
            switch c {
            case UInt8(ascii: "/"):
                parts.append([])
                j += 1
            case UInt8(ascii: "?"), UInt8(ascii: "#"):
                throw .queryOrFragment
            case UInt8(ascii: "%"):
                guard j + 2 < bytes.count, let hi = hexValue(bytes[j + 1]), let lo = hexValue(bytes[j + 2]) else {
                    throw .badPercentEncoding(position: j)
                }
                let decoded = hi << 4 | lo
                if isUnreserved(decoded) {
                    parts[parts.count - 1].append(decoded)
                } else {
                    parts[parts.count - 1].append(contentsOf: [UInt8(ascii: "%"), upperHex(hi), upperHex(lo)])
                }
                j += 3
            default:
                guard isAllowedLiteral(c) else { throw .forbiddenCharacter(position: j) }
                parts[parts.count - 1].append(c)
                j += 1
            }
        }

        let authorityBytes = parts[0]
        var wildcard = false
        var segments: [String] = []
        if authorityBytes == [UInt8(ascii: "*")] {
            guard allowWildcard, parts.count == 1 else { throw .misplacedWildcard }
            return Parsed(scheme: scheme, authority: "", segments: [], wildcard: true)
        }
        guard !authorityBytes.isEmpty else { throw .emptyAuthority }
        guard !authorityBytes.contains(UInt8(ascii: "*")) else { throw .misplacedWildcard }
        guard authorityBytes != [0x2E], authorityBytes != [0x2E, 0x2E] else { throw .invalidAuthority }

        var rest = parts[1...]
        // A trailing '/*' is the wildcard; a '*' anywhere else is refused.
        if let last = rest.last, last == [UInt8(ascii: "*")] {
            guard allowWildcard else { throw .misplacedWildcard }
            wildcard = true
            rest = rest.dropLast()
        }
        for seg in rest {
            if seg.contains(UInt8(ascii: "*")) { throw .misplacedWildcard }
            if seg.isEmpty || seg == [0x2E] { continue }
            if seg == [0x2E, 0x2E] {
                guard !segments.isEmpty else { throw .escapesAuthority }
                segments.removeLast()
                continue
            }
            segments.append(String(decoding: seg, as: UTF8.self))
        }
        return Parsed(scheme: scheme, authority: String(decoding: authorityBytes, as: UTF8.self), segments: segments, wildcard: wildcard)
    }

    /// True if `self` is `other` or lies strictly below it.
    func isWithin(prefix other: ResourceURI) -> Bool {
        scheme == other.scheme && authority == other.authority && segments.count > other.segments.count
            && Array(segments.prefix(other.segments.count)) == other.segments
    }
}

/// A grant's resource: one URI exactly, everything strictly below a URI (`…/*`), or everything in
/// a scheme (`scheme://*`).
public struct ResourcePattern: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        case exact(ResourceURI)
        case below(ResourceURI)
        case scheme(String)
    }

    public let kind: Kind
    /// The canonical text, as carried in tokens.
    public let text: String

    public init(_ raw: String) throws(ResourceError) {
        let p = try ResourceURI.parse(raw, allowWildcard: true)
        if p.wildcard && p.authority.isEmpty {
            self.init(kind: .scheme(p.scheme))
        } else {
            let uri = ResourceURI(scheme: p.scheme, authority: p.authority, segments: p.segments)
            self.init(kind: p.wildcard ? .below(uri) : .exact(uri))
        }
    }

    public init(kind: Kind) {
        self.kind = kind
        switch kind {
        case .exact(let u): text = u.text
        case .below(let u): text = u.text + "/*"
        case .scheme(let s): text = s + "://*"
        }
    }

    public var description: String { text }

    /// Does this pattern cover the (canonical) resource?
    public func matches(_ resource: ResourceURI) -> Bool {
        switch kind {
        case .exact(let u): return u.text == resource.text
        case .below(let u):
            // Canonical texts compare exactly on segment boundaries: `u` then '/' then more.
            return Self.hasSegmentPrefix(resource.text, u.text)
        case .scheme(let s): return resource.scheme == s
        }
    }

    static func hasSegmentPrefix(_ text: String, _ prefix: String) -> Bool {
        var text = text, prefix = prefix  // native strings: contiguous UTF-8, no copy
        return text.withUTF8 { t in
            prefix.withUTF8 { p in
                t.count > p.count + 1 && t[p.count] == UInt8(ascii: "/")
                    && (p.isEmpty || memcmp(t.baseAddress!, p.baseAddress!, p.count) == 0)
            }
        }
    }

    /// Is every resource this pattern covers also covered by `other`? (Delegation narrowing.)
    public func isSubset(of other: ResourcePattern) -> Bool {
        switch (kind, other.kind) {
        case (_, .scheme(let s)):
            switch kind {
            case .exact(let u), .below(let u): return u.scheme == s
            case .scheme(let t): return t == s
            }
        case (.scheme, _): return false
        case (.exact(let u), _): return other.matches(u)
        case (.below(let u), .below(let v)): return u == v || u.isWithin(prefix: v)
        case (.below, .exact): return false
        }
    }
}

@inline(__always) private func isAlpha(_ c: UInt8) -> Bool { (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A }
@inline(__always) private func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
@inline(__always) private func isUnreserved(_ c: UInt8) -> Bool {
    isAlpha(c) || isDigit(c) || c == 0x2D || c == 0x2E || c == 0x5F || c == 0x7E
}
/// Unreserved, sub-delims (`!$&'()*+,;=`), `:` and `@`; everything else must be percent-encoded.
@inline(__always) private func isAllowedLiteral(_ c: UInt8) -> Bool {
    if isUnreserved(c) { return true }
    switch c {
    case 0x21, 0x24, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x2B, 0x2C, 0x3B, 0x3D, 0x3A, 0x40: return true
    default: return false
    }
}
@inline(__always) private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: c - 0x30
    case 0x41...0x46: c - 0x41 + 10
    case 0x61...0x66: c - 0x61 + 10
    default: nil
    }
}
@inline(__always) private func upperHex(_ v: UInt8) -> UInt8 { v < 10 ? 0x30 + v : 0x41 + v - 10 }
