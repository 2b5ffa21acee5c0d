/// A token's random 128-bit id: what revocation and use counts are keyed by.
public struct TokenID: Hashable, Sendable, CustomStringConvertible, Comparable, Codable {
    public let bytes: [UInt8]
    /// 32 lowercase hex characters, computed once: every audit record names the token.
    public let description: String

    /// A fresh id from the system CSPRNG.
    public static func random() -> TokenID {
        var g = SystemRandomNumberGenerator()
        return TokenID(unchecked: (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &g) })
    }

    init(unchecked bytes: [UInt8]) {
        self.bytes = bytes
        self.description = Hex.encode(bytes)
    }

    /// Parses 32 hex characters.
    public init?(hex: String) {
        guard hex.utf8.count == 32, let b = Hex.decode(hex) else { return nil }
        self.init(unchecked: b)
    }

    public static func == (a: TokenID, b: TokenID) -> Bool { a.bytes == b.bytes }
    public func hash(into h: inout Hasher) { h.combine(bytes) }
    public static func < (a: TokenID, b: TokenID) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = TokenID(hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "token id must be 32 hex characters"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
