// Kademlia DHT messages (`/ipfs/kad/1.0.0`):
// https://github.com/libp2p/specs/blob/master/kad-dht/README.md
//   message Record { bytes key = 1; bytes value = 2; string timeReceived = 5; }
//   message Message {
//     enum MessageType { PUT_VALUE = 0; GET_VALUE = 1; ADD_PROVIDER = 2; GET_PROVIDERS = 3;
//                        FIND_NODE = 4; PING = 5; }
//     enum ConnectionType { NOT_CONNECTED = 0; CONNECTED = 1; CAN_CONNECT = 2; CANNOT_CONNECT = 3; }
//     message Peer { bytes id = 1; repeated bytes addrs = 2; ConnectionType connection = 3; }
//     MessageType type = 1; int32 clusterLevelRaw = 10; bytes key = 2; Record record = 3;
//     repeated Peer closerPeers = 8; repeated Peer providerPeers = 9; }
// Each message is varint-length-prefixed on the stream; a stream may carry several requests in
// turn (go reuses streams). proto3: a missing `type` is PUT_VALUE (0). Unknown fields (py-libp2p's
// `senderRecord`, `Peer.signedRecord`, `Record.author`/`signature`) are skipped.

import ElastosCore

public struct KadMessage: Equatable, Sendable {
    public static let protocolID = "/ipfs/kad/1.0.0"
    /// The largest message we read or write (go and py accept 4 MiB; our records are small).
    public static let maxLength = 1024 * 1024
    /// Bounds on lists in one message, so a peer cannot make us hold or dial thousands of entries.
    public static let maxPeersPerList = 64
    public static let maxAddrsPerPeer = 32

    public enum MessageType: UInt64, Sendable {
        case putValue = 0, getValue = 1, addProvider = 2, getProviders = 3, findNode = 4, ping = 5
    }

    public enum ConnectionType: UInt64, Sendable {
        case notConnected = 0, connected = 1, canConnect = 2, cannotConnect = 3
    }

    public struct Peer: Equatable, Sendable {
        /// The binary PeerID (a multihash), kept raw.
        public var id: [UInt8]
        /// Binary multiaddrs, kept raw (a peer may list protocols we don't know).
        public var addrs: [[UInt8]]
        public var connection: ConnectionType

        public init(id: [UInt8], addrs: [[UInt8]] = [], connection: ConnectionType = .notConnected) {
            self.id = id
            self.addrs = addrs
            self.connection = connection
        }

        public var bytes: [UInt8] {
            var w = ProtobufWriter()
            w.bytes(1, id)
            for a in addrs { w.bytes(2, a) }
            if connection != .notConnected { w.varint(3, connection.rawValue) }
            return w.bytes
        }

        public init(decoding bytes: [UInt8]) throws(WireError) {
            self.init(id: [])
            for field in try ProtobufReader.fields(bytes) {
                switch field.number {
                case 1: id = try field.bytes()
                case 2:
                    guard addrs.count < KadMessage.maxAddrsPerPeer else { throw .kad("a peer lists more than \(KadMessage.maxAddrsPerPeer) addresses") }
                    addrs.append(try field.bytes())
                // An unknown connection type is as good as no information.
                case 3: connection = ConnectionType(rawValue: try field.varint()) ?? .notConnected
                default: continue
                }
            }
        }

        /// The PeerID, if `id` is a valid multihash.
        public var peerID: Libp2pPeerID? { (try? Multihash(bytes: id)).map(Libp2pPeerID.init(multihash:)) }
        /// The addresses that parse as multiaddrs we understand.
        public var parsedAddrs: [Multiaddr] { addrs.compactMap { try? Multiaddr(bytes: $0) } }
    }

    public struct Record: Equatable, Sendable {
        public var key: [UInt8]
        public var value: [UInt8]
        /// RFC 3339 time the receiver stored it (set by servers, informational only).
        public var timeReceived: String?

        public init(key: [UInt8], value: [UInt8], timeReceived: String? = nil) {
            self.key = key
            self.value = value
            self.timeReceived = timeReceived
        }

        public var bytes: [UInt8] {
            var w = ProtobufWriter()
            w.bytes(1, key)
            w.bytes(2, value)
            if let timeReceived { w.string(5, timeReceived) }
            return w.bytes
        }

        public init(decoding bytes: [UInt8]) throws(WireError) {
            self.init(key: [], value: [])
            for field in try ProtobufReader.fields(bytes) {
                switch field.number {
                case 1: key = try field.bytes()
                case 2: value = try field.bytes()
                case 5: timeReceived = try field.string()
                default: continue
                }
            }
        }
    }

    public var type: MessageType
    public var key: [UInt8]
    public var record: Record?
    public var closerPeers: [Peer]
    public var providerPeers: [Peer]

    public init(type: MessageType, key: [UInt8] = [], record: Record? = nil, closerPeers: [Peer] = [], providerPeers: [Peer] = []) {
        self.type = type
        self.key = key
        self.record = record
        self.closerPeers = closerPeers
        self.providerPeers = providerPeers
    }

    public var bytes: [UInt8] {
        var w = ProtobufWriter()
        // Written even when 0 (PUT_VALUE): proto3 readers take it either way.
        w.varint(1, type.rawValue)
        if !key.isEmpty { w.bytes(2, key) }
        if let record { w.bytes(3, record.bytes) }
        for p in closerPeers { w.bytes(8, p.bytes) }
        for p in providerPeers { w.bytes(9, p.bytes) }
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws(WireError) {
        guard bytes.count <= Self.maxLength else { throw .frameTooLarge(length: bytes.count, limit: Self.maxLength) }
        self.init(type: .putValue)
        for field in try ProtobufReader.fields(bytes) {
            switch field.number {
            case 1:
                let raw = try field.varint()
                guard let t = MessageType(rawValue: raw) else { throw .kad("unknown message type \(raw)") }
                type = t
            case 2: key = try field.bytes()
            case 3: record = try Record(decoding: try field.bytes())
            case 8:
                guard closerPeers.count < Self.maxPeersPerList else { throw .kad("more than \(Self.maxPeersPerList) closer peers") }
                closerPeers.append(try Peer(decoding: try field.bytes()))
            case 9:
                guard providerPeers.count < Self.maxPeersPerList else { throw .kad("more than \(Self.maxPeersPerList) provider peers") }
                providerPeers.append(try Peer(decoding: try field.bytes()))
            default: continue
            }
        }
    }
}
