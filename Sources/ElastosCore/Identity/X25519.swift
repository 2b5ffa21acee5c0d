public import Crypto

// The X25519 key-agreement key that belongs to an Ed25519 identity key, as the did:key method
// derives it (https://w3c-ccg.github.io/did-method-key/#x25519): the public key is the
// Montgomery form of the Edwards point, u = (1 + y) / (1 − y) mod 2^255 − 19, and the private
// scalar is the first half of SHA-512(seed) — the same scalar Ed25519 signs with — which X25519
// clamps. libsodium calls these crypto_sign_ed25519_pk_to_curve25519 / _sk_to_curve25519.

/// Why an Ed25519 public key has no X25519 key-agreement key.
public enum X25519ConversionError: Error, Equatable, Sendable, CustomStringConvertible {
    case wrongLength(Int)
    /// y (the key with its sign bit cleared) is ≥ p: a second, non-canonical encoding of a y
    /// that RFC 8032 decoders refuse.
    case nonCanonicalY
    /// y = 1, the neutral point: 1 − y has no inverse, so there is no Montgomery u.
    case neutralPoint

    public var description: String {
        switch self {
        case .wrongLength(let n): "an Ed25519 public key is 32 bytes, got \(n)"
        case .nonCanonicalY: "the Ed25519 public key's y coordinate is not reduced mod 2^255 - 19"
        case .neutralPoint: "the Ed25519 public key is the neutral point (y = 1), which has no X25519 form"
        }
    }
}

/// The two conversions, on raw bytes (the did:key method's and libsodium's).
public enum X25519FromEd25519 {
    /// The X25519 public key (Montgomery u, 32 bytes little-endian) of a 32-byte Ed25519
    /// public key: u = (1 + y) / (1 − y) mod p. Strict: refuses y ≥ p and y = 1.
    public static func publicKey(_ ed25519: [UInt8]) throws(X25519ConversionError) -> [UInt8] {
        guard ed25519.count == 32 else { throw .wrongLength(ed25519.count) }
        guard Field25519.isCanonical(ed25519) else { throw .nonCanonicalY }
        guard let u = Field25519.montgomeryU(fromEdwards: ed25519) else { throw .neutralPoint }
        return u
    }

    /// The X25519 private key of an Ed25519 identity: the first 32 bytes of SHA-512(seed), the
    /// scalar Ed25519 signs with. Not clamped here: X25519 clamps every scalar it is given.
    public static func privateKey(seed: [UInt8]) throws(KeyError) -> Curve25519.KeyAgreement.PrivateKey {
        guard seed.count == 32 else { throw .wrongSeedLength(seed.count) }
        let digest = Array(SHA512.hash(data: seed))
        // rawRepresentation takes any 32 bytes; it cannot fail here.
        guard let key = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: digest[0..<32]) else {
            throw .wrongSeedLength(seed.count)
        }
        return key
    }
}

extension PublicKey {
    /// The X25519 public key derived from this Ed25519 key; nil for the keys
    /// ``X25519FromEd25519/publicKey(_:)`` refuses (non-canonical y, y = 1).
    public var x25519: [UInt8]? { try? X25519FromEd25519.publicKey(bytes) }

    /// The same key as swift-crypto's type, for key agreement and HPKE.
    public func keyAgreementPublicKey() throws(X25519ConversionError) -> Curve25519.KeyAgreement.PublicKey {
        let u = try X25519FromEd25519.publicKey(bytes)
        // Any 32 bytes are an X25519 public key to swift-crypto; this cannot fail.
        guard let key = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: u) else { throw .wrongLength(u.count) }
        return key
    }
}

extension SigningKey {
    /// The X25519 private key derived from this identity: key agreement (e.g. direct messages
    /// encrypted to a did:key) without a second secret to store.
    public var keyAgreementKey: Curve25519.KeyAgreement.PrivateKey {
        let digest = Array(SHA512.hash(data: key.rawRepresentation))
        // Clamping is X25519's job; rawRepresentation takes the 32 bytes as they are.
        return try! Curve25519.KeyAgreement.PrivateKey(rawRepresentation: digest[0..<32])
    }
}

