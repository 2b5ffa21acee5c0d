// The bodies of `elastos://peer/…` calls and events (docs/PEER.md). Like the capsule protocol
// itself, no dependencies beyond CapsuleWire and no Foundation, so the very same code builds as
// Embedded Swift for WASM capsules, as ordinary Swift for native ones, and in the runtime.
//
//   text   = u16 length ‖ UTF-8 bytes (at most 4096 bytes)
//   blob   = u32 length ‖ bytes       (bounded by the body)
//
// Every decoder is strict: a wrong version, a truncated field, invalid UTF-8, a count past what
// the body holds or trailing bytes are a typed ``PeerWireError``, never a trap.

import CapsuleWire

/// Why a peer-provider body did not decode.
public enum PeerWireError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(field: String)
    case invalidUTF8(field: String)
    case tooLong(field: String, length: Int, limit: Int)
    case unknownEventKind(UInt8)
    case invalidFlag(field: String, value: UInt8)
    case unsupportedVersion(UInt8)
    case trailingBytes(Int)

    public var description: String {
        switch self {
        case .truncated(let f): "peer message ends inside '\(f)'"
        case .invalidUTF8(let f): "peer message field '\(f)' is not valid UTF-8"
        case .tooLong(let f, let n, let limit): "peer message field '\(f)' is \(n) bytes; the limit is \(limit)"
        case .unknownEventKind(let k): "peer event kind \(k) is not one this version knows"
        case .invalidFlag(let f, let v): "peer message flag '\(f)' is \(v); it must be 0 or 1"
        case .unsupportedVersion(let v): "peer message version \(v) is not supported (this side speaks \(PeerWire.version))"
        case .trailingBytes(let n): "peer message has \(n) bytes after its end"
        }
    }
}

public enum PeerWire {
    /// The first byte of every body.
    public static let version: UInt8 = 1
    public static let maxText = 4096
    /// At most this many entries in a list (peers, addresses).
    public static let maxEntries = 1024
}

/// `read elastos://peer/self`: who this node is on the network and how others reach it.
public struct PeerSelf: Equatable, Sendable {
    /// The libp2p PeerID (base58btc multihash), the node key's.
    public var peer: String
    /// The same key as a did:key.
    public var did: String
    /// A ticket (`elastos…`) carrying the PeerID and the addresses.
    public var ticket: String
    public var addresses: [String]

    public init(peer: String, did: String, ticket: String, addresses: [String]) {
        self.peer = peer; self.did = did; self.ticket = ticket; self.addresses = addresses
    }

    public func encoded() -> [UInt8] {
        var w = PeerWriter()
        w.text(peer); w.text(did); w.text(ticket); w.texts(addresses)
        return w.bytes
    }

    public init(decoding body: [UInt8]) throws(PeerWireError) {
        var r = try PeerReader(body)
        peer = try r.text("peer"); did = try r.text("did"); ticket = try r.text("ticket"); addresses = try r.texts("addresses")
        try r.end()
    }
}

/// One connected peer (`read elastos://peer/peers`, `execute elastos://peer/connect`, topic peers).
public struct PeerEntry: Equatable, Sendable {
    public var peer: String
    /// The address of the connection ("" when not known).
    public var address: String
    /// Whether this node dialled it.
    public var outbound: Bool

    public init(peer: String, address: String, outbound: Bool) { self.peer = peer; self.address = address; self.outbound = outbound }
}

/// A list of peers: the reply to `read elastos://peer/peers` and `read elastos://peer/topic/<t>`,
/// and (one entry) to `execute elastos://peer/connect`.
public struct PeerList: Equatable, Sendable {
    public var peers: [PeerEntry]

    public init(_ peers: [PeerEntry]) { self.peers = peers }

    public func encoded() -> [UInt8] {
        var w = PeerWriter()
        w.u16(UInt16(min(peers.count, PeerWire.maxEntries)))
        for p in peers.prefix(PeerWire.maxEntries) { w.text(p.peer); w.text(p.address); w.u8(p.outbound ? 1 : 0) }
        return w.bytes
    }

    public init(decoding body: [UInt8]) throws(PeerWireError) {
        var r = try PeerReader(body)
        let n = Int(try r.u16("count"))
        guard n <= PeerWire.maxEntries else { throw .tooLong(field: "peers", length: n, limit: PeerWire.maxEntries) }
        var out: [PeerEntry] = []
        for _ in 0..<n {
            let peer = try r.text("peer"), address = try r.text("address")
            let flag = try r.u8("outbound")
            guard flag <= 1 else { throw .invalidFlag(field: "outbound", value: flag) }
            out.append(PeerEntry(peer: peer, address: address, outbound: flag == 1))
        }
        try r.end()
        peers = out
    }
}

/// What the runtime pushes for a subscription to `elastos://peer/topic/<t>` (messages) or
/// `elastos://peer/peers` (peers coming and going).
public enum PeerEvent: Equatable, Sendable {
    /// A message on the topic, its signature already checked by the runtime. `from` is its
    /// author's PeerID; `local` is true when this node published it (another capsule here, or
    /// the subscriber itself).
    case message(from: String, id: [UInt8], data: [UInt8], local: Bool)
    case peerConnected(peer: String)
    case peerDisconnected(peer: String)
    /// `count` events could not be pushed (the capsule was not reading fast enough) and are lost.
    case lost(count: UInt32)

