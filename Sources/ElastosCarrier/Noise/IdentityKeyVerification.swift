// Signature checks for the identity keys a remote peer may present: Ed25519 (RFC 8032) and RSA
// (PKCS #1 v1.5 with SHA-256 over the message, as go-libp2p signs; keys of at least 2048 bits).
import CarrierWire
import Crypto
import _CryptoExtras

extension Libp2pIdentityKey {
    func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        switch self {
        case .ed25519(let key):
            return key.isValidRawSignature(signature, for: message)
        case .rsa(let der):
            guard let key = try? _RSA.Signing.PublicKey(derRepresentation: der) else { return false }
            return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: message, padding: .insecurePKCS1v1_5)
        }
    }
}
