// libp2p PeerID for an Ed25519 key, per libp2p/specs peer-ids/peer-ids.md:
//   PublicKey protobuf = { Type (field 1, varint) = 1 (Ed25519); Data (field 2, bytes) = key }
//                      = 08 01 12 20 ‖ key (36 bytes)
//   PeerID = identity multihash of that protobuf (00 24 ‖ protobuf), because it is ≤ 42 bytes;
//   shown as base58btc ("12D3KooW…") or as a CIDv1 with the libp2p-key codec ("k51…"/"bafz…").

/// Why a PeerID string was refused.
public enum PeerIDError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidEncoding(String)
    case notIdentityMultihash
    case notEd25519Key
    case invalidPublicKey
    case notLibp2pKeyCID

    public var description: String {
        switch self {
        case .invalidEncoding(let why): "not a PeerID: \(why)"
        case .notIdentityMultihash: "PeerID is not an identity multihash of a public key (RSA/secp256k1 hashed ids are not supported)"
        case .notEd25519Key: "PeerID does not hold an Ed25519 public key protobuf"
        case .invalidPublicKey: "PeerID holds an invalid Ed25519 public key"
        case .notLibp2pKeyCID: "CID form of a PeerID must use the libp2p-key codec (0x72)"
        }
    }
}

/// The libp2p identity of an Ed25519 key: the same key as the node's `did:key`.
public struct PeerID: Hashable, Sendable, CustomStringConvertible {
    public let publicKey: PublicKey

    public init(publicKey: PublicKey) { self.publicKey = publicKey }

    /// The libp2p `PublicKey` protobuf for this key.
    public var publicKeyProtobuf: [UInt8] { [0x08, 0x01, 0x12, 0x20] + publicKey.bytes }

    /// The identity multihash (the binary PeerID).
    public var multihash: Multihash {
        // An identity multihash of 36 bytes is always accepted (limit is 128).
        (try? Multihash.identity(publicKeyProtobuf)) ?? Multihash.sha256(of: publicKeyProtobuf)
    }

    /// The PeerID as a CIDv1 with codec libp2p-key.
    public var cid: CID {
        (try? CID(version: .v1, codec: .libp2pKey, multihash: multihash)) ?? CID.rawFile([])
    }

    /// Base58btc text, `12D3KooW…`.
    public var description: String { Base58.encode(multihash.bytes) }

    /// Parses a base58btc PeerID (`12D3KooW…`) or its CIDv1 form (`k51…`, `bafz…`).
    public init(_ text: String) throws(PeerIDError) {
        let hash: Multihash
        // Legacy text form: base58btc of the multihash ("12D3KooW…" inline keys, "Qm…" hashed keys).
        if text.hasPrefix("1") || text.hasPrefix("Qm") {
            do { hash = try Multihash(bytes: try Base58.decode(text)) } catch {
                throw .invalidEncoding(error.description)
            }
        } else {
            let cid: CID
            do { cid = try CID(string: text) } catch { throw .invalidEncoding(error.description) }
            guard cid.codec == .libp2pKey else { throw .notLibp2pKeyCID }
            hash = cid.multihash
        }
        try self.init(multihash: hash)
    }

    public init(multihash: Multihash) throws(PeerIDError) {
        guard multihash.code == .identityHash else { throw .notIdentityMultihash }
        let pb = multihash.digest
        guard pb.count == 36, pb[0] == 0x08, pb[1] == 0x01, pb[2] == 0x12, pb[3] == 0x20 else {
            throw .notEd25519Key
        }
        do { publicKey = try PublicKey(bytes: Array(pb[4...])) } catch { throw .invalidPublicKey }
    }
}
