// The publisher's signature over a capsule: an Ed25519 signature, in the domain
// "elastos.capsule.v1", of the binary CIDv1 of the capsule's UnixFS directory. The CID covers
// every byte of every file (capsule.json included) and every name, so nothing in the capsule can
// change without invalidating it.
//
// It travels as a small JSON envelope, stored as a raw block (its own CIDv1, codec raw) and named
// as the package's second root. The envelope has one encoding: exactly these keys, in this order,
// no spaces, the CID in base32, the signature as 128 lowercase hex digits:
//   {"version":1,"capsule":"bafy…","publisher":"did:key:z6Mk…","signature":"…"}

public import ElastosCore

/// A publisher's signature over a capsule CID.
public struct CapsuleSignature: Sendable, Equatable {
    public static let version = 1
    public static let maxEnvelopeSize = 1024

    /// The capsule directory the signature is for (CIDv1 dag-pb).
    public let capsule: CID
    /// Who claims to have signed it.
    public let publisher: DIDKey
    /// 64 bytes of Ed25519.
    public let signature: [UInt8]

    /// Signs `capsule` with `key`.
    public static func sign(_ capsule: CID, with key: SigningKey) -> CapsuleSignature {
        CapsuleSignature(capsule: capsule, publisher: key.publicKey.did,
                         signature: key.sign(capsule.bytes, in: .capsule))
    }

    init(capsule: CID, publisher: DIDKey, signature: [UInt8]) {
        self.capsule = capsule
        self.publisher = publisher
        self.signature = signature
    }

    /// True if the signature was made by the key `publisher` names, over `capsule`.
    public var isValid: Bool {
        publisher.publicKey.isValidSignature(signature, for: capsule.bytes, in: .capsule)
    }

    /// The canonical envelope bytes.
    public var envelope: [UInt8] {
        Array(("{\"version\":\(Self.version),\"capsule\":\"\(capsule)\",\"publisher\":\"\(publisher)\","
               + "\"signature\":\"\(Hex.encode(signature))\"}").utf8)
    }

    /// The envelope's block CID (CIDv1, raw).
    public var cid: CID { CID.rawFile(envelope) }

    /// Parses an envelope, accepting only its canonical encoding. Says nothing about validity:
    /// check ``isValid`` (``CapsulePackage/verify(expectedPublisher:)`` does).
    public init(envelope bytes: [UInt8]) throws(CapsuleError) {
        guard bytes.count <= Self.maxEnvelopeSize else {
            throw .malformedSignature("the envelope is \(bytes.count) bytes; the limit is \(Self.maxEnvelopeSize)")
        }
        let value: JSONValue
        do { value = try StrictJSON.parse(bytes) } catch { throw .malformedSignature("not JSON: \(error)") }
        guard case .object(let members) = value else { throw .malformedSignature("not a JSON object") }
        let keys = members.map(\.key)
        guard keys == ["version", "capsule", "publisher", "signature"] else {
            throw .malformedSignature("expected the keys version, capsule, publisher, signature in that order, found \(keys.joined(separator: ", "))")
        }
        guard members[0].value.integer == Int64(Self.version) else {
            throw .malformedSignature("unsupported envelope version (this runtime reads version \(Self.version))")
        }
        guard case .string(let capsuleText) = members[1].value, let capsule = try? CID(string: capsuleText),
              capsule.version == .v1, capsule.codec == .dagPB else {
            throw .malformedSignature("capsule is not a CIDv1 dag-pb")
        }
        guard case .string(let publisherText) = members[2].value else { throw .malformedSignature("publisher is not a string") }
        let publisher: DIDKey
        do { publisher = try DIDKey(publisherText) } catch { throw .malformedSignature("publisher: \(error)") }
        guard case .string(let signatureText) = members[3].value, signatureText.utf8.count == 128,
              let signature = Hex.decode(signatureText) else {
            throw .malformedSignature("signature is not 128 hex digits")
        }
        self.init(capsule: capsule, publisher: publisher, signature: signature)
        guard envelope == bytes else {
            throw .malformedSignature("not in canonical form (no spaces, base32 CID, lowercase hex)")
        }
    }
}