    enum Kind: UInt8 { case message = 1, peerConnected = 2, peerDisconnected = 3, lost = 4 }

    public func encoded() -> [UInt8] {
        var w = PeerWriter()
        switch self {
        case .message(let from, let id, let data, let local):
            w.u8(Kind.message.rawValue); w.text(from); w.blob(id); w.blob(data); w.u8(local ? 1 : 0)
        case .peerConnected(let peer): w.u8(Kind.peerConnected.rawValue); w.text(peer)
        case .peerDisconnected(let peer): w.u8(Kind.peerDisconnected.rawValue); w.text(peer)
        case .lost(let count): w.u8(Kind.lost.rawValue); w.u32(count)
        }
        return w.bytes
    }

    public init(decoding body: [UInt8]) throws(PeerWireError) {
        var r = try PeerReader(body)
        let k = try r.u8("kind")
        switch Kind(rawValue: k) {
        case .message?:
            let from = try r.text("from"), id = try r.blob("id"), data = try r.blob("data")
            let local = try r.u8("local")
            guard local <= 1 else { throw .invalidFlag(field: "local", value: local) }
            self = .message(from: from, id: id, data: data, local: local == 1)
        case .peerConnected?: self = .peerConnected(peer: try r.text("peer"))
        case .peerDisconnected?: self = .peerDisconnected(peer: try r.text("peer"))
        case .lost?: self = .lost(count: try r.u32("count"))
        case nil: throw .unknownEventKind(k)
        }
        try r.end()
    }
}

/// The reply to `write elastos://peer/topic/<t>` (publish): the message's ID and how many peers
/// it was sent to directly (0: nobody else is on the topic yet, it stayed on this node).
public struct PeerPublished: Equatable, Sendable {
    public var id: [UInt8]
    public var recipients: UInt32

    public init(id: [UInt8], recipients: UInt32) { self.id = id; self.recipients = recipients }

    public func encoded() -> [UInt8] {
        var w = PeerWriter()
        w.blob(id); w.u32(recipients)
        return w.bytes
    }

    public init(decoding body: [UInt8]) throws(PeerWireError) {
        var r = try PeerReader(body)
        id = try r.blob("id"); recipients = try r.u32("recipients")
        try r.end()
    }
}

// MARK: Coding

struct PeerWriter {
    private var w = ByteWriter()
    init() { w.u8(PeerWire.version) }
    var bytes: [UInt8] { w.bytes }
    mutating func u8(_ v: UInt8) { w.u8(v) }
    mutating func u16(_ v: UInt16) { w.u16(v) }
    mutating func u32(_ v: UInt32) { w.u32(v) }
    /// Text over the limit is cut at a character boundary, never sent half-formed.
    mutating func text(_ s: String) {
        var b = Array(s.utf8)
        if b.count > PeerWire.maxText {
            var end = PeerWire.maxText
            while end > 0 && b[end] & 0xC0 == 0x80 { end -= 1 }
            b = Array(b[0..<end])
        }
        w.lengthPrefixed(b)
    }
    mutating func texts(_ list: [String]) {
        w.u16(UInt16(min(list.count, PeerWire.maxEntries)))
        for s in list.prefix(PeerWire.maxEntries) { text(s) }
    }
    mutating func blob(_ b: [UInt8]) { w.u32(UInt32(truncatingIfNeeded: b.count)); w.raw(b) }
}

struct PeerReader {
    private var r: ByteReader

    init(_ body: [UInt8]) throws(PeerWireError) {
        r = ByteReader(body)
        let v: UInt8
        do { v = try r.u8() } catch { throw .truncated(field: "version") }
        guard v == PeerWire.version else { throw .unsupportedVersion(v) }
    }

    mutating func u8(_ field: String) throws(PeerWireError) -> UInt8 {
        do { return try r.u8() } catch { throw .truncated(field: field) }
    }
    mutating func u16(_ field: String) throws(PeerWireError) -> UInt16 {
        do { return try r.u16() } catch { throw .truncated(field: field) }
    }
    mutating func u32(_ field: String) throws(PeerWireError) -> UInt32 {
        do { return try r.u32() } catch { throw .truncated(field: field) }
    }
    mutating func text(_ field: String) throws(PeerWireError) -> String {
        let n = Int(try u16(field))
        guard n <= PeerWire.maxText else { throw .tooLong(field: field, length: n, limit: PeerWire.maxText) }
        let b: [UInt8]
        do { b = try r.take(n) } catch { throw .truncated(field: field) }
        guard let s = String(validating: b, as: UTF8.self) else { throw .invalidUTF8(field: field) }
        return s
    }
    mutating func texts(_ field: String) throws(PeerWireError) -> [String] {
        let n = Int(try u16(field))
        guard n <= PeerWire.maxEntries else { throw .tooLong(field: field, length: n, limit: PeerWire.maxEntries) }
        var out: [String] = []
        for _ in 0..<n { out.append(try text(field)) }
        return out
    }
    mutating func blob(_ field: String) throws(PeerWireError) -> [UInt8] {
        let n = Int(try u32(field))
        guard n <= r.remaining else { throw .truncated(field: field) }
        do { return try r.take(n) } catch { throw .truncated(field: field) }
    }
    func end() throws(PeerWireError) {
        guard r.isAtEnd else { throw .trailingBytes(r.remaining) }
    }
}
