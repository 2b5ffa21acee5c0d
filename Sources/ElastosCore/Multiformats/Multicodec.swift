// Multicodec: the shared table of codes naming content codecs, hash functions and key types.
// Spec: https://github.com/multiformats/multicodec (table.csv)
// Only the handful of codes this runtime uses are named; any code can be carried, and the CID
// and multihash parsers decide which ones they accept.

/// A code from the multicodec table.
public struct Multicodec: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The table code, as written (varint-encoded) on the wire.
    public let rawValue: UInt64

    /// Wraps any code; unknown codes are allowed here and rejected by the parsers that care.
    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// Raw binary content (`0x55`): the CID codec for file bytes stored as one block.
    public static let raw = Multicodec(rawValue: 0x55)
    /// MerkleDAG protobuf (`0x70`): the codec of UnixFS nodes.
    public static let dagPB = Multicodec(rawValue: 0x70)
    /// A libp2p public key (`0x72`): the codec of peer IDs written as CIDs.
    public static let libp2pKey = Multicodec(rawValue: 0x72)
    /// The identity hash (`0x00`): the "digest" is the content itself.
    public static let identityHash = Multicodec(rawValue: 0x00)
    /// SHA-256 (`0x12`).
    public static let sha2_256 = Multicodec(rawValue: 0x12)
    /// An Ed25519 public key (`0xed`), as in `did:key`.
    public static let ed25519Pub = Multicodec(rawValue: 0xed)

    /// The name in the multicodec table, or the hex code for codes not known here.
    public var name: String {
        switch self {
        case .raw: return "raw"
        case .dagPB: return "dag-pb"
        case .libp2pKey: return "libp2p-key"
        case .identityHash: return "identity"
        case .sha2_256: return "sha2-256"
        case .ed25519Pub: return "ed25519-pub"
        default: return "0x" + String(rawValue, radix: 16)
        }
    }

    public var description: String { name }
}
