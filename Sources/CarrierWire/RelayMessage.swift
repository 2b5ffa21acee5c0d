// Circuit Relay v2: the messages of the hop and stop protocols.
// Spec: https://github.com/libp2p/specs/blob/master/relay/circuit-v2.md
//   message HopMessage  { Type type = 1 (RESERVE 0, CONNECT 1, STATUS 2); Peer peer = 2;
//                         Reservation reservation = 3; Limit limit = 4; Status status = 5; }
//   message StopMessage { Type type = 1 (CONNECT 0, STATUS 1); Peer peer = 2; Limit limit = 3;
//                         Status status = 4; }
//   message Peer        { bytes id = 1; repeated bytes addrs = 2; }
//   message Reservation { uint64 expire = 1 (Unix seconds, UTC); repeated bytes addrs = 2;
//                         bytes voucher = 3; }
//   message Limit       { uint32 duration = 1 (seconds); uint64 data = 2 (bytes, per direction); }
//   enum Status { OK 100, RESERVATION_REFUSED 200, RESOURCE_LIMIT_EXCEEDED 201,
//                 PERMISSION_DENIED 202, CONNECTION_FAILED 203, NO_RESERVATION 204,
//                 MALFORMED_MESSAGE 400, UNEXPECTED_MESSAGE 401 }
// Each message is sent varint-length-prefixed, at most 4096 bytes (go-libp2p's limit).
// Decoding is strict about what we act on (types, status codes, PeerIDs, a uint32 duration) and
// skips unknown fields (py-libp2p adds a non-standard `senderRecord = 6` to HopMessage).
// A missing `type` reads as 0 (RESERVE / CONNECT), as proto3 peers that omit defaults mean it.
import ElastosCore

public enum CircuitRelay {
    public static let hopProtocolID = "/libp2p/circuit/relay/0.2.0/hop"
    public static let stopProtocolID = "/libp2p/circuit/relay/0.2.0/stop"
    /// The largest hop or stop message read or written.
    public static let maxMessageLength = 4096
    /// At most this many addresses are kept from a Peer or Reservation.
    public static let maxAddresses = 32
}

/// The outcome a relay (or a stop-stream target) reports.
public enum RelayStatus: UInt64, Sendable, Equatable, CaseIterable {
    case ok = 100
    case reservationRefused = 200
    case resourceLimitExceeded = 201
    case permissionDenied = 202
    case connectionFailed = 203
    case noReservation = 204
    case malformedMessage = 400
    case unexpectedMessage = 401
}

/// A peer in a hop or stop message: its PeerID and (optionally) addresses, kept as binary
/// multiaddrs because a peer may list protocols we do not know.
public struct RelayPeer: Sendable, Equatable {
    public var id: Libp2pPeerID
    public var addrs: [[UInt8]]

    public init(id: Libp2pPeerID, addrs: [[UInt8]] = []) {
        self.id = id
        self.addrs = addrs
    }

    public var bytes: [UInt8] {
        var w = ProtobufWriter()
        w.bytes(1, id.multihash.bytes)
        for a in addrs { w.bytes(2, a) }
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws(WireError) {
        var id: Libp2pPeerID?
        var addrs: [[UInt8]] = []
        for field in try ProtobufReader.fields(bytes) {
            switch field.number {
            case 1:
                guard let hash = try? Multihash(bytes: try field.bytes()) else { throw .relay("the peer id is not a multihash") }
                id = Libp2pPeerID(multihash: hash)
            case 2:
                let addr = try field.bytes()
                if addrs.count < CircuitRelay.maxAddresses { addrs.append(addr) }
            default: continue
            }
        }
        guard let id else { throw .missingField("Peer.id") }
        self.init(id: id, addrs: addrs)
    }
}

/// A reservation granted by a relay.
public struct RelayReservation: Sendable, Equatable {
    /// Unix time (seconds, UTC) when the reservation ends.
    public var expire: UInt64
    /// The relay's own addresses, through which the reserving peer can be reached.
    public var addrs: [[UInt8]]
    /// A signed reservation voucher (an envelope); carried, not required or checked.
    public var voucher: [UInt8]?

    public init(expire: UInt64, addrs: [[UInt8]] = [], voucher: [UInt8]? = nil) {
        self.expire = expire
        self.addrs = addrs
        self.voucher = voucher
    }

    public var bytes: [UInt8] {
        var w = ProtobufWriter()
        w.varint(1, expire)
        for a in addrs { w.bytes(2, a) }
        if let voucher { w.bytes(3, voucher) }
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws(WireError) {
        var expire: UInt64?
        var addrs: [[UInt8]] = []
        var voucher: [UInt8]?
        for field in try ProtobufReader.fields(bytes) {
            switch field.number {
            case 1: expire = try field.varint()
            case 2:
                let addr = try field.bytes()
                if addrs.count < CircuitRelay.maxAddresses { addrs.append(addr) }
            case 3: voucher = try field.bytes()
            default: continue
            }
        }
        guard let expire else { throw .missingField("Reservation.expire") }
        self.init(expire: expire, addrs: addrs, voucher: voucher)
    }
}

/// The limits a relay puts on one relayed connection; nil means unlimited.
public struct RelayLimit: Sendable, Equatable {
    /// Seconds the circuit may stay open.
    public var duration: UInt32?
    /// Bytes that may be relayed in each direction.
    public var data: UInt64?

