// Errors for the multiformats family: unsigned-varint, multibase, multihash, multicodec, CID,
// and single-block UnixFS.
// Specs: https://github.com/multiformats/unsigned-varint
//        https://github.com/multiformats/multibase
//        https://github.com/multiformats/multihash
//        https://github.com/multiformats/cid
//        https://github.com/ipfs/specs/blob/main/UNIXFS.md

/// A reason a multiformat value (varint, multibase text, multihash, CID, UnixFS block) was
/// rejected.
///
/// Every parser in this folder reports failures only through this type; none of them trap on
/// outside input.
public enum MultiformatError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A varint ended before a byte without the continuation bit.
    case varintTruncated
    /// A varint was longer than the 9 bytes (63 bits) unsigned-varint allows.
    case varintOverflow
    /// A varint carried trailing zero groups (for example `0x80 0x00` for zero).
    case varintNotMinimal
    /// The input was empty where a value was expected.
    case emptyInput
    /// The multibase prefix character is not one this runtime reads (`b`, `z`, `k`).
    case unsupportedMultibase(prefix: Character)
    /// A character outside the alphabet of `base`.
    case invalidCharacter(Character, base: String)
    /// Text made only of valid characters that still is not the canonical encoding, such as
    /// base32 with a dangling character or non-zero padding bits.
    case invalidBaseEncoding(base: String)
    /// A multihash function code this runtime does not accept (only sha2-256 and identity).
    case unknownMultihash(code: UInt64)
    /// A digest whose length does not fit its hash function.
    case digestLengthMismatch(expected: Int, actual: Int)
    /// An identity multihash longer than the inline limit.
    case identityDigestTooLong(length: Int, limit: Int)
    /// Bytes left over after a complete value.
    case trailingBytes(count: Int)
    /// The input ended in the middle of a value.
    case truncated
    /// A content codec this runtime does not accept in CIDs (only raw, dag-pb, libp2p-key).
    case unknownCodec(code: UInt64)
    /// A CID version other than 0 or 1.
    case unsupportedCIDVersion(UInt64)
    /// Something that claims to be a CIDv0 but is not a bare dag-pb sha2-256 multihash.
    case invalidCIDv0
    /// The input is longer than this parser accepts.
    case inputTooLarge(limit: Int)
    /// A protobuf message (dag-pb or UnixFS) that is not well formed.
    case malformedProtobuf(reason: String)
    /// A well-formed dag-pb / UnixFS block of a kind this runtime does not read yet.
    case unsupportedUnixFS(reason: String)

    public var description: String {
        switch self {
        case .varintTruncated:
            return "varint is truncated: the last byte still has its continuation bit set"
        case .varintOverflow:
            return "varint is longer than 9 bytes (values must fit in 63 bits)"
        case .varintNotMinimal:
            return "varint is not minimally encoded: drop the trailing zero bytes"
        case .emptyInput:
            return "input is empty"
        case .unsupportedMultibase(let prefix):
            return "unsupported multibase prefix '\(prefix)': use 'b' (base32 lower), 'z' (base58btc) or 'k' (base36 lower)"
        case .invalidCharacter(let character, let base):
            let scalars = character.unicodeScalars
                .map { "U+" + String($0.value, radix: 16, uppercase: true) }
                .joined(separator: " ")
            return "character '\(character)' (\(scalars)) is not in the \(base) alphabet"
        case .invalidBaseEncoding(let base):
            return "text is not a canonical \(base) encoding (wrong length or non-zero padding bits)"
        case .unknownMultihash(let code):
            return "unsupported multihash function 0x\(String(code, radix: 16)): only sha2-256 (0x12) and identity (0x00) are accepted"
        case .digestLengthMismatch(let expected, let actual):
            return "digest is \(actual) bytes but the hash function produces \(expected)"
        case .identityDigestTooLong(let length, let limit):
            return "identity multihash carries \(length) bytes; at most \(limit) may be inlined"
        case .trailingBytes(let count):
            return "\(count) unexpected byte\(count == 1 ? "" : "s") after the end of the value"
        case .truncated:
            return "input ends in the middle of a value"
        case .unknownCodec(let code):
            return "unsupported content codec 0x\(String(code, radix: 16)): only raw (0x55), dag-pb (0x70) and libp2p-key (0x72) are accepted"
        case .unsupportedCIDVersion(let version):
            return "unsupported CID version \(version): only CIDv0 and CIDv1 exist"
        case .invalidCIDv0:
            return "not a valid CIDv0: a CIDv0 is a bare dag-pb sha2-256 multihash, 46 base58btc characters starting with \"Qm\""
        case .inputTooLarge(let limit):
            return "input is longer than the limit of \(limit) bytes"
        case .malformedProtobuf(let reason):
            return "malformed protobuf: \(reason)"
        case .unsupportedUnixFS(let reason):
            return "unsupported UnixFS block: \(reason)"
        }
    }
}
