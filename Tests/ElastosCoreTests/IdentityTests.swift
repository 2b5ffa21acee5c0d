import ElastosCore
import Testing

@Suite struct IdentityTests {
    @Test func rfc8032TestVectorOneSignsAndVerifiesExactly() throws {
        let v = try #require(try loadVectors("identity")["rfc8032_test1"] as? [String: String])
        let key = try SigningKey(seed: hex(v["secret_seed_hex"]!))
        #expect(Hex.encode(key.publicKey.bytes) == v["public_key_hex"])
        let sig = key.signRaw(hex(v["message_hex"]!))
        #expect(Hex.encode(sig) == v["signature_hex"])
        #expect(key.publicKey.isValidRawSignature(sig, for: []))
    }

    @Test func seedVectorGivesDIDKeyPeerIDAndSignature() throws {
        let v = try #require(try loadVectors("identity")["seed_00_to_1f"] as? [String: String])
        let key = try SigningKey(seed: hex(v["secret_seed_hex"]!))
        #expect(Hex.encode(key.publicKey.bytes) == v["public_key_hex"])
        #expect(key.publicKey.did.description == v["did_key"])
        let peer = PeerID(publicKey: key.publicKey)
        #expect(Hex.encode(peer.publicKeyProtobuf) == v["libp2p_public_key_protobuf_hex"])
        #expect(peer.description == v["libp2p_peer_id"])
        #expect(peer.cid.string(in: .base36Lower) == v["libp2p_peer_id_cidv1_base36"])
        #expect(peer.cid.string(in: .base32Lower) == v["libp2p_peer_id_cidv1_base32"])
        #expect(Hex.encode(key.signRaw(Array("hello".utf8))) == v["signature_of_ascii_hello_hex"])

        // And back: every textual form parses to the same key.
        #expect(try DIDKey(v["did_key"]!).publicKey == key.publicKey)
        #expect(try PeerID(v["libp2p_peer_id"]!).publicKey == key.publicKey)
        #expect(try PeerID(v["libp2p_peer_id_cidv1_base36"]!).publicKey == key.publicKey)
        #expect(try PeerID(v["libp2p_peer_id_cidv1_base32"]!).publicKey == key.publicKey)
    }

