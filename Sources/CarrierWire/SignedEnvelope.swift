// Signed envelopes and the records they carry.
//   RFC 0002 https://github.com/libp2p/specs/blob/master/RFC/0002-signed-envelopes.md
//     message Envelope { PublicKey public_key = 1; bytes payload_type = 2; bytes payload = 3;
//                        bytes signature = 5; }
//     signature over  uvarint(len(domain)) ‖ domain ‖ uvarint(len(type)) ‖ type ‖ uvarint(len(payload)) ‖ payload
//   RFC 0003 https://github.com/libp2p/specs/blob/master/RFC/0003-routing-records.md
//     message PeerRecord { message AddressInfo { bytes multiaddr = 1; }
//                          bytes peer_id = 1; uint64 seq = 2; repeated AddressInfo addresses = 3; }
//     domain "libp2p-peer-record", payload type 0x03 0x01 (the multicodec's code as two raw
//     bytes, as go-libp2p and py-libp2p write it — not its varint)
//   Circuit Relay v2 https://github.com/libp2p/specs/blob/master/relay/circuit-v2.md#reservation-vouchers
//     message Voucher { bytes relay = 1; bytes peer = 2; uint64 expiration = 3; }
//     domain "libp2p-relay-rsvp", payload type 0x03 0x02
// Decoding here checks structure only; the signature is checked where the key types are known
// (ElastosCarrier's SignedRecords), never skipped.
import ElastosCore

public struct SignedEnvelope: Equatable, Sendable {
    /// Envelopes travel inside identify (8 KiB) and relay messages (4 KiB): nothing legitimate
    /// comes near this.
    public static let maxLength = 8 * 1024

    /// The signer's libp2p `PublicKey` protobuf.
    public var publicKey: [UInt8]
    public var payloadType: [UInt8]
    public var payload: [UInt8]
    public var signature: [UInt8]

    public init(publicKey: [UInt8], payloadType: [UInt8], payload: [UInt8], signature: [UInt8]) {
        self.publicKey = publicKey
        self.payloadType = payloadType
        self.payload = payload
        self.signature = signature
    }

    /// The bytes the signature covers for `domain`.
    public static func signedBytes(domain: String, payloadType: [UInt8], payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(domain.utf8.count + payloadType.count + payload.count + 12)
        for part in [Array(domain.utf8), payloadType, payload] {
            UVarint.append(UInt64(part.count), to: &out)
            out += part
        }
        return out
    }

    public var bytes: [UInt8] {
        var w = ProtobufWriter()
        w.bytes(1, publicKey)
        w.bytes(2, payloadType)
        w.bytes(3, payload)
        w.bytes(5, signature)
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws(WireError) {
        guard bytes.count <= Self.maxLength else { throw .frameTooLarge(length: bytes.count, limit: Self.maxLength) }
        var publicKey: [UInt8]?, payloadType: [UInt8]?, payload: [UInt8]?, signature: [UInt8]?
        for field in try ProtobufReader.fields(bytes) {
            switch field.number {
            case 1: publicKey = try field.bytes()
            case 2: payloadType = try field.bytes()
            case 3: payload = try field.bytes()
            case 5: signature = try field.bytes()
            default: continue
            }
        }
        guard let publicKey, !publicKey.isEmpty else { throw .missingField("Envelope.public_key") }
        guard let payloadType, !payloadType.isEmpty else { throw .missingField("Envelope.payload_type") }
        guard let signature, !signature.isEmpty else { throw .missingField("Envelope.signature") }
        self.init(publicKey: publicKey, payloadType: payloadType, payload: payload ?? [], signature: signature)
    }
}

/// A peer's own list of its addresses (RFC 0003), signed by the peer in a ``SignedEnvelope``.
public struct PeerRecord: Equatable, Sendable {
    public static let domain = "libp2p-peer-record"
    public static let payloadType: [UInt8] = [0x03, 0x01]
    /// More addresses than any honest node has; a longer list is refused.
    public static let maxAddresses = 256

    public var peer: Libp2pPeerID
    /// Higher is newer; go and py use the time in nanoseconds, and so do we.
    public var seq: UInt64
    /// Binary multiaddrs, kept raw: a peer may list protocols we don't know.
    public var addresses: [[UInt8]]

    public init(peer: Libp2pPeerID, seq: UInt64, addresses: [[UInt8]]) {
        self.peer = peer
        self.seq = seq
        self.addresses = addresses
    }

    /// The addresses that parse as multiaddrs we understand.
    public var parsedAddresses: [Multiaddr] { addresses.compactMap { try? Multiaddr(bytes: $0) } }

    public var bytes: [UInt8] {
        var w = ProtobufWriter()
        w.bytes(1, peer.multihash.bytes)
        w.varint(2, seq)
        for address in addresses {
            var info = ProtobufWriter()
            info.bytes(1, address)
            w.bytes(3, info.bytes)
        }
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws(WireError) {
        var peerBytes: [UInt8]?, seq: UInt64 = 0, addresses: [[UInt8]] = []
        for field in try ProtobufReader.fields(bytes) {
            switch field.number {
            case 1: peerBytes = try field.bytes()
            case 2: seq = try field.varint()
            case 3:
                guard addresses.count < Self.maxAddresses else { throw .envelope("peer record lists more than \(Self.maxAddresses) addresses") }
                var address: [UInt8]?
                for inner in try ProtobufReader.fields(try field.bytes()) where inner.number == 1 { address = try inner.bytes() }
                guard let address else { throw .missingField("PeerRecord.AddressInfo.multiaddr") }
                addresses.append(address)
            default: continue
            }
        }
        guard let peerBytes, let multihash = try? Multihash(bytes: peerBytes) else { throw .missingField("PeerRecord.peer_id") }
        self.init(peer: Libp2pPeerID(multihash: multihash), seq: seq, addresses: addresses)
    }
}

/// A relay's promise that it holds a reservation for `peer` until `expiration` (unix seconds),
/// signed by the relay in a ``SignedEnvelope`` and returned in the reservation.
public struct ReservationVoucher: Equatable, Sendable {
    public static let domain = "libp2p-relay-rsvp"
    public static let payloadType: [UInt8] = [0x03, 0x02]

    public var relay: Libp2pPeerID
    public var peer: Libp2pPeerID
    public var expiration: UInt64

    public init(relay: Libp2pPeerID, peer: Libp2pPeerID, expiration: UInt64) {
        self.relay = relay
        self.peer = peer
        self.expiration = expiration
    }

    public var bytes: [UInt8] {
        var w = ProtobufWriter()
        w.bytes(1, relay.multihash.bytes)
        w.bytes(2, peer.multihash.bytes)
        w.varint(3, expiration)
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws(WireError) {
        var relayBytes: [UInt8]?, peerBytes: [UInt8]?, expiration: UInt64?
        for field in try ProtobufReader.fields(bytes) {
            switch field.number {
            case 1: relayBytes = try field.bytes()
            case 2: peerBytes = try field.bytes()
            case 3: expiration = try field.varint()
            default: continue
            }
        }
        guard let relayBytes, let relay = try? Multihash(bytes: relayBytes) else { throw .missingField("Voucher.relay") }
        guard let peerBytes, let peer = try? Multihash(bytes: peerBytes) else { throw .missingField("Voucher.peer") }
        guard let expiration else { throw .missingField("Voucher.expiration") }
        self.init(relay: Libp2pPeerID(multihash: relay), peer: Libp2pPeerID(multihash: peer), expiration: expiration)
    }
}
