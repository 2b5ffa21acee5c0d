import Crypto
@testable import ElastosCore
import Foundation
import Testing

@Suite struct X25519ConversionTests {
    /// RFC 8032 §7.1 tests 1–3: seed, public key, and libsodium's (pynacl 1.6.2)
    /// crypto_sign_ed25519_pk_to_curve25519 and the first half of SHA-512(seed) (what
    /// crypto_sign_ed25519_sk_to_curve25519 returns once clamped).
    static let vectors: [(seed: String, ed25519: String, x25519: String, scalar: String)] = [
        ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
         "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
         "d85e07ec22b0ad881537c2f44d662d1a143cf830c57aca4305d85c7a90f6b62e",
         "357c83864f2833cb427a2ef1c00a013cfdff2768d980c0a3a520f006904de90f"),
        ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
         "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
         "25c704c594b88afc00a76b69d1ed2b984d7e22550f3ed0802d04fbcd07d38d47",
         "6ebd9ed75882d52815a97585caf4790a7f6c6b3b7f821c5e259a24b02e502e11"),
        ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
         "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
         "cbb22fc9f790bd3eba9b84680c157ca4950a9894362601701f89c3c4d9fda23a",
         "909a8b755ed902849023a55b15c23d11ba4d7f4ec5c2f51b1325a181991ea99c"),
    ]

    @Test func rfc8032KeysConvertAsLibsodiumDoes() throws {
        for v in Self.vectors {
            let key = try SigningKey(seed: hex(v.seed))
            #expect(key.publicKey.bytes == hex(v.ed25519))
            #expect(try X25519FromEd25519.publicKey(hex(v.ed25519)) == hex(v.x25519))
            #expect(key.publicKey.x25519 == hex(v.x25519))
            #expect(Array(try X25519FromEd25519.privateKey(seed: hex(v.seed)).rawRepresentation) == hex(v.scalar))
            #expect(Array(key.keyAgreementKey.rawRepresentation) == hex(v.scalar))
            #expect(Array(try key.publicKey.keyAgreementPublicKey().rawRepresentation) == hex(v.x25519))
        }
    }

    @Test func theConvertedPrivateKeyMakesTheConvertedPublicKey() throws {
        // The two conversions are independent (a field map on y; X25519 on the signing scalar)
        // and must meet, for any identity.
        for _ in 0..<256 {
            let key = SigningKey()
            let fromSeed = try X25519FromEd25519.privateKey(seed: key.seed)
            #expect(Array(fromSeed.publicKey.rawRepresentation) == (try X25519FromEd25519.publicKey(key.publicKey.bytes)))
        }
    }

    @Test func nonCanonicalYAndTheNeutralPointAreRefused() throws {
        // Every y in p … 2^255 − 1 (19 values), with and without the sign bit.
        for low in 0xED...0xFF {
            for sign: UInt8 in [0, 0x80] {
                var y = [UInt8](repeating: 0xFF, count: 32)
                y[0] = UInt8(low); y[31] = 0x7F | sign
                #expect(throws: X25519ConversionError.nonCanonicalY) { try X25519FromEd25519.publicKey(y) }
            }
        }
        // p − 1 is canonical (y = −1 ↦ u = 0).
        var pMinusOne = [UInt8](repeating: 0xFF, count: 32); pMinusOne[0] = 0xEC; pMinusOne[31] = 0x7F
        #expect(try X25519FromEd25519.publicKey(pMinusOne) == [UInt8](repeating: 0, count: 32))
        var one = [UInt8](repeating: 0, count: 32); one[0] = 1
        #expect(throws: X25519ConversionError.neutralPoint) { try X25519FromEd25519.publicKey(one) }
        one[31] = 0x80  // the sign bit does not make it another y
        #expect(throws: X25519ConversionError.neutralPoint) { try X25519FromEd25519.publicKey(one) }
        #expect(throws: X25519ConversionError.wrongLength(31)) { try X25519FromEd25519.publicKey([UInt8](repeating: 3, count: 31)) }
        #expect(throws: KeyError.wrongSeedLength(33)) { try X25519FromEd25519.privateKey(seed: [UInt8](repeating: 3, count: 33)) }
    }

    @Test func theDescriptionsNameNoKeyBytes() {
        for e in [X25519ConversionError.wrongLength(3), .nonCanonicalY, .neutralPoint] {
            #expect(!e.description.isEmpty)
        }
    }
}

@Suite struct DIDSealTests {
    let alice = SigningKey(), bob = SigningKey()

