import CarrierWire
import ElastosCore
@testable import ElastosCarrier
import Testing

/// Envelopes sealed by py-libp2p 0.8.1 (`seal_record`, and the relay's voucher signing) with the
/// shared identity (seed 00 01 … 1f, 12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB):
/// a peer record with seq 1764755000000000000 for /ip4/127.0.0.1/tcp/4001 and /ip6/::1/tcp/4001,
/// and a voucher for peer 12D3KooWJ1TsijH7H5F74hfAD5XishQz3sxrmAtVY37GtNd9CqYf (seed 01 … 20)
/// expiring at 1764758600.
enum PyLibp2pEnvelopeVectors {
    static let seed = (0..<32).map(UInt8.init)
    static let otherSeed = (1...32).map(UInt8.init)
    static let peerRecord = fromHex(
        "0a240801122003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8120203011a560a2600240801122003a107bff3ce10be"
            + "1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b81080e0e0d4a8eaeabe181a0a0a08047f000001060fa11a160a1429000000000000000000"
            + "00000000000001060fa12a40a83f00ef2c6435ac164d91da660a4db3e44ef9a7aeabf3730154c2861ec3fd8a048dc07cb518bfdeef6d44fbbdf38376"
            + "bfce6d9062dfade68245efb671a72607")
    static let voucher = fromHex(
        "0a240801122003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8120203021a560a2600240801122003a107bff3ce10be"
            + "1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8122600240801122079b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e391"
            + "0bad04966418c8a8c0c9062a40deec87a2054b48bb65ada7c594fc5b666999399f2706ab31abf22a6b5a6be57b68daaae39bd574258c4e7df2d547"
            + "9edb0a30be302e3278d40377675ed1915c02")
}

@Suite struct SignedRecordTests {
    let key = try! SigningKey(seed: PyLibp2pEnvelopeVectors.seed)
    var me: Libp2pPeerID { Libp2pPeerID(PeerID(publicKey: key.publicKey)) }
    let addrs = ["/ip4/127.0.0.1/tcp/4001", "/ip6/::1/tcp/4001"].map { try! Multiaddr(parsing: $0) }

    @Test func opensPyLibp2psPeerRecordAndSealsTheSameBytes() throws {
        let record = try SignedRecords.openPeerRecord(PyLibp2pEnvelopeVectors.peerRecord)
        #expect(record.peer.description == "12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB")
        #expect(record.seq == 1_764_755_000_000_000_000)
        #expect(record.parsedAddresses == addrs)
        // Ed25519 is deterministic: sealing the same record with the same key gives py's bytes.
        #expect(SignedRecords.sealPeerRecord(record, with: key).bytes == PyLibp2pEnvelopeVectors.peerRecord)
    }

    @Test func opensPyLibp2psVoucherAndSealsTheSameBytes() throws {
        let voucher = try SignedRecords.openVoucher(PyLibp2pEnvelopeVectors.voucher)
        let other = Libp2pPeerID(PeerID(publicKey: try SigningKey(seed: PyLibp2pEnvelopeVectors.otherSeed).publicKey))
        #expect(voucher == ReservationVoucher(relay: me, peer: other, expiration: 1_764_758_600))
        #expect(SignedRecords.sealVoucher(voucher, with: key).bytes == PyLibp2pEnvelopeVectors.voucher)
    }

