// A ticket: a short, copy-pasteable string that carries a node's PeerID and the addresses it can
// be dialled on (and the relay it can be reached through, if any), so that `--connect <ticket>`
// works without the DHT (docs/CARRIER.md, "Tickets").
//
//   ticket  = "elastos" ‖ base32lower-nopad(payload ‖ checksum)
//   payload = version:0x01 ‖ protobuf { 1: peer (PeerID multihash bytes), 2: address (binary
//             multiaddr, repeated, without /p2p), 3: relay (binary multiaddr of the relay, ending
//             in its /p2p/<relay id>) }
//   checksum = SHA-256(payload)[0..<4], so a mistyped or cut ticket is refused as such.
public import ElastosCore
import Crypto

public struct Ticket: Sendable, Equatable, CustomStringConvertible {
    public static let prefix = "elastos"
    public static let version: UInt8 = 1
    /// Longer text is refused before decoding (a ticket with a few addresses is ~150 characters).
    public static let maxLength = 2048
    public static let maxAddresses = 16

    public let peer: Libp2pPeerID
    /// Where the node listens, without `/p2p/…`.
    public let addresses: [Multiaddr]
    /// A relay it has a reservation on, with the relay's `/p2p/…`.
    public let relay: Multiaddr?

    public init(peer: Libp2pPeerID, addresses: [Multiaddr], relay: Multiaddr? = nil) {
        self.peer = peer
        self.addresses = Array(addresses.prefix(Self.maxAddresses))
        self.relay = relay
    }

    /// The addresses to dial, each ending in the ticket's `/p2p/<peer>` (so the remote must prove
    /// it is that peer), direct ones first, then the relayed one.
    public var dialAddresses: [Multiaddr] {
        var out = addresses.map { Multiaddr(components: $0.components.filter { if case .p2p = $0 { false } else { true } } + [.p2p(peer.multihash.bytes)]) }
        if let relay { out.append(Multiaddr(components: relay.components + [.p2pCircuit, .p2p(peer.multihash.bytes)])) }
        return out
    }

    public var description: String {
        var w = ProtobufWriter()
        w.bytes(1, peer.multihash.bytes)
        for a in addresses { w.bytes(2, a.bytes) }
        if let relay { w.bytes(3, relay.bytes) }
        let payload = [Self.version] + w.bytes
        return Self.prefix + Base32.encode(payload + Array(SHA256.hash(data: payload).prefix(4)))
    }

    public init(parsing text: String) throws(TicketError) {
        let trimmed = text.trimmingWhitespace
        guard trimmed.utf8.count <= Self.maxLength else { throw .tooLong(trimmed.utf8.count) }
        guard trimmed.hasPrefix(Self.prefix) else { throw .notATicket }
        let body = String(trimmed.dropFirst(Self.prefix.count)).lowercased()
        let raw: [UInt8]
        do { raw = try Base32.decode(body) } catch { throw .notBase32 }
        guard raw.count > 5 else { throw .truncated }
        let payload = Array(raw.dropLast(4))
        guard Array(SHA256.hash(data: payload).prefix(4)) == Array(raw.suffix(4)) else { throw .checksum }
        guard payload[0] == Self.version else { throw .unsupportedVersion(payload[0]) }
        var peer: Libp2pPeerID?
        var addresses: [Multiaddr] = []
        var relay: Multiaddr?
        var tooMany = false
        do throws(WireError) {
            for field in try ProtobufReader.fields(Array(payload.dropFirst())) {
                switch field.number {
                case 1:
                    guard let hash = try? Multihash(bytes: try field.bytes()) else { throw WireError.peerID("the ticket's peer is not a multihash") }
                    peer = Libp2pPeerID(multihash: hash)
                case 2:
                    guard addresses.count < Self.maxAddresses else { tooMany = true; break }
                    addresses.append(try Self.address(try field.bytes()))
                case 3: relay = try Self.address(try field.bytes())
                default: continue  // fields added later are skipped
                }
            }
        } catch {
            throw .malformed(error)
        }
        if tooMany { throw .tooManyAddresses }
        guard let peer else { throw .malformed(.missingField("peer")) }
        guard !addresses.isEmpty || relay != nil else { throw .noAddresses }
        if let relay, relay.peer == nil { throw .malformed(.peerID("the relay address must end in /p2p/<relay>")) }
        self.init(peer: peer, addresses: addresses, relay: relay)
    }

    private static func address(_ bytes: [UInt8]) throws(WireError) -> Multiaddr {
        do { return try Multiaddr(bytes: bytes) } catch { throw .multiaddr(error) }
    }
}

public enum TicketError: Error, Equatable, Sendable, CustomStringConvertible {
    case notATicket
    case tooLong(Int)
    case notBase32
    case truncated
    case checksum
    case unsupportedVersion(UInt8)
    case tooManyAddresses
    case noAddresses
    case malformed(WireError)

    public var description: String {
        switch self {
        case .notATicket: "not a ticket: tickets start with \"\(Ticket.prefix)\""
        case .tooLong(let n): "not a ticket: \(n) characters is longer than any ticket (\(Ticket.maxLength))"
        case .notBase32: "the ticket is not valid base32 (a-z, 2-7) after \"\(Ticket.prefix)\": was it cut or mistyped?"
        case .truncated: "the ticket is too short: was it cut?"
        case .checksum: "the ticket's checksum does not match: it was mistyped or cut"
        case .unsupportedVersion(let v): "the ticket is version \(v); this node reads version \(Ticket.version)"
        case .tooManyAddresses: "the ticket lists more than \(Ticket.maxAddresses) addresses"
        case .noAddresses: "the ticket has no address to dial"
        case .malformed(let e): "the ticket is malformed: \(e)"
        }
    }
}

extension String {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}
