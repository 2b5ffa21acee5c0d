// Base58btc: the Bitcoin alphabet, multibase prefix 'z', and the bare text form of CIDv0 and
// libp2p peer IDs.
// Specs: https://github.com/multiformats/multibase (multibase.csv: base58btc)
//        https://datatracker.ietf.org/doc/html/draft-msporny-base58
// The input is one big-endian number; each leading zero byte is written as a leading '1'.

/// Base58 with the Bitcoin alphabet (`123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz`).
///
/// Quadratic in the length, which is fine for keys, peer IDs, CIDs and capability tokens;
/// ``decode(_:maxLength:)`` caps its input, by default at ``Multibase/maxTextLength``.
public enum Base58 {
    static let alphabet = BaseXAlphabet(
        name: "base58btc",
        alphabet: "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    )

    /// Encodes `bytes`; leading zero bytes become leading `1` characters.
    public static func encode(_ bytes: [UInt8]) -> String {
        alphabet.encode(bytes)
    }

    /// Decodes base58btc text; leading `1` characters become leading zero bytes.
    ///
    /// The empty string decodes to no bytes.
    /// - Parameter maxLength: the longest text accepted, in UTF-8 bytes. Raise it only for
    ///   formats that need it (capability tokens): decoding time grows with its square.
    /// - Throws: ``MultiformatError/invalidCharacter(_:base:)`` for characters outside the
    ///   alphabet (such as `0`, `O`, `I`, `l` or whitespace),
    ///   ``MultiformatError/inputTooLarge(limit:)`` past `maxLength`.
    public static func decode(
        _ text: String,
        maxLength: Int = Multibase.maxTextLength
    ) throws(MultiformatError) -> [UInt8] {
        try alphabet.decode(text, maxLength: maxLength)
    }
}
