// Multihash: a digest prefixed by its hash function code and length.
// Spec: https://github.com/multiformats/multihash
// Wire form: varint(function code) || varint(digest length) || digest.
// Only sha2-256 (32-byte digests) and identity (inline data, at most 128 bytes) are accepted;
// anything else is rejected rather than carried unverified.

import Crypto

/// A self-describing digest: sha2-256, or identity for small inline values such as Ed25519
/// peer IDs.
public struct Multihash: Hashable, Sendable {
    /// The hash function.
    public let code: Multicodec
    /// The digest (for identity, the data itself).
    public let digest: [UInt8]

    /// The longest identity "digest" accepted; larger data should be hashed.
    public static let maxIdentityLength = 128

    /// The digest length of SHA-256.
    static let sha256Length = 32

    /// Wraps a digest, checking it fits its function.
    ///
    /// - Throws: ``MultiformatError/unknownMultihash(code:)`` for functions other than sha2-256
    ///   and identity, ``MultiformatError/digestLengthMismatch(expected:actual:)`` for a
    ///   sha2-256 digest that is not 32 bytes, ``MultiformatError/identityDigestTooLong(length:limit:)``
    ///   past ``maxIdentityLength``.
    public init(code: Multicodec, digest: [UInt8]) throws(MultiformatError) {
        switch code {
        case .sha2_256:
            guard digest.count == Self.sha256Length else {
                throw .digestLengthMismatch(expected: Self.sha256Length, actual: digest.count)
            }
        case .identityHash:
            guard digest.count <= Self.maxIdentityLength else {
                throw .identityDigestTooLong(length: digest.count, limit: Self.maxIdentityLength)
            }
        default:
            throw .unknownMultihash(code: code.rawValue)
        }
        self.code = code
        self.digest = digest
    }

    /// For values already known to be valid.
    private init(unchecked code: Multicodec, digest: [UInt8]) {
        self.code = code
        self.digest = digest
    }

    /// The sha2-256 multihash of `data`.
    public static func sha256(of data: [UInt8]) -> Multihash {
        Multihash(unchecked: .sha2_256, digest: Array(SHA256.hash(data: data)))
    }

    /// An identity multihash carrying `data` inline.
    ///
    /// - Throws: ``MultiformatError/identityDigestTooLong(length:limit:)`` past
    ///   ``maxIdentityLength`` bytes.
    public static func identity(_ data: [UInt8]) throws(MultiformatError) -> Multihash {
        try Multihash(code: .identityHash, digest: data)
    }

    /// Parses a whole buffer as one multihash.
    ///
    /// - Throws: ``MultiformatError/emptyInput``, ``MultiformatError/trailingBytes(count:)``
    ///   for anything after the digest, and the errors of ``decode(_:offset:)``.
    public init(bytes: [UInt8]) throws(MultiformatError) {
        guard !bytes.isEmpty else { throw .emptyInput }
        var offset = 0
        let multihash = try Multihash.decode(bytes, offset: &offset)
        guard offset == bytes.count else { throw .trailingBytes(count: bytes.count - offset) }
        self = multihash
    }

    /// Reads one multihash from `bytes` at `offset`, moving `offset` past it on success (and
    /// leaving it unchanged on failure).
    ///
    /// - Throws: varint errors, ``MultiformatError/unknownMultihash(code:)``,
    ///   ``MultiformatError/digestLengthMismatch(expected:actual:)``,
    ///   ``MultiformatError/identityDigestTooLong(length:limit:)``, and
    ///   ``MultiformatError/truncated`` if fewer digest bytes follow than the length says.
    public static func decode(_ bytes: [UInt8], offset: inout Int) throws(MultiformatError) -> Multihash {
        var position = offset
        let code = Multicodec(rawValue: try Varint.decode(bytes, offset: &position))
        let declared = try Varint.decode(bytes, offset: &position)
        // Check the declared length against the function before trusting it as a size.
        switch code {
        case .sha2_256:
            guard declared == UInt64(sha256Length) else {
                throw .digestLengthMismatch(expected: sha256Length, actual: Int(clamping: declared))
            }
        case .identityHash:
            guard declared <= UInt64(maxIdentityLength) else {
                throw .identityDigestTooLong(length: Int(clamping: declared), limit: maxIdentityLength)
            }
        default:
            throw .unknownMultihash(code: code.rawValue)
        }
        let length = Int(declared)
        guard bytes.count - position >= length else { throw .truncated }
        let digest = Array(bytes[position..<(position + length)])
        offset = position + length
        return Multihash(unchecked: code, digest: digest)
    }

    /// The wire form: varint(code) || varint(length) || digest.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(digest.count + 4)
        Varint.append(code.rawValue, to: &out)
        Varint.append(UInt64(digest.count), to: &out)
        out.append(contentsOf: digest)
        return out
    }
}