/// Arithmetic modulo p = 2^255 − 19 in sixteen 16-bit limbs held in Int64s (room for the
/// products), enough to map an Edwards y to a Montgomery u. Not constant-time: it only ever
/// sees public keys.
enum Field25519 {
    typealias Element = [Int64]

    /// Whether the 255-bit y of an Edwards encoding (sign bit ignored) is below p. The only
    /// values ≥ p are p … 2^255 − 1: bytes 1…30 all 0xFF, byte 31 0x7F once the sign bit is
    /// cleared, byte 0 ≥ 0xED.
    static func isCanonical(_ key: [UInt8]) -> Bool {
        guard key.count == 32 else { return false }
        guard key[31] & 0x7F == 0x7F, key[1..<31].allSatisfy({ $0 == 0xFF }) else { return true }
        return key[0] < 0xED
    }

    /// The raw map, reducing whatever y it gets (callers check ``isCanonical(_:)`` first); nil
    /// for the wrong length or y ≡ 1.
    static func montgomeryU(fromEdwards key: [UInt8]) -> [UInt8]? {
        guard key.count == 32 else { return nil }
        let y = unpack(key)  // drops the sign bit of x
        let one: Element = [1] + Array(repeating: 0, count: 15)
        let denominator = sub(one, y)
        guard pack(denominator) != Array(repeating: 0, count: 32) else { return nil }
        return pack(mul(add(one, y), invert(denominator)))
    }

    static func unpack(_ b: [UInt8]) -> Element {
        var o = Element(repeating: 0, count: 16)
        for i in 0..<16 { o[i] = Int64(b[2 * i]) | Int64(b[2 * i + 1]) << 8 }
        o[15] &= 0x7FFF
        return o
    }

    static func carry(_ o: inout Element) {
        for i in 0..<16 {
            o[i] += 1 << 16
            let c = o[i] >> 16
            if i < 15 { o[i + 1] += c - 1 } else { o[0] += 38 * (c - 1) }
            o[i] -= c << 16
        }
    }

    static func add(_ a: Element, _ b: Element) -> Element { (0..<16).map { a[$0] + b[$0] } }
    static func sub(_ a: Element, _ b: Element) -> Element { (0..<16).map { a[$0] - b[$0] } }

    static func mul(_ a: Element, _ b: Element) -> Element {
        var t = [Int64](repeating: 0, count: 31)
        for i in 0..<16 { for j in 0..<16 { t[i + j] += a[i] * b[j] } }
        for i in 0..<15 { t[i] += 38 * t[i + 16] }
        var o = Array(t[0..<16])
        carry(&o)
        carry(&o)
        return o
    }

    /// a^(p−2) = a^−1 (Fermat), by square-and-multiply over the bits of p − 2.
    static func invert(_ a: Element) -> Element {
        var c = a
        for bit in stride(from: 253, through: 0, by: -1) {
            c = mul(c, c)
            if bit != 2 && bit != 4 { c = mul(c, a) }
        }
        return c
    }

    /// The canonical little-endian encoding (fully reduced mod p).
    static func pack(_ n: Element) -> [UInt8] {
        var t = n
        carry(&t); carry(&t); carry(&t)
        for _ in 0..<2 {
            var m = Element(repeating: 0, count: 16)
            m[0] = t[0] - 0xFFED
            for i in 1..<15 {
                m[i] = t[i] - 0xFFFF - ((m[i - 1] >> 16) & 1)
                m[i - 1] &= 0xFFFF
            }
            m[15] = t[15] - 0x7FFF - ((m[14] >> 16) & 1)
            let borrow = (m[15] >> 16) & 1
            m[14] &= 0xFFFF
            if borrow == 0 { t = m }  // t ≥ p: keep t − p
        }
        var out = [UInt8](repeating: 0, count: 32)
        for i in 0..<16 {
            out[2 * i] = UInt8(truncatingIfNeeded: t[i])
            out[2 * i + 1] = UInt8(truncatingIfNeeded: t[i] >> 8)
        }
        return out
    }
}
