// A libp2p PeerID of any key type: https://github.com/libp2p/specs/blob/master/peer-ids/peer-ids.md
// The multihash of the peer's `PublicKey` protobuf: identity when the protobuf is at most 42
// bytes (Ed25519: `12D3KooW…`), sha2-256 otherwise (RSA: `Qm…`). ElastosCore's `PeerID` is the
// Ed25519 case, the one this node's own key always has; remote peers may be RSA (kubo's default).
public import ElastosCore

public struct Libp2pPeerID: Hashable, Sendable, CustomStringConvertible {
    /// The binary PeerID (a multihash).
    public let multihash: Multihash

    public init(_ peer: PeerID) { multihash = peer.multihash }

    public init(multihash: Multihash) { self.multihash = multihash }

    /// The PeerID of a public key given as its libp2p `PublicKey` protobuf.
    public init(publicKeyProtobuf: [UInt8]) {
        if publicKeyProtobuf.count <= 42, let inline = try? Multihash.identity(publicKeyProtobuf) {
            multihash = inline
        } else {
            multihash = Multihash.sha256(of: publicKeyProtobuf)
        }
    }

    /// Parses base58btc (`12D3KooW…`, `Qm…`) or the CIDv1 libp2p-key form (`k51…`, `bafz…`).
    public init(parsing text: String) throws(WireError) {
        guard let bytes = Multiaddr.peerMultihash(fromText: text), let hash = try? Multihash(bytes: bytes) else {
            throw .peerID("'\(text.prefix(80))' is neither base58btc nor a libp2p-key CID")
        }
        multihash = hash
    }

    /// The Ed25519 PeerID, if this is one.
    public var ed25519: PeerID? { try? PeerID(multihash: multihash) }

    public var description: String { Base58.encode(multihash.bytes) }
}

/// A decoded libp2p `PublicKey` (see Libp2pPublicKey.swift for the protobuf).
public enum Libp2pIdentityKey: Sendable, Equatable {
    case ed25519(PublicKey)
    /// An RSA key as PKIX SubjectPublicKeyInfo DER (how go-libp2p marshals it).
    case rsa(der: [UInt8])

    /// Decodes the protobuf; secp256k1 and ECDSA keys get `.unsupportedKeyType`.
    public init(protobuf: [UInt8]) throws(WireError) {
        let (type, field) = try Libp2pPublicKey.fields(protobuf)
        guard let data = field else { throw .missingField("PublicKey.Data") }
        switch type {
        case 1:
            do { self = .ed25519(try PublicKey(bytes: data)) } catch { throw .invalidKey(error.description) }
        case 0:
            // 2048-bit keys are ~294 bytes of DER; refuse absurd sizes before any parsing.
            guard data.count >= 64, data.count <= 2048 else { throw .invalidKey("RSA key of \(data.count) bytes") }
            self = .rsa(der: data)
        default:
            throw .unsupportedKeyType(type)
        }
    }
}
