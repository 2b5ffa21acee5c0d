public import Crypto
import Foundation

// Sealing to a did:key: HPKE (RFC 9180) in base mode with the suite DHKEM(X25519, HKDF-SHA256),
// HKDF-SHA256, ChaCha20-Poly1305, to the X25519 key derived from the recipient's Ed25519 key
// (X25519.swift), with info = "elastos.did.seal.v1" and an AAD the caller chooses.
//
//   sealed = enc (32 bytes, the sender's ephemeral X25519 public key) ‖ ciphertext ‖ tag (16)
//
// One message per seal: every seal has a fresh ephemeral key, so the sequence number is
// always 0. Base mode does not say who sealed: anyone can seal to any DID. A sender who needs to
// be known signs the plaintext too (elastos://did/self/sign).

/// Why a seal could not be made or did not open.
public enum DIDSealError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The recipient's Ed25519 key has no X25519 form.
    case recipientHasNoKeyAgreementKey(X25519ConversionError)
    /// The recipient's X25519 key has small order: every Diffie-Hellman result with it is zero,
    /// so a seal to it would be readable by anyone (RFC 9180 §7.1.4 says abort).
    case recipientKeyHasSmallOrder
    /// Wrong key, wrong AAD, altered or cut bytes: deliberately one case, since which of these
    /// it was is not something the opener can know (and must not guess for an attacker).
    case doesNotOpen
    /// swift-crypto's HPKE refused to seal for a reason other than the key (not expected).
    case sealingFailed

    public var description: String {
        switch self {
        case .recipientHasNoKeyAgreementKey(let why): "cannot seal to this DID: \(why)"
        case .recipientKeyHasSmallOrder: "cannot seal to this DID: its X25519 key has small order"
        case .doesNotOpen: "the sealed message does not open with this key and AAD"
        case .sealingFailed: "HPKE could not seal the message"
        }
    }
}

public enum DIDSeal {
    /// HPKE's `info`, binding every seal to this use.
    public static let info: [UInt8] = Array("elastos.did.seal.v1".utf8)
    public static let ciphersuite = HPKE.Ciphersuite.Curve25519_SHA256_ChachaPoly
    public static let encapsulatedKeyLength = 32
    public static let tagLength = 16
    /// Bytes a seal adds to its plaintext.
    public static let overhead = encapsulatedKeyLength + tagLength

    /// Seals `plaintext` to the holder of `recipient`'s identity key.
    public static func seal(_ plaintext: [UInt8], to recipient: PublicKey, aad: [UInt8]) throws(DIDSealError) -> [UInt8] {
        let key: Curve25519.KeyAgreement.PublicKey
        do { key = try recipient.keyAgreementPublicKey() } catch { throw .recipientHasNoKeyAgreementKey(error) }
        return try seal(plaintext, to: key, aad: aad)
    }

    /// Opens what ``seal(_:to:aad:)`` sealed to `key`'s public key, with the same AAD.
    public static func open(_ sealed: [UInt8], with key: SigningKey, aad: [UInt8]) throws(DIDSealError) -> [UInt8] {
        try open(sealed, with: key.keyAgreementKey, aad: aad)
    }

    /// Seals to a raw X25519 key (the derived one, or one a test made).
    public static func seal(_ plaintext: [UInt8], to recipient: Curve25519.KeyAgreement.PublicKey, aad: [UInt8],
                            info: [UInt8] = DIDSeal.info) throws(DIDSealError) -> [UInt8] {
        // swift-crypto does not refuse an all-zero DH result (see X25519Keys_boring.swift); with
        // a small-order recipient the ephemeral DH would be zero, so check with a throwaway key.
        // Zero for one clamped scalar means zero for all of them: it depends on the point only.
        guard !isAllZero(try? Curve25519.KeyAgreement.PrivateKey().sharedSecretFromKeyAgreement(with: recipient)) else {
            throw .recipientKeyHasSmallOrder
        }
        do {
            var sender = try HPKE.Sender(recipientKey: recipient, ciphersuite: ciphersuite, info: Data(info))
            let ciphertext = try sender.seal(plaintext, authenticating: aad)
            return Array(sender.encapsulatedKey) + Array(ciphertext)
        } catch {
            // Not expected for an X25519 key and a first message; no secret in the report.
            throw .sealingFailed
        }
    }

    /// Opens with a raw X25519 private key.
    public static func open(_ sealed: [UInt8], with key: Curve25519.KeyAgreement.PrivateKey, aad: [UInt8],
                            info: [UInt8] = DIDSeal.info) throws(DIDSealError) -> [UInt8] {
        guard sealed.count >= overhead else { throw .doesNotOpen }
        let enc = Array(sealed[0..<encapsulatedKeyLength])
        // RFC 9180 §7.1.4: the recipient, too, refuses a zero DH (a small-order enc).
        guard let encKey = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: enc),
              !isAllZero(try? key.sharedSecretFromKeyAgreement(with: encKey))
        else { throw .doesNotOpen }
        do {
            var recipient = try HPKE.Recipient(privateKey: key, ciphersuite: ciphersuite, info: Data(info), encapsulatedKey: Data(enc))
            return Array(try recipient.open(sealed[encapsulatedKeyLength...], authenticating: aad))
        } catch {
            throw .doesNotOpen
        }
    }

    /// True for a missing secret too, so that a failed agreement is never taken as a good one.
    private static func isAllZero(_ secret: SharedSecret?) -> Bool {
        guard let secret else { return true }
        return secret.withUnsafeBytes { $0.allSatisfy { $0 == 0 } }
    }
}
