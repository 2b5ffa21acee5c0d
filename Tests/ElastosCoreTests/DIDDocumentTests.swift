import Crypto
@testable import ElastosCore
import Foundation
import Testing

@Suite struct DIDDocumentTests {
    @Test func theX25519KeyMatchesLibsodiumsConversion() throws {
        // crypto_sign_ed25519_pk_to_curve25519 (libsodium, through pynacl) of the did:key
        // method's example key.
        let did = try DIDKey("did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp")
        #expect(did.keyAgreementMultibase == "z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW")
    }

    @Test func theDerivedPrivateKeyAgreesWithTheDerivedPublicKey() {
        // Two independent derivations — the birational map on the public key, and X25519 on the
        // Ed25519 signing scalar — must give the same key, for any identity.
        for _ in 0..<64 {
            let key = SigningKey()
            #expect(Array(key.keyAgreementKey.publicKey.rawRepresentation) == key.publicKey.x25519)
        }
    }

    @Test func twoIdentitiesAgreeOnASharedSecretThroughTheirDIDs() throws {
        let alice = SigningKey(), bob = SigningKey()
        let bobX = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: try #require(bob.publicKey.x25519))
        let aliceX = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: try #require(alice.publicKey.x25519))
        let ab = try alice.keyAgreementKey.sharedSecretFromKeyAgreement(with: bobX)
        let ba = try bob.keyAgreementKey.sharedSecretFromKeyAgreement(with: aliceX)
        #expect(ab == ba)
    }

    @Test func fieldArithmeticEdgeCases() {
        // y = 1 (the neutral element) has no Montgomery image; y = 0 maps to u = 1.
        var one = [UInt8](repeating: 0, count: 32); one[0] = 1
        #expect(Field25519.montgomeryU(fromEdwards: one) == nil)
        var expected = [UInt8](repeating: 0, count: 32); expected[0] = 1
        #expect(Field25519.montgomeryU(fromEdwards: [UInt8](repeating: 0, count: 32)) == expected)
        #expect(Field25519.montgomeryU(fromEdwards: [1, 2, 3]) == nil)
        // The raw map reduces p itself (non-canonical y ≡ 0) and ignores the sign bit; the
        // public conversion refuses non-canonical y (DIDSealTests).
        var p = [UInt8](repeating: 0xFF, count: 32); p[0] = 0xED; p[31] = 0x7F
        #expect(Field25519.montgomeryU(fromEdwards: p) == expected)
        p[31] = 0xFF
        #expect(Field25519.montgomeryU(fromEdwards: p) == expected)
    }

    @Test func theDocumentFollowsTheDIDKeyMethod() throws {
        let did = try DIDKey("did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(did.document.utf8)) as? [String: Any])
        #expect(doc["id"] as? String == did.description)
        let vm = try #require((doc["verificationMethod"] as? [[String: Any]])?.first)
        #expect(vm["id"] as? String == did.description + "#z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp")
        #expect(vm["type"] as? String == "Ed25519VerificationKey2020")
        #expect(vm["controller"] as? String == did.description)
        #expect(vm["publicKeyMultibase"] as? String == "z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp")
        for relation in ["authentication", "assertionMethod", "capabilityDelegation", "capabilityInvocation"] {
            #expect(doc[relation] as? [String] == [vm["id"] as! String], "\(relation)")
        }
        let ka = try #require((doc["keyAgreement"] as? [[String: Any]])?.first)
        #expect(ka["id"] as? String == did.description + "#z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW")
        #expect(ka["type"] as? String == "X25519KeyAgreementKey2020")
        #expect(ka["publicKeyMultibase"] as? String == "z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW")
    }
}
