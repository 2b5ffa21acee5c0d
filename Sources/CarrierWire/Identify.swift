// Identify: https://github.com/libp2p/specs/blob/master/identify/README.md
//   message Identify {
//     optional string protocolVersion = 5; optional string agentVersion = 6;
//     optional bytes publicKey = 1; repeated bytes listenAddrs = 2; optional bytes observedAddr = 4;
//     repeated string protocols = 3; optional bytes signedPeerRecord = 8; }
// Sent as one varint-length-prefixed message on `/ipfs/id/1.0.0` (responder writes, then closes)
// and on `/ipfs/id/push/1.0.0` (initiator writes).

public struct IdentifyMessage: Equatable, Sendable {
    public static let protocolID = "/ipfs/id/1.0.0"
    public static let pushProtocolID = "/ipfs/id/push/1.0.0"
    /// go-libp2p's limit for one identify message.
    public static let maxLength = 8 * 1024

    public var protocolVersion: String?
    public var agentVersion: String?
    public var publicKey: [UInt8]?
    /// Listen addresses as binary multiaddrs (kept raw: a peer may list protocols we don't know).
    public var listenAddrs: [[UInt8]]
    public var observedAddr: [UInt8]?
    public var protocols: [String]
    public var signedPeerRecord: [UInt8]?

    public init(protocolVersion: String? = nil, agentVersion: String? = nil, publicKey: [UInt8]? = nil,
                listenAddrs: [[UInt8]] = [], observedAddr: [UInt8]? = nil, protocols: [String] = [],
                signedPeerRecord: [UInt8]? = nil) {
        self.protocolVersion = protocolVersion
        self.agentVersion = agentVersion
        self.publicKey = publicKey
        self.listenAddrs = listenAddrs
        self.observedAddr = observedAddr
        self.protocols = protocols
        self.signedPeerRecord = signedPeerRecord
    }

    /// The listen addresses that parse as multiaddrs we understand.
    public var parsedListenAddrs: [Multiaddr] { listenAddrs.compactMap { try? Multiaddr(bytes: $0) } }

    public var bytes: [UInt8] {
        var w = ProtobufWriter()
        if let protocolVersion { w.string(5, protocolVersion) }
        if let agentVersion { w.string(6, agentVersion) }
        if let publicKey { w.bytes(1, publicKey) }
        for a in listenAddrs { w.bytes(2, a) }
        if let observedAddr { w.bytes(4, observedAddr) }
        for p in protocols { w.string(3, p) }
        if let signedPeerRecord { w.bytes(8, signedPeerRecord) }
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws(WireError) {
        self.init()
        for field in try ProtobufReader.fields(bytes) {
            switch field.number {
            case 1: publicKey = try field.bytes()
            case 2: listenAddrs.append(try field.bytes())
            case 3: protocols.append(try field.string())
            case 4: observedAddr = try field.bytes()
            case 5: protocolVersion = try field.string()
            case 6: agentVersion = try field.string()
            case 8: signedPeerRecord = try field.bytes()
            default: continue
            }
        }
    }
}
