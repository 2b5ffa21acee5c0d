// The one error type for outside bytes that a Carrier wire decoder refuses.

/// Why bytes from a peer (or text from a user) could not be decoded. Every decoder in
/// CarrierWire throws this instead of trapping.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input ended inside a value (`what` names it).
    case truncated(String)
    /// A varint was longer than 9 bytes, padded, or too large for its use.
    case badVarint
    /// A length prefix announced more than the limit for this frame.
    case frameTooLarge(length: Int, limit: Int)
    /// A protobuf field had a wire type this decoder does not know (3, 4, 6, 7).
    case badProtobufWireType(field: UInt64, wireType: UInt8)
    /// A protobuf field had the wrong wire type for its declared type.
    case unexpectedWireType(field: UInt64)
    /// A required protobuf field was missing.
    case missingField(String)
    /// A string field or message was not valid UTF-8.
    case invalidUTF8(String)
    /// A multiaddr could not be parsed or formatted.
    case multiaddr(MultiaddrError)
    /// A multistream-select message was malformed (no trailing newline, too long, ...).
    case multistream(String)
    /// A Yamux header was malformed (version, type, flags).
    case yamux(String)
    /// A libp2p public key used a type this node does not support, or bad key bytes.
    case unsupportedKeyType(UInt64)
    case invalidKey(String)
    /// A PeerID did not parse.
    case peerID(String)
    /// A Kademlia DHT message or record broke a rule of its format (type, bounds, signature).
    case kad(String)
    /// A Circuit Relay v2 message broke a rule of its format (type, status, peer, limit).
    case relay(String)
    /// A DNS message (mDNS) broke a rule of RFC 1035 or of this decoder's bounds.
    case dns(String)
    /// A signed envelope or the record inside it (peer record, reservation voucher) is malformed.
    case envelope(String)

    public var description: String {
        switch self {
        case .truncated(let what): "input ended inside \(what)"
        case .badVarint: "malformed varint"
        case .frameTooLarge(let length, let limit): "frame of \(length) bytes exceeds the limit of \(limit)"
        case .badProtobufWireType(let field, let type): "protobuf field \(field) has unknown wire type \(type)"
        case .unexpectedWireType(let field): "protobuf field \(field) has the wrong wire type"
        case .missingField(let name): "protobuf message lacks required field \(name)"
        case .invalidUTF8(let what): "\(what) is not valid UTF-8"
        case .multiaddr(let error): error.description
        case .multistream(let why): "multistream-select: \(why)"
        case .yamux(let why): "yamux: \(why)"
        case .unsupportedKeyType(let type): "libp2p key type \(type) is not supported (only Ed25519 = 1)"
        case .invalidKey(let why): "invalid public key: \(why)"
        case .peerID(let why): "invalid PeerID: \(why)"
        case .kad(let why): "kad-dht: \(why)"
        case .relay(let why): "circuit relay: \(why)"
        case .dns(let why): "dns: \(why)"
        case .envelope(let why): "signed envelope: \(why)"
        }
    }
}
