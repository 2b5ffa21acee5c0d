
import Crypto

/// Errors from key material that came from outside (files, the wire, the command line).
public enum KeyError: Error, Equatable, Sendable, CustomStringConvertible {
    case wrongSeedLength(Int)
    case wrongPublicKeyLength(Int)
    case invalidPublicKey
    case wrongSignatureLength(Int)

    public var description: String {
        switch self {
        case .wrongSeedLength(let n): "an Ed25519 secret seed is 32 bytes, got \(n)"
        case .wrongPublicKeyLength(let n): "an Ed25519 public key is 32 bytes, got \(n)"
        case .invalidPublicKey: "the bytes are not a valid Ed25519 public key"
        case .wrongSignatureLength(let n): "an Ed25519 signature is 64 bytes, got \(n)"
        }
    }
}

/// An Ed25519 public key (RFC 8032), 32 bytes.
public struct PublicKey: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]
    let key: Curve25519.Signing.PublicKey

    public init(bytes: [UInt8]) throws(KeyError) {
        guard bytes.count == 32 else { throw .wrongPublicKeyLength(bytes.count) }
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: bytes) else {
            throw .invalidPublicKey
        }
        self.bytes = bytes
        self.key = key
    }

    init(key: Curve25519.Signing.PublicKey) {
        self.key = key
        self.bytes = Array(key.rawRepresentation)
    }

    public static func == (a: PublicKey, b: PublicKey) -> Bool { a.bytes == b.bytes }
    public func hash(into hasher: inout Hasher) { hasher.combine(bytes) }

    /// Checks a signature made with ``SigningKey/sign(_:in:)`` in the same domain.
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8], in domain: SigningDomain) -> Bool {
        guard signature.count == 64 else { return false }
        return key.isValidSignature(signature, for: domain.signedBytes(message))
    }

    /// Checks a plain RFC 8032 signature over `message` with no domain tag. Only for
    /// interoperating with outside formats that define their own framing (libp2p, test vectors).
    public func isValidRawSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        guard signature.count == 64 else { return false }
        return key.isValidSignature(signature, for: message)
    }

    /// This key as a `did:key` identifier.
    public var did: DIDKey { DIDKey(publicKey: self) }

    public var description: String { did.description }
}

/// An Ed25519 signing key. The secret never leaves this value except through ``seed``, which
/// only the key store calls to write the key file.
public struct SigningKey: Sendable {
    let key: Curve25519.Signing.PrivateKey
    public let publicKey: PublicKey

    /// A fresh random key from the system CSPRNG.
    public init() {
        let key = Curve25519.Signing.PrivateKey()
        self.key = key
        self.publicKey = PublicKey(key: key.publicKey)
    }

    /// The key for a 32-byte RFC 8032 secret seed.
    public init(seed: [UInt8]) throws(KeyError) {
        guard seed.count == 32 else { throw .wrongSeedLength(seed.count) }
        guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: seed) else {
            throw .wrongSeedLength(seed.count)
        }
        self.key = key
        self.publicKey = PublicKey(key: key.publicKey)
    }

    /// The 32-byte secret seed. Handle with care: write it only to a 0600 file.
    public var seed: [UInt8] { Array(key.rawRepresentation) }

    /// Signs `message` under `domain` (see ``SigningDomain``).
    public func sign(_ message: [UInt8], in domain: SigningDomain) -> [UInt8] {
        // BoringSSL's Ed25519 cannot fail for a valid key and in-memory input.
        (try? Array(key.signature(for: domain.signedBytes(message)))) ?? []
    }

    /// A plain RFC 8032 signature with no domain tag: only for outside protocols that frame the
    /// message themselves (the libp2p handshake, test vectors).
    public func signRaw(_ message: [UInt8]) -> [UInt8] {
        (try? Array(key.signature(for: message))) ?? []
    }
}
