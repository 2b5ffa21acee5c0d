// Signed pubsub messages: https://github.com/libp2p/specs/blob/master/pubsub/README.md#message-signing
// We sign every message with the node key (StrictSign) and accept only messages that verify:
// `from` is the author's PeerID, `seqno` is present, `signature` is over
// `"libp2p-pubsub:" ‖ protobuf(message without signature and key)`, and the key is either the
// `key` field (go omits it for Ed25519, py always sends it; RSA must send it) or the one inlined in
// an identity-multihash PeerID. The key must hash to `from`.
public import CarrierWire
import ElastosCore

/// A verified message delivered to a subscriber.
public struct PubsubMessage: Sendable, Equatable {
    public let topic: String
    public let data: [UInt8]
    /// The author, proven by the signature.
    public let from: Libp2pPeerID
    public let seqno: [UInt8]
    /// `from ‖ seqno`, the default message ID.
    public let id: [UInt8]
    /// The peer that handed it to us (nil when we published it).
    public let receivedFrom: Libp2pPeerID?
}

/// Why a received message was rejected (each counts against the peer that sent it).
public enum PubsubValidationError: Error, Equatable, Sendable, CustomStringConvertible {
    case unsigned
    case missingFrom
    case missingSeqno
    case invalidFrom
    case unknownKey
    case keyDoesNotMatchFrom
    case unsupportedKey(String)
    case badSignature

    public var description: String {
        switch self {
        case .unsigned: "message has no signature"
        case .missingFrom: "message has no author (from)"
        case .missingSeqno: "message has no sequence number"
        case .invalidFrom: "message author is not a valid PeerID"
        case .unknownKey: "message has no key and its author's PeerID does not inline one"
        case .keyDoesNotMatchFrom: "message key does not belong to its author"
        case .unsupportedKey(let why): "message key unsupported: \(why)"
        case .badSignature: "message signature does not verify"
        }
    }
}

enum PubsubSigning {
    /// A message from `author` signed with the node key; `key` is included, as py-libp2p does
    /// (go accepts it; for Ed25519 it is redundant with the PeerID but costs only 36 bytes).
    static func signedMessage(topic: String, data: [UInt8], seqno: UInt64, node: CarrierNode) -> PubsubWireMessage {
        var seqnoBytes = [UInt8](repeating: 0, count: 8)
        for i in 0..<8 { seqnoBytes[i] = UInt8(truncatingIfNeeded: seqno >> UInt64(8 * (7 - i))) }
        var message = PubsubWireMessage(from: Libp2pPeerID(node.peerID).multihash.bytes, data: data, seqno: seqnoBytes, topic: topic)
        message.signature = node.signWithNodeKey(message.signedBytes)
        message.key = node.peerID.publicKeyProtobuf
        return message
    }

    /// Checks author, seqno and signature; returns the author.
    static func verify(_ message: PubsubWireMessage) throws(PubsubValidationError) -> Libp2pPeerID {
        guard let signature = message.signature, !signature.isEmpty else { throw .unsigned }
        guard let fromBytes = message.from, !fromBytes.isEmpty else { throw .missingFrom }
        guard let seqno = message.seqno, !seqno.isEmpty else { throw .missingSeqno }
        _ = seqno
        guard let multihash = try? Multihash(bytes: fromBytes) else { throw .invalidFrom }
        let author = Libp2pPeerID(multihash: multihash)
        let keyProtobuf: [UInt8]
        if let key = message.key, !key.isEmpty {
            guard Libp2pPeerID(publicKeyProtobuf: key) == author else { throw .keyDoesNotMatchFrom }
            keyProtobuf = key
        } else {
            guard multihash.code == .identityHash else { throw .unknownKey }
            keyProtobuf = multihash.digest
        }
        let key: Libp2pIdentityKey
        do { key = try Libp2pIdentityKey(protobuf: keyProtobuf) } catch { throw .unsupportedKey(error.description) }
        guard key.isValidSignature(signature, for: message.signedBytes) else { throw .badSignature }
        return author
    }
}
