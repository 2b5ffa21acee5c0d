// did:key for Ed25519, per the W3C CCG did:key method:
//   did:key:z<base58btc( varint(0xed) ‖ 32-byte public key )>   (0xed as varint is 0xed 0x01)
// https://w3c-ccg.github.io/did-method-key/

/// Why a `did:key` string was refused.
public enum DIDKeyError: Error, Equatable, Sendable, CustomStringConvertible {
    case notADIDKey
    case unsupportedMultibase(String)
    case invalidBase58(String)
    case unsupportedKeyType(multicodecPrefix: String)
    case wrongKeyLength(Int)
    case invalidPublicKey
    case tooLong(Int)

    public var description: String {
        switch self {
        case .notADIDKey: "not a did:key identifier (expected 'did:key:z6Mk…')"
        case .unsupportedMultibase(let p): "did:key must use base58btc ('z'), found prefix '\(p)'"
        case .invalidBase58(let why): "did:key is not valid base58btc: \(why)"
        case .unsupportedKeyType(let p): "did:key is not an Ed25519 key (multicodec prefix \(p), expected ed01)"
        case .wrongKeyLength(let n): "did:key carries \(n) key bytes, an Ed25519 key has 32"
        case .invalidPublicKey: "did:key does not hold a valid Ed25519 public key"
        case .tooLong(let n): "did:key is \(n) characters long, far more than any Ed25519 did:key"
        }
    }
}

/// A `did:key` naming an Ed25519 public key.
public struct DIDKey: Hashable, Sendable, CustomStringConvertible, Codable {
    public static let ed25519Prefix: [UInt8] = [0xED, 0x01]
    public let publicKey: PublicKey

    public init(publicKey: PublicKey) { self.publicKey = publicKey }

    public init(_ text: String) throws(DIDKeyError) {
        guard text.utf8.count <= 128 else { throw .tooLong(text.utf8.count) }
        guard text.hasPrefix("did:key:") else { throw .notADIDKey }
        let multibase = text.dropFirst("did:key:".count)
        guard let first = multibase.first else { throw .notADIDKey }
        guard first == "z" else { throw .unsupportedMultibase(String(first)) }
        let decoded: [UInt8]
        do { decoded = try Base58.decode(String(multibase.dropFirst())) } catch {
            throw .invalidBase58(error.description)
        }
        guard decoded.count >= 2, decoded[0] == 0xED, decoded[1] == 0x01 else {
            throw .unsupportedKeyType(multicodecPrefix: Hex.encode(Array(decoded.prefix(2))))
        }
        guard decoded.count == 34 else { throw .wrongKeyLength(decoded.count - 2) }
        do { publicKey = try PublicKey(bytes: Array(decoded[2...])) } catch { throw .invalidPublicKey }
    }

    /// The multibase part after `did:key:` (`z6Mk…`).
    public var multibaseValue: String { "z" + Base58.encode(Self.ed25519Prefix + publicKey.bytes) }

    public var description: String { "did:key:" + multibaseValue }

    /// The verification method id used in the DID document: `did:key:z…#z…`.
    public var keyID: String { description + "#" + multibaseValue }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try DIDKey(text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
