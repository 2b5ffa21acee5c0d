// The DID document of a did:key, built as the did:key method specifies
// (https://w3c-ccg.github.io/did-method-key/, "Document creation algorithm", Ed25519 with the
// derived X25519 key agreement key): nothing is fetched, the document follows from the key.

extension DIDKey {
    /// Multicodec `x25519-pub` (0xec) as a varint.
    public static let x25519Prefix: [UInt8] = [0xEC, 0x01]

    /// `z…` multibase of the derived X25519 key (`z6LS…`); nil if the key has no Montgomery image.
    public var keyAgreementMultibase: String? {
        publicKey.x25519.map { "z" + Base58.encode(Self.x25519Prefix + $0) }
    }

    /// The document as canonical JSON text (fixed key order, no insignificant whitespace).
    public var document: String {
        let did = JSONText.quote(description)
        let vm = JSONText.quote(keyID)
        var fields = [
            "\"@context\":[\"https://www.w3.org/ns/did/v1\",\"https://w3id.org/security/suites/ed25519-2020/v1\",\"https://w3id.org/security/suites/x25519-2020/v1\"]",
            "\"id\":\(did)",
            "\"verificationMethod\":[{\"id\":\(vm),\"type\":\"Ed25519VerificationKey2020\",\"controller\":\(did),\"publicKeyMultibase\":\(JSONText.quote(multibaseValue))}]",
            "\"authentication\":[\(vm)]",
            "\"assertionMethod\":[\(vm)]",
            "\"capabilityDelegation\":[\(vm)]",
            "\"capabilityInvocation\":[\(vm)]",
        ]
        if let ka = keyAgreementMultibase {
            let kaID = JSONText.quote(description + "#" + ka)
            fields.append("\"keyAgreement\":[{\"id\":\(kaID),\"type\":\"X25519KeyAgreementKey2020\",\"controller\":\(did),\"publicKeyMultibase\":\(JSONText.quote(ka))}]")
        }
        return "{" + fields.joined(separator: ",") + "}"
    }
}
