// Sealing and opening signed envelopes (CarrierWire/SignedEnvelope.swift): our own peer record
// in identify, relay reservation vouchers. Opening always checks the payload type, that the
// key decodes, the signature over the domain-separated bytes, and that the record names the
// key that signed it; anything else is a typed error.
public import CarrierWire
public import ElastosCore

public enum SignedRecordError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(WireError)
    case wrongPayloadType([UInt8])
    case unsupportedKey(String)
    case badSignature
    /// The record names a different peer than the key that signed it (or than expected).
    case signerMismatch(signer: Libp2pPeerID, named: Libp2pPeerID)

    public var description: String {
        switch self {
        case .malformed(let e): "malformed signed record: \(e)"
        case .wrongPayloadType(let t): "signed envelope carries payload type \(t.map { String($0, radix: 16) }.joined(separator: " ")), not the one expected"
        case .unsupportedKey(let why): "signed envelope key: \(why)"
        case .badSignature: "signed envelope has a bad signature"
        case .signerMismatch(let signer, let named): "record for \(named) is signed by \(signer)"
        }
    }
}

public enum SignedRecords {
    /// Seals `payload` of `payloadType` for `domain` with an Ed25519 identity.
    public static func seal(_ payload: [UInt8], payloadType: [UInt8], domain: String, with identity: SigningKey) -> SignedEnvelope {
        let signed = SignedEnvelope.signedBytes(domain: domain, payloadType: payloadType, payload: payload)
        return SignedEnvelope(publicKey: PeerID(publicKey: identity.publicKey).publicKeyProtobuf, payloadType: payloadType,
                              payload: payload, signature: identity.signRaw(signed))
    }

    /// Decodes `bytes` and checks type and signature; returns the envelope and its signer.
    public static func open(_ bytes: [UInt8], domain: String, payloadType: [UInt8]) throws(SignedRecordError) -> (envelope: SignedEnvelope, signer: Libp2pPeerID) {
        let envelope: SignedEnvelope
        do { envelope = try SignedEnvelope(decoding: bytes) } catch { throw .malformed(error) }
        guard envelope.payloadType == payloadType else { throw .wrongPayloadType(envelope.payloadType) }
        let key: Libp2pIdentityKey
        do { key = try Libp2pIdentityKey(protobuf: envelope.publicKey) } catch { throw .unsupportedKey(error.description) }
        let signed = SignedEnvelope.signedBytes(domain: domain, payloadType: envelope.payloadType, payload: envelope.payload)
        guard key.isValidSignature(envelope.signature, for: signed) else { throw .badSignature }
        return (envelope, Libp2pPeerID(publicKeyProtobuf: envelope.publicKey))
    }

    /// Our peer record, sealed.
    public static func sealPeerRecord(_ record: PeerRecord, with identity: SigningKey) -> SignedEnvelope {
        seal(record.bytes, payloadType: PeerRecord.payloadType, domain: PeerRecord.domain, with: identity)
    }

    /// A peer record whose signature checks and which names the key that signed it.
    public static func openPeerRecord(_ bytes: [UInt8]) throws(SignedRecordError) -> PeerRecord {
        let (envelope, signer) = try open(bytes, domain: PeerRecord.domain, payloadType: PeerRecord.payloadType)
        let record: PeerRecord
        do { record = try PeerRecord(decoding: envelope.payload) } catch { throw .malformed(error) }
        guard record.peer == signer else { throw .signerMismatch(signer: signer, named: record.peer) }
        return record
    }

    public static func sealVoucher(_ voucher: ReservationVoucher, with identity: SigningKey) -> SignedEnvelope {
        seal(voucher.bytes, payloadType: ReservationVoucher.payloadType, domain: ReservationVoucher.domain, with: identity)
    }

    /// A reservation voucher signed by the relay it names.
    public static func openVoucher(_ bytes: [UInt8]) throws(SignedRecordError) -> ReservationVoucher {
        let (envelope, signer) = try open(bytes, domain: ReservationVoucher.domain, payloadType: ReservationVoucher.payloadType)
        let voucher: ReservationVoucher
        do { voucher = try ReservationVoucher(decoding: envelope.payload) } catch { throw .malformed(error) }
        guard voucher.relay == signer else { throw .signerMismatch(signer: signer, named: voucher.relay) }
        return voucher
    }
}
