// Noise CipherState and SymmetricState (Noise spec rev 34 §5.1–5.2) for
// Noise_XX_25519_ChaChaPoly_SHA256: ChaCha20-Poly1305 with a 96-bit nonce of 32 zero bits and the
// 64-bit little-endian counter; SHA-256 hashing; HKDF built from HMAC-SHA256 as §4.3 defines.
import Crypto
import Foundation

/// A key and nonce counter; before a key is set, encryption is the identity (handshake start).
struct NoiseCipherState: Sendable {
    private var key: SymmetricKey?
    private var nonce: UInt64 = 0

    init(key: [UInt8]? = nil) { self.key = key.map { SymmetricKey(data: $0) } }

    var hasKey: Bool { key != nil }

    private func nonceBytes() -> ChaChaPoly.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        for i in 0..<8 { bytes[4 + i] = UInt8(truncatingIfNeeded: nonce >> UInt64(8 * i)) }
        // 12 bytes is always a valid ChaChaPoly nonce.
        return try! ChaChaPoly.Nonce(data: bytes)
    }

    mutating func encrypt(_ plaintext: ArraySlice<UInt8>, ad: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard let key else { return Array(plaintext) }
        guard nonce < UInt64.max else { throw .nonceExhausted }
        let sealed: ChaChaPoly.SealedBox
        do { sealed = try ChaChaPoly.seal(plaintext, using: key, nonce: nonceBytes(), authenticating: ad) } catch {
            throw .decryptionFailed
        }
        nonce += 1
        var out = Array(sealed.ciphertext)
        out.append(contentsOf: sealed.tag)
        return out
    }

    mutating func decrypt(_ ciphertext: ArraySlice<UInt8>, ad: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard let key else { return Array(ciphertext) }
        guard nonce < UInt64.max else { throw .nonceExhausted }
        guard ciphertext.count >= 16 else { throw .decryptionFailed }
        let split = ciphertext.endIndex - 16
        do {
            let box = try ChaChaPoly.SealedBox(nonce: nonceBytes(), ciphertext: ciphertext[..<split], tag: ciphertext[split...])
            let plain = try ChaChaPoly.open(box, using: key, authenticating: ad)
            nonce += 1
            return Array(plain)
        } catch { throw .decryptionFailed }
    }
}

/// The handshake's chaining key and transcript hash.
struct NoiseSymmetricState: Sendable {
    static let protocolName = Array("Noise_XX_25519_ChaChaPoly_SHA256".utf8)  // exactly 32 bytes: h = name

    private(set) var chainingKey: [UInt8]
    private(set) var hash: [UInt8]
    private(set) var cipher = NoiseCipherState()

    init() {
        hash = Self.protocolName
        chainingKey = hash
        mixHash([])  // the empty prologue
    }

    mutating func mixHash(_ data: [UInt8]) {
        var sha = SHA256()
        sha.update(data: hash)
        sha.update(data: data)
        hash = Array(sha.finalize())
    }

    mutating func mixKey(_ inputKeyMaterial: [UInt8]) {
        let (ck, key) = Self.hkdf(chainingKey: chainingKey, inputKeyMaterial: inputKeyMaterial)
        chainingKey = ck
        cipher = NoiseCipherState(key: key)
    }

    mutating func encryptAndHash(_ plaintext: [UInt8]) throws(NoiseError) -> [UInt8] {
        let ciphertext = try cipher.encrypt(plaintext[...], ad: hash)
        mixHash(ciphertext)
        return ciphertext
    }

    mutating func decryptAndHash(_ ciphertext: ArraySlice<UInt8>) throws(NoiseError) -> [UInt8] {
        let plaintext = try cipher.decrypt(ciphertext, ad: hash)
        mixHash(Array(ciphertext))
        return plaintext
    }

    /// The two transport ciphers: initiator→responder first.
    func split() -> (NoiseCipherState, NoiseCipherState) {
        let (k1, k2) = Self.hkdf(chainingKey: chainingKey, inputKeyMaterial: [])
        return (NoiseCipherState(key: k1), NoiseCipherState(key: k2))
    }

    /// Noise HKDF with two outputs (§4.3).
    static func hkdf(chainingKey: [UInt8], inputKeyMaterial: [UInt8]) -> ([UInt8], [UInt8]) {
        let tempKey = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: inputKeyMaterial, using: SymmetricKey(data: chainingKey)))
        let out1 = Array(HMAC<SHA256>.authenticationCode(for: [0x01], using: tempKey))
        let out2 = Array(HMAC<SHA256>.authenticationCode(for: out1 + [0x02], using: tempKey))
        return (out1, out2)
    }
}
