// CID: content identifiers.
// Spec: https://github.com/multiformats/cid
// CIDv0: the bare 34-byte sha2-256 multihash of a dag-pb block, written in base58btc without a
//        multibase prefix (46 characters starting "Qm").
// CIDv1: varint(1) || varint(content codec) || multihash, written with a multibase prefix;
//        base32 lower ("b...") is the default text form.
// Accepted here: codecs raw, dag-pb and libp2p-key; multihashes sha2-256 and identity. Parsing
// is strict (minimal varints, no trailing bytes, one text form per base), so a CID that parses
// re-encodes to exactly the input.

/// A content identifier: which codec the content uses and the multihash that names it.
public struct CID: Hashable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    /// The CID version.
    public enum Version: UInt64, Sendable {
        /// A bare dag-pb sha2-256 multihash.
        case v0 = 0
        /// Versioned, with an explicit codec.
        case v1 = 1
    }

    /// The CID version.
    public let version: Version
    /// What the addressed bytes are (raw, dag-pb, libp2p-key).
    public let codec: Multicodec
    /// The hash of the addressed bytes (for identity, the bytes themselves).
    public let multihash: Multihash

    /// Content codecs accepted in CIDs.
    public static let supportedCodecs: Set<Multicodec> = [.raw, .dagPB, .libp2pKey]

    /// Length of a binary CIDv0: 0x12 0x20 and a 32-byte digest.
    static let v0ByteLength = 34
    /// Length of a CIDv0 in base58btc.
    static let v0TextLength = 46

    /// Builds a CID, checking the combination is valid.
    ///
    /// - Throws: ``MultiformatError/unknownCodec(code:)`` for codecs other than raw, dag-pb and
    ///   libp2p-key, ``MultiformatError/invalidCIDv0`` for a v0 that is not dag-pb + sha2-256.
    public init(version: Version, codec: Multicodec, multihash: Multihash) throws(MultiformatError) {
        guard Self.supportedCodecs.contains(codec) else { throw .unknownCodec(code: codec.rawValue) }
        if version == .v0 {
            guard codec == .dagPB, multihash.code == .sha2_256 else { throw .invalidCIDv0 }
        }
        self.init(unchecked: version, codec: codec, multihash: multihash)
    }

    /// For combinations already known to be valid.
    init(unchecked version: Version, codec: Multicodec, multihash: Multihash) {
        self.version = version
        self.codec = codec
        self.multihash = multihash
    }

    /// Parses the text form: a 46-character `Qm...` CIDv0, or a multibase CIDv1 in base32
    /// lower (`b`), base58btc (`z`) or base36 lower (`k`).
    ///
    /// - Throws: ``MultiformatError/emptyInput``, ``MultiformatError/inputTooLarge(limit:)``,
    ///   multibase errors, ``MultiformatError/invalidCIDv0`` for a multibase-wrapped v0 or a
    ///   `Qm` string that is not one, and the errors of ``init(bytes:)``.
    public init(string: String) throws(MultiformatError) {
        let utf8 = string.utf8
        guard utf8.count <= Multibase.maxTextLength else {
            throw .inputTooLarge(limit: Multibase.maxTextLength)
        }
        guard !utf8.isEmpty else { throw .emptyInput }
        if utf8.count == Self.v0TextLength && utf8.starts(with: "Qm".utf8) {
            let bytes = try Base58.decode(string)
            guard Self.isV0(bytes) else { throw .invalidCIDv0 }
            try self.init(bytes: bytes)
            return
        }
        let (_, bytes) = try Multibase.decode(string)
        // CIDv0 has no multibase form; accepting one would give it a second spelling.
        guard !Self.isV0(bytes) else { throw .invalidCIDv0 }
        try self.init(bytes: bytes)
    }

    /// `LosslessStringConvertible`: the CID named by `description`, or nil if it does not parse.
    public init?(_ description: String) {
        guard let cid = try? CID(string: description) else { return nil }
        self = cid
    }

    /// Parses the binary form: a bare 34-byte sha2-256 multihash (v0), or
    /// varint(1) || varint(codec) || multihash (v1).
    ///
    /// - Throws: ``MultiformatError/emptyInput``, varint errors,
    ///   ``MultiformatError/unsupportedCIDVersion(_:)``, ``MultiformatError/invalidCIDv0`` for an
    ///   explicit version 0, ``MultiformatError/unknownCodec(code:)``, multihash errors, and
    ///   ``MultiformatError/trailingBytes(count:)``.
    public init(bytes: [UInt8]) throws(MultiformatError) {
        guard !bytes.isEmpty else { throw .emptyInput }
        // 0x12 is sha2-256, never a valid version: the bytes are a (possibly broken) CIDv0.
        if bytes[0] == Multicodec.sha2_256.rawValue {
            // A sha2-256 multihash is exactly 34 bytes, so this also checks the v0 length.
            let multihash = try Multihash(bytes: bytes)
            self.init(unchecked: .v0, codec: .dagPB, multihash: multihash)
            return
        }
        var offset = 0
        let version = try Varint.decode(bytes, offset: &offset)
        switch version {
        case Version.v1.rawValue:
            break
        case Version.v0.rawValue:
            throw .invalidCIDv0
        default:
            throw .unsupportedCIDVersion(version)
        }
        let codec = Multicodec(rawValue: try Varint.decode(bytes, offset: &offset))
        guard Self.supportedCodecs.contains(codec) else { throw .unknownCodec(code: codec.rawValue) }
        let multihash = try Multihash.decode(bytes, offset: &offset)
        guard offset == bytes.count else { throw .trailingBytes(count: bytes.count - offset) }
        self.init(unchecked: .v1, codec: codec, multihash: multihash)
    }

    static func isV0(_ bytes: [UInt8]) -> Bool {
        bytes.count == v0ByteLength && bytes[0] == 0x12 && bytes[1] == 0x20
    }

    /// The binary form: the bare multihash for v0, varint(1) || varint(codec) || multihash for v1.
    public var bytes: [UInt8] {
        switch version {
        case .v0:
            return multihash.bytes
        case .v1:
            var out: [UInt8] = []
            Varint.append(version.rawValue, to: &out)
            Varint.append(codec.rawValue, to: &out)
            out.append(contentsOf: multihash.bytes)
            return out
        }
    }

    /// The canonical text form: base58btc (`Qm...`) for v0, base32 lower (`b...`) for v1,
    /// libp2p-key included.
    public var description: String {
        string(in: .base32Lower)
    }

    /// The text form in `base`, multibase prefix included. A CIDv0 has only one text form and
    /// ignores `base`: always bare base58btc.
    public func string(in base: Multibase) -> String {
        switch version {
        case .v0: return Base58.encode(bytes)
        case .v1: return Multibase.encode(bytes, as: base)
        }
    }

    /// The CIDv1 of `content` stored as a single raw block (codec raw, sha2-256), as
    /// `ipfs add --cid-version=1` names files that fit one chunk.
    public static func rawFile(_ content: [UInt8]) -> CID {
        CID(unchecked: .v1, codec: .raw, multihash: .sha256(of: content))
    }
}
