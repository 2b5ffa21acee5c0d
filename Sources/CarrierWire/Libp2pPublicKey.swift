// The libp2p `PublicKey` protobuf: https://github.com/libp2p/specs/blob/master/peer-ids/peer-ids.md
//   message PublicKey { required KeyType Type = 1; required bytes Data = 2; }
//   enum KeyType { RSA = 0; Ed25519 = 1; Secp256k1 = 2; ECDSA = 3; }
// (`Libp2pIdentityKey` decodes Ed25519 and RSA keys; this is the Ed25519-only shortcut.)
public import ElastosCore

public enum Libp2pPublicKey {
    /// Decodes an Ed25519 `PublicKey` protobuf. Other key types get `.unsupportedKeyType`.
    public static func ed25519(from protobuf: [UInt8]) throws(WireError) -> PublicKey {
        let (type, data) = try fields(protobuf)
        guard type == 1 else { throw .unsupportedKeyType(type) }
        guard let data else { throw .missingField("PublicKey.Data") }
        do { return try PublicKey(bytes: data) } catch { throw .invalidKey(error.description) }
    }

    /// The `PublicKey` message's fields: `Type` (required) and `Data`; unknown fields skipped.
    static func fields(_ protobuf: [UInt8]) throws(WireError) -> (type: UInt64, data: [UInt8]?) {
        var type: UInt64?, data: [UInt8]?
        for field in try ProtobufReader.fields(protobuf) {
            switch field.number {
            case 1: type = try field.varint()
            case 2: data = try field.bytes()
            default: continue
            }
        }
        guard let type else { throw .missingField("PublicKey.Type") }
        return (type, data)
    }

    /// The protobuf for an Ed25519 key: `08 01 12 20 ‖ key`.
    public static func protobuf(for key: PublicKey) -> [UInt8] {
        PeerID(publicKey: key).publicKeyProtobuf
    }
}