    public init(duration: UInt32? = nil, data: UInt64? = nil) {
        self.duration = duration
        self.data = data
    }

    public var bytes: [UInt8] {
        var w = ProtobufWriter()
        if let duration { w.varint(1, UInt64(duration)) }
        if let data { w.varint(2, data) }
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws(WireError) {
        self.init()
        for field in try ProtobufReader.fields(bytes) {
            switch field.number {
            case 1:
                let v = try field.varint()
                guard let d = UInt32(exactly: v) else { throw .relay("limit duration \(v) does not fit uint32") }
                duration = d
            case 2: data = try field.varint()
            default: continue
            }
        }
    }
}

/// A message on `/libp2p/circuit/relay/0.2.0/hop` (client ↔ relay).
public struct HopMessage: Sendable, Equatable {
    public enum Kind: UInt64, Sendable, Equatable {
        case reserve = 0
        case connect = 1
        case status = 2
    }

    public var kind: Kind
    public var peer: RelayPeer?
    public var reservation: RelayReservation?
    public var limit: RelayLimit?
    public var status: RelayStatus?

    public init(kind: Kind, peer: RelayPeer? = nil, reservation: RelayReservation? = nil,
                limit: RelayLimit? = nil, status: RelayStatus? = nil) {
        self.kind = kind
        self.peer = peer
        self.reservation = reservation
        self.limit = limit
        self.status = status
    }

    public var bytes: [UInt8] {
        var w = ProtobufWriter()
        w.varint(1, kind.rawValue)
        if let peer { w.bytes(2, peer.bytes) }
        if let reservation { w.bytes(3, reservation.bytes) }
        if let limit { w.bytes(4, limit.bytes) }
        if let status { w.varint(5, status.rawValue) }
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws(WireError) {
        guard bytes.count <= CircuitRelay.maxMessageLength else {
            throw .frameTooLarge(length: bytes.count, limit: CircuitRelay.maxMessageLength)
        }
        self.init(kind: .reserve)
        for field in try ProtobufReader.fields(bytes) {
            switch field.number {
            case 1:
                let v = try field.varint()
                guard let k = Kind(rawValue: v) else { throw .relay("unknown hop message type \(v)") }
                kind = k
            case 2: peer = try RelayPeer(decoding: try field.bytes())
            case 3: reservation = try RelayReservation(decoding: try field.bytes())
            case 4: limit = try RelayLimit(decoding: try field.bytes())
            case 5: status = try RelayStatus(decoding: try field.varint())
            default: continue
            }
        }
    }
}

/// A message on `/libp2p/circuit/relay/0.2.0/stop` (relay ↔ the reserved target).
public struct StopMessage: Sendable, Equatable {
    public enum Kind: UInt64, Sendable, Equatable {
        case connect = 0
        case status = 1
    }

    public var kind: Kind
    public var peer: RelayPeer?
    public var limit: RelayLimit?
    public var status: RelayStatus?

    public init(kind: Kind, peer: RelayPeer? = nil, limit: RelayLimit? = nil, status: RelayStatus? = nil) {
        self.kind = kind
        self.peer = peer
        self.limit = limit
        self.status = status
    }

    public var bytes: [UInt8] {
        var w = ProtobufWriter()
        w.varint(1, kind.rawValue)
        if let peer { w.bytes(2, peer.bytes) }
        if let limit { w.bytes(3, limit.bytes) }
        if let status { w.varint(4, status.rawValue) }
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws(WireError) {
        guard bytes.count <= CircuitRelay.maxMessageLength else {
            throw .frameTooLarge(length: bytes.count, limit: CircuitRelay.maxMessageLength)
        }
        self.init(kind: .connect)
        for field in try ProtobufReader.fields(bytes) {
            switch field.number {
            case 1:
                let v = try field.varint()
                guard let k = Kind(rawValue: v) else { throw .relay("unknown stop message type \(v)") }
                kind = k
            case 2: peer = try RelayPeer(decoding: try field.bytes())
            case 3: limit = try RelayLimit(decoding: try field.bytes())
            case 4: status = try RelayStatus(decoding: try field.varint())
            default: continue
            }
        }
    }
}

extension RelayStatus {
    init(decoding value: UInt64) throws(WireError) {
        guard let s = RelayStatus(rawValue: value) else { throw .relay("unknown status code \(value)") }
        self = s
    }
}