    @Test func didKeyParserRejectsWrongPrefixesLengthsAndAlphabets() {
        let good = "did:key:z6MkehRgf7yJbgaGfYsdoAsKdBPE3dj2CYhowQdcjqSJgvVd"
        #expect(throws: DIDKeyError.notADIDKey) { try DIDKey("did:web:example.com") }
        #expect(throws: DIDKeyError.notADIDKey) { try DIDKey("did:key:") }
        #expect(throws: DIDKeyError.unsupportedMultibase("b")) { try DIDKey("did:key:b" + good.dropFirst(9)) }
        // '0', 'O', 'I' and 'l' are not in the base58btc alphabet.
        #expect(throws: DIDKeyError.self) { try DIDKey(good.replacingOccurrences(of: "R", with: "0")) }
        do {
            _ = try DIDKey("did:key:z6Mk0OIl")
            Issue.record("accepted a did:key with characters outside base58btc")
        } catch {
            guard case .invalidBase58 = error else { Issue.record("wrong error \(error)"); return }
        }
        // An X25519 did:key (multicodec 0xec01) is not an Ed25519 key.
        #expect(throws: DIDKeyError.unsupportedKeyType(multicodecPrefix: "ec01")) {
            try DIDKey("did:key:" + "z" + Base58.encode([0xEC, 0x01] + [UInt8](repeating: 7, count: 32)))
        }
        #expect(throws: DIDKeyError.wrongKeyLength(31)) {
            try DIDKey("did:key:z" + Base58.encode([0xED, 0x01] + [UInt8](repeating: 7, count: 31)))
        }
        #expect(throws: DIDKeyError.wrongKeyLength(33)) {
            try DIDKey("did:key:z" + Base58.encode([0xED, 0x01] + [UInt8](repeating: 7, count: 33)))
        }
        #expect(throws: DIDKeyError.tooLong(209)) { try DIDKey(good + String(repeating: "z", count: 153)) }
    }

    @Test func peerIDParserRejectsHashedAndNonEd25519Ids() throws {
        // A sha2-256 multihash PeerID (RSA style, "Qm…") is not an inline Ed25519 key.
        let hashed = Base58.encode(Multihash.sha256(of: [1, 2, 3]).bytes)
        #expect(throws: PeerIDError.notIdentityMultihash) { try PeerID(hashed) }
        // secp256k1 key type (2) inside the identity multihash.
        let secp = try Multihash.identity([0x08, 0x02, 0x12, 0x21] + [UInt8](repeating: 2, count: 33))
        #expect(throws: PeerIDError.notEd25519Key) { try PeerID(multihash: secp) }
        // A raw-codec CID is not a PeerID.
        #expect(throws: PeerIDError.notLibp2pKeyCID) { try PeerID(CID.rawFile([1]).description) }
        #expect(throws: PeerIDError.self) { try PeerID("12D3KooW0000") }
    }

    @Test func domainSeparatedSignaturesNeverVerifyInAnotherDomainOrRaw() {
        let key = SigningKey()
        let msg = Array("grant".utf8)
        let sig = key.sign(msg, in: .capabilityToken)
        #expect(key.publicKey.isValidSignature(sig, for: msg, in: .capabilityToken))
        #expect(!key.publicKey.isValidSignature(sig, for: msg, in: .auditCheckpoint))
        #expect(!key.publicKey.isValidSignature(sig, for: msg, in: .operatorMessage))
        #expect(!key.publicKey.isValidRawSignature(sig, for: msg))
        // Domain tags are NUL-terminated, so one tag can't be a prefix trick for another.
        let a = SigningDomain("a.b").signedBytes(Array("c".utf8))
        let b = SigningDomain("a.bc").signedBytes([])
        #expect(a != b)
    }

    @Test func seedRoundTripsAndWrongLengthsAreTypedErrors() throws {
        let key = SigningKey()
        #expect(try SigningKey(seed: key.seed).publicKey == key.publicKey)
        #expect(throws: KeyError.wrongSeedLength(31)) { try SigningKey(seed: [UInt8](repeating: 0, count: 31)) }
        #expect(throws: KeyError.wrongPublicKeyLength(33)) { try PublicKey(bytes: [UInt8](repeating: 0, count: 33)) }
    }
}


import Foundation

@Suite struct AuditFormatTests {
    @Test func rfc3339MatchesFoundationForRandomTimes() {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        f.timeZone = TimeZone(identifier: "UTC")
        for _ in 0..<2000 {
            let ms = Int64.random(in: 0...253_402_300_799_999)  // up to 9999-12-31
            #expect(RFC3339.format(millis: ms) == f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000)), "\(ms)")
        }
        #expect(RFC3339.format(millis: 0) == "1970-01-01T00:00:00.000Z")
    }

    @Test func recordLineParsesBackToItsFieldsAndHash() throws {
        let e = AuditEvent(event: "capability.denied.expiry", subject: "c\"1\n", resource: "x://a", action: "read",
                           decision: .deny, reason: "token expired at 5", token: "ab")
        let (line, hash) = AuditLine.encode(seq: 7, timeMillis: 1_800_000_000_123, event: e, prev: AuditRecord.genesis)
        let r = try AuditLine.parse(line).get()
        #expect(r.seq == 7 && r.hash == hash && r.subject == "c\"1\n" && r.token == "ab" && r.time == "2027-01-15T08:00:00.123Z")
        var bad = line
        bad[20] ^= 1
        #expect(AuditLine.parse(bad).failureValue == .hashMismatch)
    }
}

extension Result {
    var failureValue: Failure? { if case .failure(let e) = self { e } else { nil } }
}
