// Elastos DHT value records: what PUT_VALUE / GET_VALUE carry for keys in our namespace.
// The format is ours (docs/CARRIER.md, "Kademlia"); libp2p leaves record validation to the
// application, as kubo does for /pk/ and /ipns/.
//
//   key   = "/elastos/" <publisher PeerID, base58btc> "/" <name: 1–256 bytes of UTF-8>
//   value = protobuf ElastosDHTRecord {
//             bytes  publicKey = 1;  // the publisher's libp2p PublicKey protobuf (Ed25519 only)
//             bytes  value     = 2;  // the payload, at most 16 KiB
//             uint64 sequence  = 3;  // higher wins; a tie goes to the later expiry
//             uint64 expiresAt = 4;  // unix seconds; an expired record is refused
//             bytes  signature = 5; }
//   signature = Ed25519 over SigningDomain "elastos.dht-record.v1" (tag ‖ 0x00 ‖ m), where
//   m = protobuf { bytes key = 1; bytes value = 2; uint64 sequence = 3; uint64 expiresAt = 4; }
// The key names the publisher, so only the holder of that key can make a record any node accepts.
public import ElastosCore

public struct SignedDHTRecord: Equatable, Sendable {
    public static let namespace = "/elastos/"
    public static let maxValueLength = 16 * 1024
    public static let maxNameLength = 256
    public static let signingDomain = SigningDomain("elastos.dht-record.v1")

    /// The DHT key as text, `/elastos/<publisher>/<name>`.
    public let key: String
    public let publisher: PublicKey
    public let value: [UInt8]
    public let sequence: UInt64
    public let expiresAt: UInt64
    public let signature: [UInt8]

    /// The key under which `publisher` publishes `name`.
    public static func key(publisher: PeerID, name: String) -> String { namespace + publisher.description + "/" + name }

    /// Signs `value` for `name` as the holder of `signingKey`.
    public init(name: String, value: [UInt8], sequence: UInt64, expiresAt: UInt64, signingKey: SigningKey) throws(WireError) {
        let key = Self.key(publisher: PeerID(publicKey: signingKey.publicKey), name: name)
        try Self.checkKey(key, publisher: signingKey.publicKey)
        guard value.count <= Self.maxValueLength else { throw .kad("record value of \(value.count) bytes exceeds \(Self.maxValueLength)") }
        self.key = key
        publisher = signingKey.publicKey
        self.value = value
        self.sequence = sequence
        self.expiresAt = expiresAt
        signature = signingKey.sign(Self.signedMessage(key: key, value: value, sequence: sequence, expiresAt: expiresAt), in: Self.signingDomain)
    }

    /// The record as it travels in `Record.value`.
    public var bytes: [UInt8] {
        var w = ProtobufWriter()
        w.bytes(1, PeerID(publicKey: publisher).publicKeyProtobuf)
        w.bytes(2, value)
        w.varint(3, sequence)
        w.varint(4, expiresAt)
        w.bytes(5, signature)
        return w.bytes
    }

    /// Decodes and validates the record stored under `key`: namespace, publisher, signature,
    /// size, and expiry against `now` (unix seconds). Anything else throws.
    public init(key keyBytes: [UInt8], value recordBytes: [UInt8], now: UInt64) throws(WireError) {
        guard let key = String(validating: keyBytes, as: UTF8.self) else { throw .invalidUTF8("DHT record key") }
        var publicKey: [UInt8]?, value: [UInt8]?, signature: [UInt8]?
        var sequence: UInt64 = 0, expiresAt: UInt64 = 0
        for field in try ProtobufReader.fields(recordBytes) {
            switch field.number {
            case 1: publicKey = try field.bytes()
            case 2: value = try field.bytes()
            case 3: sequence = try field.varint()
            case 4: expiresAt = try field.varint()
            case 5: signature = try field.bytes()
            default: continue
            }
        }
        guard let publicKey, let value, let signature else { throw .missingField("ElastosDHTRecord publicKey, value or signature") }
        guard case .ed25519(let publisher) = try Libp2pIdentityKey(protobuf: publicKey) else { throw .kad("record publisher key is not Ed25519") }
        try Self.checkKey(key, publisher: publisher)
        guard value.count <= Self.maxValueLength else { throw .kad("record value of \(value.count) bytes exceeds \(Self.maxValueLength)") }
        guard expiresAt > now else { throw .kad("record for \(key) expired at \(expiresAt)") }
        let message = Self.signedMessage(key: key, value: value, sequence: sequence, expiresAt: expiresAt)
        guard publisher.isValidSignature(signature, for: message, in: Self.signingDomain) else { throw .kad("record for \(key) has a bad signature") }
        self.key = key
        self.publisher = publisher
        self.value = value
        self.sequence = sequence
        self.expiresAt = expiresAt
        self.signature = signature
    }

    /// Whether this record should replace `other` (same key): higher sequence, then later expiry.
    public func supersedes(_ other: SignedDHTRecord) -> Bool {
        sequence != other.sequence ? sequence > other.sequence : expiresAt > other.expiresAt
    }

    /// Whether `key` is in our namespace (not whether it is valid).
    public static func isInNamespace(_ key: [UInt8]) -> Bool { key.starts(with: Array(namespace.utf8)) }

    static func checkKey(_ key: String, publisher: PublicKey) throws(WireError) {
        guard key.hasPrefix(namespace) else { throw .kad("key \(key.prefix(80).debugDescription) is outside the \(namespace) namespace") }
        let rest = key.dropFirst(namespace.count)
        guard let slash = rest.firstIndex(of: "/") else { throw .kad("key \(key.prefix(80).debugDescription) has no name after the publisher") }
        let name = rest[rest.index(after: slash)...]
        guard !name.isEmpty, name.utf8.count <= maxNameLength else { throw .kad("record name must be 1–\(maxNameLength) bytes") }
        guard String(rest[..<slash]) == PeerID(publicKey: publisher).description else {
            throw .kad("key \(key.prefix(80).debugDescription) does not name the record's publisher")
        }
    }

    static func signedMessage(key: String, value: [UInt8], sequence: UInt64, expiresAt: UInt64) -> [UInt8] {
        var w = ProtobufWriter()
        w.string(1, key)
        w.bytes(2, value)
        w.varint(3, sequence)
        w.varint(4, expiresAt)
        return w.bytes
    }
}
