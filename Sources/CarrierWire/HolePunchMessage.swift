// DCUtR (Direct Connection Upgrade through Relay), `/libp2p/dcutr`:
// https://github.com/libp2p/specs/blob/master/relay/DCUtR.md
//   message HolePunch { enum Type { CONNECT = 100; SYNC = 300; } required Type type = 1;
//                       repeated bytes ObsAddrs = 2; }
// Varint-length-prefixed, at most 4 KiB. Unknown fields are skipped; an unknown or missing type
// is refused (there is no zero value to default to).


public struct HolePunchMessage: Sendable, Equatable {
    public static let protocolID = "/libp2p/dcutr"
    public static let maxLength = 4096
    public static let maxAddresses = 32

    public enum Kind: UInt64, Sendable, Equatable {
        case connect = 100
        case sync = 300
    }

    public var kind: Kind
    /// Binary multiaddrs the sender can be dialled on (kept raw: they may use protocols we lack).
    public var observedAddrs: [[UInt8]]

    public init(kind: Kind, observedAddrs: [[UInt8]] = []) {
        self.kind = kind
        self.observedAddrs = observedAddrs
    }

    public var bytes: [UInt8] {
        var w = ProtobufWriter()
        w.varint(1, kind.rawValue)
        for a in observedAddrs { w.bytes(2, a) }
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws(WireError) {
        guard bytes.count <= Self.maxLength else { throw .frameTooLarge(length: bytes.count, limit: Self.maxLength) }
        var kind: Kind?
        var addrs: [[UInt8]] = []
        for field in try ProtobufReader.fields(bytes) {
            switch field.number {
            case 1:
                let v = try field.varint()
                guard let k = Kind(rawValue: v) else { throw .relay("unknown DCUtR message type \(v)") }
                kind = k
            case 2:
                let a = try field.bytes()
                if addrs.count < Self.maxAddresses { addrs.append(a) }
            default: continue
            }
        }
        guard let kind else { throw .missingField("HolePunch.type") }
        self.init(kind: kind, observedAddrs: addrs)
    }
}