    @Test func sealedToADIDOpensWithItsKey() throws {
        for size in [0, 1, 15, 16, 17, 1000, 64 << 10] {
            let message = (0..<size).map { _ in UInt8.random(in: 0...255) }
            let aad = Array("chat:dm:\(size)".utf8)
            let sealed = try DIDSeal.seal(message, to: bob.publicKey, aad: aad)
            #expect(sealed.count == message.count + DIDSeal.overhead)
            #expect(try DIDSeal.open(sealed, with: bob, aad: aad) == message)
        }
        // Fresh ephemeral key every time: the same message seals differently.
        let a = try DIDSeal.seal([1, 2, 3], to: bob.publicKey, aad: [])
        let b = try DIDSeal.seal([1, 2, 3], to: bob.publicKey, aad: [])
        #expect(a != b)
        #expect(Array(a.prefix(32)) != Array(b.prefix(32)))
    }

    @Test func theWrongKeyOrAADDoesNotOpen() throws {
        let sealed = try DIDSeal.seal(Array("hi bob".utf8), to: bob.publicKey, aad: [7])
        #expect(throws: DIDSealError.doesNotOpen) { try DIDSeal.open(sealed, with: alice, aad: [7]) }
        #expect(throws: DIDSealError.doesNotOpen) { try DIDSeal.open(sealed, with: bob, aad: [8]) }
        #expect(throws: DIDSealError.doesNotOpen) { try DIDSeal.open(sealed, with: bob, aad: []) }
        #expect(throws: DIDSealError.doesNotOpen) { try DIDSeal.open(sealed, with: bob, aad: [7, 0]) }
        // The right key under another info does not open it either (the info binds the use).
        #expect(throws: DIDSealError.doesNotOpen) {
            try DIDSeal.open(sealed, with: bob.keyAgreementKey, aad: [7], info: Array("elastos.did.seal.v2".utf8))
        }
    }

    @Test func everyFlippedBitAndEveryCutDoesNotOpen() throws {
        let aad = Array("room-42".utf8)
        let sealed = try DIDSeal.seal(Array("meet at noon".utf8), to: bob.publicKey, aad: aad)
        for i in sealed.indices {
            for bit in [0, 7] {
                var t = sealed
                t[i] ^= 1 << bit
                #expect(throws: DIDSealError.doesNotOpen, "byte \(i) bit \(bit)") { try DIDSeal.open(t, with: bob, aad: aad) }
            }
        }
        for n in 0..<sealed.count {
            #expect(throws: DIDSealError.doesNotOpen, "cut to \(n)") { try DIDSeal.open(Array(sealed.prefix(n)), with: bob, aad: aad) }
        }
        #expect(throws: DIDSealError.doesNotOpen) { try DIDSeal.open(sealed + [0], with: bob, aad: aad) }
    }

    @Test func smallOrderKeysAreRefusedBothWays() throws {
        // y = 0 ↦ u = 1 and y = −1 ↦ u = 0: canonical Edwards encodings of small-order points.
        let yZero = [UInt8](repeating: 0, count: 32)
        var yMinusOne = [UInt8](repeating: 0xFF, count: 32); yMinusOne[0] = 0xEC; yMinusOne[31] = 0x7F
        for y in [yZero, yMinusOne] {
            let key = try PublicKey(bytes: y)
            #expect(throws: DIDSealError.recipientKeyHasSmallOrder) { try DIDSeal.seal([1], to: key, aad: []) }
        }
        var neutral = yZero; neutral[0] = 1
        #expect(throws: DIDSealError.recipientHasNoKeyAgreementKey(.neutralPoint)) {
            try DIDSeal.seal([1], to: try PublicKey(bytes: neutral), aad: [])
        }
        // An encapsulated key of small order (u = 0, u = 1) never opens, whatever follows it.
        for u in [[UInt8](repeating: 0, count: 32), [1] + [UInt8](repeating: 0, count: 31)] {
            #expect(throws: DIDSealError.doesNotOpen) { try DIDSeal.open(u + [UInt8](repeating: 0, count: 16), with: bob, aad: []) }
        }
    }

    @Test func rfc9180TestVectorA21Opens() throws {
        // RFC 9180 Appendix A.2.1 (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305,
        // base mode), sequence number 0: the suite DIDSeal uses, with the vector's own info.
        let skR = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: hex("8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb"))
        #expect(Array(skR.publicKey.rawRepresentation) == hex("4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a"))
        let sealed = hex("1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a")
            + hex("1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28")
        let plaintext = try DIDSeal.open(sealed, with: skR, aad: hex("436f756e742d30"), info: hex("4f6465206f6e2061204772656369616e2055726e"))
        #expect(String(decoding: plaintext, as: UTF8.self) == "Beauty is truth, truth beauty")
        #expect(throws: DIDSealError.doesNotOpen) { try DIDSeal.open(sealed, with: skR, aad: hex("436f756e742d30")) }
    }
}