    @Test func signedBytesFollowRFC0002() {
        #expect(SignedEnvelope.signedBytes(domain: "ab", payloadType: [3, 1], payload: [9, 9, 9])
            == [2, 0x61, 0x62, 2, 3, 1, 3, 9, 9, 9])
    }

    @Test func forgeriesAndMixUpsAreTypedErrors() throws {
        let envelope = try SignedEnvelope(decoding: PyLibp2pEnvelopeVectors.peerRecord)

        var tampered = envelope
        tampered.payload[tampered.payload.count - 1] ^= 1
        #expect(throws: SignedRecordError.badSignature) { try SignedRecords.openPeerRecord(tampered.bytes) }

        var badSignature = envelope
        badSignature.signature[0] ^= 0x80
        #expect(throws: SignedRecordError.badSignature) { try SignedRecords.openPeerRecord(badSignature.bytes) }

        // A voucher is not a peer record, nor the other way round (type checked before anything).
        #expect(throws: SignedRecordError.wrongPayloadType([3, 2])) { try SignedRecords.openPeerRecord(PyLibp2pEnvelopeVectors.voucher) }
        #expect(throws: SignedRecordError.wrongPayloadType([3, 1])) { try SignedRecords.openVoucher(PyLibp2pEnvelopeVectors.peerRecord) }

        // The right type with the other domain's signature.
        var crossDomain = envelope
        crossDomain.signature = key.signRaw(SignedEnvelope.signedBytes(domain: ReservationVoucher.domain, payloadType: PeerRecord.payloadType, payload: envelope.payload))
        #expect(throws: SignedRecordError.badSignature) { try SignedRecords.openPeerRecord(crossDomain.bytes) }

        // A record for someone else, validly signed by us.
        let stranger = Libp2pPeerID(PeerID(publicKey: SigningKey().publicKey))
        let claim = SignedRecords.sealPeerRecord(PeerRecord(peer: stranger, seq: 1, addresses: addrs.map(\.bytes)), with: key)
        #expect(throws: SignedRecordError.signerMismatch(signer: me, named: stranger)) { try SignedRecords.openPeerRecord(claim.bytes) }

        var unknownKey = envelope
        unknownKey.publicKey = [0x08, 0x02, 0x12, 0x21] + [UInt8](repeating: 2, count: 33)  // secp256k1
        #expect(throws: SignedRecordError.unsupportedKey(WireError.unsupportedKeyType(2).description)) {
            try SignedRecords.openPeerRecord(unknownKey.bytes)
        }

        #expect(throws: SignedRecordError.malformed(.missingField("Envelope.signature"))) {
            try SignedRecords.openPeerRecord(SignedEnvelope(publicKey: envelope.publicKey, payloadType: [3, 1], payload: [], signature: []).bytes)
        }
        #expect(throws: SignedRecordError.malformed(.frameTooLarge(length: 8193, limit: 8192))) {
            try SignedRecords.openPeerRecord([UInt8](repeating: 0, count: 8193))
        }
    }

    @Test func aRecordRoundTripsAndLimitsItsAddresses() throws {
        let record = PeerRecord(peer: me, seq: 42, addresses: addrs.map(\.bytes) + [[0xff, 0xff]])
        let opened = try SignedRecords.openPeerRecord(SignedRecords.sealPeerRecord(record, with: key).bytes)
        #expect(opened == record)
        #expect(opened.parsedAddresses == addrs)  // an address we cannot read is kept raw, not parsed
        let many = PeerRecord(peer: me, seq: 1, addresses: Array(repeating: addrs[0].bytes, count: PeerRecord.maxAddresses + 1))
        #expect(throws: WireError.envelope("peer record lists more than 256 addresses")) { try PeerRecord(decoding: many.bytes) }
    }

    @Test func randomAndMutatedEnvelopesNeverTrap() {
        var rng = SystemRandomNumberGenerator()
        let seeds = [PyLibp2pEnvelopeVectors.peerRecord, PyLibp2pEnvelopeVectors.voucher]
        var opened = 0
        for i in 0..<20_000 {
            var bytes: [UInt8]
            if i % 2 == 0 {
                bytes = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                bytes = seeds[i % 4 == 1 ? 0 : 1]
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    let at = Int.random(in: 0..<bytes.count, using: &rng)
                    switch Int.random(in: 0...2, using: &rng) {
                    case 0: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                    case 1: bytes.remove(at: at)
                    default: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: at)
                    }
                }
            }
            if (try? SignedRecords.openPeerRecord(bytes)) != nil { opened += 1 }
            if (try? SignedRecords.openVoucher(bytes)) != nil { opened += 1 }
        }
        // A mutation that leaves the signed bytes alone (e.g. in a skipped field) may still open;
        // anything that opens must carry a good signature, which the checks above guarantee.
        #expect(opened < 200)
    }
}
