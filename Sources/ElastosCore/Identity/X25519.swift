public import Crypto

// The X25519 key-agreement key that belongs to an Ed25519 identity key, as the did:key method
// derives it (https://w3c-ccg.github.io/did-method-key/#x25519): the public key is the
// Montgomery form of the Edwards point, u = (1 + y) / (1 − y) mod 2^255 − 19, and the private
// scalar is the first half of SHA-512(seed) — the same scalar Ed25519 signs with — which X25519
// clamps. libsodium calls these crypto_sign_ed25519_pk_to_curve25519 / _sk_to_curve25519.

extension PublicKey {
    /// The X25519 public key derived from this Ed25519 key; nil for the one y (1) that has no
    /// Montgomery image.
    public var x25519: [UInt8]? { Field25519.montgomeryU(fromEdwards: bytes) }
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
