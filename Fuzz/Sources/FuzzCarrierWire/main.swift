// libFuzzer target: the libp2p wire decoders in CarrierWire — binary and text multiaddrs,
// protobuf fields, Noise handshake payloads, libp2p public keys and PeerIDs, identify messages,
// Yamux headers, varint length-prefixed framing, a multistream-select listener fed the input, and
// pubsub RPCs (GossipSub/floodsub: subscriptions, messages, IHAVE/IWANT/GRAFT/PRUNE).
//
// Properties (beyond "never traps or hangs"):
//  * Multiaddr(bytes: b) re-encodes to exactly b, and its text parses back to the same value;
//  * Multiaddr(parsing: s) formats to text that parses to the same value, and its binary form
//    decodes to it;
//  * a Yamux header that decodes re-encodes to the same 12 bytes (unknown flag bits aside);
//  * a decoded Noise payload or identify message re-encodes to bytes that decode to the same value;
//  * a multistream listener consumes only whole messages and never selects what it does not support;
//  * a pubsub RPC that decodes re-encodes to bytes that decode to the same value, and its messages'
//    signed bytes can always be computed; a stream of length-prefixed RPCs is split within the limit.
//  * a ticket that parses formats to text that parses to it;
//  * a Kademlia message that decodes re-encodes to bytes that decode to the same value, within the
//    list bounds; a signed DHT record that validates re-encodes to bytes that validate to it.

import CarrierWire
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCarrierWire(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = fuzzBytes(start, count)
    checkMultiaddr(input)
    checkYamux(input)
    checkMessages(input)
    checkFraming(input)
    checkPubsub(input)
    checkKad(input)
    checkTicket(input)
    return 0
}

func checkMultiaddr(_ input: [UInt8]) {
    if let addr = try? Multiaddr(bytes: input) {
        expect(addr.bytes == input, "multiaddr \(addr) re-encodes differently", input: input)
        expect((try? Multiaddr(parsing: addr.description)) == addr, "multiaddr text \(addr) does not parse back", input: input)
    }
    let text = lossyText(input)
    if let addr = try? Multiaddr(parsing: text) {
        expect((try? Multiaddr(parsing: addr.description)) == addr, "multiaddr \(text.debugDescription) reformats unstably", input: input)
        expect((try? Multiaddr(bytes: addr.bytes)) == addr, "multiaddr \(addr) binary does not decode back", input: input)
    }
    _ = try? Libp2pPeerID(parsing: text)
}

func checkYamux(_ input: [UInt8]) {
    guard let header = try? YamuxFrameHeader(decoding: input) else { return }
    var expected = Array(input.prefix(YamuxFrameHeader.size))
    expected[2] = 0
    expected[3] &= 0x0f
    expect(header.bytes == expected, "yamux header \(header) re-encodes differently", input: input)
}

func checkMessages(_ input: [UInt8]) {
    _ = try? ProtobufReader.fields(input)
    if let payload = try? NoiseHandshakePayload(decoding: input) {
        expect((try? NoiseHandshakePayload(decoding: payload.bytes)) == payload, "noise payload does not round-trip", input: input)
    }
    if let message = try? IdentifyMessage(decoding: input) {
        expect((try? IdentifyMessage(decoding: message.bytes)) == message, "identify message does not round-trip", input: input)
        _ = message.parsedListenAddrs
    }
    _ = try? Libp2pIdentityKey(protobuf: input)
    _ = try? Libp2pPublicKey.ed25519(from: input)
}

func checkFraming(_ input: [UInt8]) {
    var buffer = input
    while let message = try? LengthPrefixed.take(from: &buffer, limit: 4096) {
        expect(message.count <= 4096, "length-prefixed frame over its limit", input: input)
    }
    var negotiation = MultistreamNegotiation(role: .listener(supported: ["/noise"]))
    var stream = input
    _ = try? negotiation.receive(from: &stream)
    expect(negotiation.selected == nil || negotiation.selected == "/noise", "listener selected an unsupported protocol", input: input)
    expect(stream.count <= input.count, "multistream grew its buffer", input: input)
}

func checkPubsub(_ input: [UInt8]) {
    if let rpc = try? PubsubRPC(decoding: input) {
        expect((try? PubsubRPC(decoding: rpc.bytes)) == rpc, "pubsub RPC does not round-trip", input: input)
        for message in rpc.messages {
            _ = message.signedBytes
            _ = message.defaultID
        }
    }
    if let message = try? PubsubWireMessage(decoding: input) {
        expect((try? PubsubWireMessage(decoding: message.bytes)) == message, "pubsub message does not round-trip", input: input)
    }
    var stream = input
    while let frame = try? LengthPrefixed.take(from: &stream, limit: PubsubRPC.maxLength) {
        _ = try? PubsubRPC(decoding: frame)
    }
}

func checkKad(_ input: [UInt8]) {
    if let message = try? KadMessage(decoding: input) {
        expect((try? KadMessage(decoding: message.bytes)) == message, "kad message does not round-trip", input: input)
        expect(message.closerPeers.count <= KadMessage.maxPeersPerList && message.providerPeers.count <= KadMessage.maxPeersPerList,
               "kad message over its peer bound", input: input)
        for peer in message.closerPeers + message.providerPeers {
            expect(peer.addrs.count <= KadMessage.maxAddrsPerPeer, "kad peer over its address bound", input: input)
            _ = peer.peerID
            _ = peer.parsedAddrs
        }
        if let record = message.record, let signed = try? SignedDHTRecord(key: record.key, value: record.value, now: 0) {
            expect((try? SignedDHTRecord(key: record.key, value: signed.bytes, now: 0)) == signed, "signed record does not round-trip", input: input)
        }
    }
    _ = try? KadMessage.Peer(decoding: input)
    _ = try? KadMessage.Record(decoding: input)
    // The first bytes as a key, the rest as a record value.
    let split = input.isEmpty ? 0 : Int(input[0]) % (input.count + 1)
    _ = try? SignedDHTRecord(key: Array(input.prefix(split)), value: Array(input.dropFirst(split)), now: 0)
}

/// Tickets: the input as text after the prefix (and as is). An accepted ticket formats to text
/// that parses back to it, and it has a peer and at least one address.
func checkTicket(_ input: [UInt8]) {
    let text = String(decoding: input, as: UTF8.self)
    for candidate in [text, Ticket.prefix + text] {
        guard let ticket = try? Ticket(parsing: candidate) else { continue }
        expect((try? Ticket(parsing: ticket.description)) == ticket, "ticket does not round-trip", input: input)
        expect(!ticket.addresses.isEmpty || ticket.relay != nil, "ticket without an address", input: input)
        _ = ticket.dialAddresses
    }
}
