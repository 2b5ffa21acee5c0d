// Multibase: self-describing base encodings, one prefix character naming the base.
// Spec: https://github.com/multiformats/multibase (multibase.csv for the prefix table)
// Only the three bases CIDs and peer IDs use in practice are read. Upper-case base32 ('B') and
// the padded variants are deliberately unsupported so that each CID has one text form per base.

/// The multibase encodings this runtime reads and writes; the raw value is the prefix.
public enum Multibase: Character, Sendable, CaseIterable {
    /// RFC 4648 base32, lower case, no padding (`b`); the default for CIDv1.
    case base32Lower = "b"
    /// Base58 with the Bitcoin alphabet (`z`).
    case base58btc = "z"
    /// Base36, lower case (`k`); used for IPNS names and peer IDs in DNS labels.
    case base36Lower = "k"

    /// The longest text, in UTF-8 bytes, any decoder here accepts.
    public static let maxTextLength = 4096

    /// The multibase table name of this encoding.
    public var name: String {
        switch self {
        case .base32Lower: return "base32"
        case .base58btc: return "base58btc"
        case .base36Lower: return "base36"
        }
    }

    /// Encodes `bytes` in `base`, prefix character included.
    public static func encode(_ bytes: [UInt8], as base: Multibase) -> String {
        let body: String
        switch base {
        case .base32Lower: body = Base32.encode(bytes)
        case .base58btc: body = Base58.encode(bytes)
        case .base36Lower: body = Base36.encode(bytes)
        }
        return String(base.rawValue) + body
    }

    /// Decodes multibase text, returning the base named by its prefix and the bytes.
    ///
    /// - Throws: ``MultiformatError/emptyInput`` for `""`,
    ///   ``MultiformatError/unsupportedMultibase(prefix:)`` for a prefix other than `b`, `z`,
    ///   `k`, ``MultiformatError/inputTooLarge(limit:)`` past ``maxTextLength``, and the
    ///   base's own errors for the body.
    public static func decode(_ text: String) throws(MultiformatError) -> (base: Multibase, bytes: [UInt8]) {
        guard text.utf8.count <= maxTextLength else { throw .inputTooLarge(limit: maxTextLength) }
        guard let prefix = text.first else { throw .emptyInput }
        guard let base = Multibase(rawValue: prefix) else { throw .unsupportedMultibase(prefix: prefix) }
        // The prefix is a single ASCII character, so the body starts at the next character.
        let body = String(text.dropFirst())
        switch base {
        case .base32Lower: return (base, try Base32.decode(body))
        case .base58btc: return (base, try Base58.decode(body))
        case .base36Lower: return (base, try Base36.decode(body))
        }
    }
}
