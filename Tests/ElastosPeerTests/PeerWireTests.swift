import PeerWire
import Testing

@Suite struct PeerWireTests {
    static let events: [PeerEvent] = [
        .message(from: "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo", id: [1, 2, 3], data: Array("hé".utf8), local: true),
        .message(from: "p", id: [], data: [], local: false),
        .peerConnected(peer: "12D3KooWabc"),
        .peerDisconnected(peer: "12D3KooWabc"),
        .lost(count: 42),
    ]
    static let me = PeerSelf(peer: "12D3KooWabc", did: "did:key:z6MkabcDEF", ticket: "elastosaaaa",
                             addresses: ["/ip4/127.0.0.1/tcp/4001", "/ip6/::1/tcp/4001"])
    static let list = PeerList([PeerEntry(peer: "a", address: "/ip4/1.2.3.4/tcp/5", outbound: true),
                                PeerEntry(peer: "b", address: "", outbound: false)])

    @Test func everyMessageRoundTrips() throws {
        for e in Self.events { #expect(try PeerEvent(decoding: e.encoded()) == e) }
        #expect(try PeerSelf(decoding: Self.me.encoded()) == Self.me)
        #expect(try PeerList(decoding: Self.list.encoded()) == Self.list)
        #expect(try PeerList(decoding: PeerList([]).encoded()) == PeerList([]))
        let p = PeerPublished(id: [9, 9], recipients: 3)
        #expect(try PeerPublished(decoding: p.encoded()) == p)
    }

    @Test func everyTruncationIsATypedError() {
        // Each message cut anywhere fails to decode as that message.
        let cases: [([UInt8], ([UInt8]) throws(PeerWireError) -> Void)] =
            Self.events.map { ($0.encoded(), { b throws(PeerWireError) in _ = try PeerEvent(decoding: b) }) } + [
                (Self.me.encoded(), { b throws(PeerWireError) in _ = try PeerSelf(decoding: b) }),
                (Self.list.encoded(), { b throws(PeerWireError) in _ = try PeerList(decoding: b) }),
                (PeerPublished(id: [1], recipients: 1).encoded(), { b throws(PeerWireError) in _ = try PeerPublished(decoding: b) }),
            ]
        for (bytes, decode) in cases {
            for n in 0..<bytes.count {
                #expect(throws: PeerWireError.self) { try decode(Array(bytes.prefix(n))) }
            }
        }
    }

    @Test func malformedBodiesNameWhatIsWrong() {
        #expect(throws: PeerWireError.unsupportedVersion(2)) { _ = try PeerEvent(decoding: [2, 2, 0, 1, 65]) }
        #expect(throws: PeerWireError.unknownEventKind(9)) { _ = try PeerEvent(decoding: [1, 9]) }
        #expect(throws: PeerWireError.trailingBytes(1)) { _ = try PeerEvent(decoding: PeerEvent.lost(count: 1).encoded() + [0]) }
        #expect(throws: PeerWireError.invalidUTF8(field: "peer")) { _ = try PeerEvent(decoding: [1, 2, 0, 2, 0xC3, 0x28]) }
        var badFlag = PeerEvent.message(from: "p", id: [], data: [], local: true).encoded()
        badFlag[badFlag.count - 1] = 2
        #expect(throws: PeerWireError.invalidFlag(field: "local", value: 2)) { _ = try PeerEvent(decoding: badFlag) }
        // A blob length past the body is refused before anything is allocated.
        #expect(throws: PeerWireError.truncated(field: "id")) { _ = try PeerEvent(decoding: [1, 1, 0, 1, 65, 0xFF, 0xFF, 0xFF, 0xFF]) }
        #expect(throws: PeerWireError.tooLong(field: "peers", length: 0xFFFF, limit: PeerWire.maxEntries)) { _ = try PeerList(decoding: [1, 0xFF, 0xFF]) }
        #expect(throws: PeerWireError.tooLong(field: "peer", length: 5000, limit: PeerWire.maxText)) {
            _ = try PeerEvent(decoding: [1, 2, UInt8(5000 >> 8), UInt8(5000 & 0xFF)] + [UInt8](repeating: 65, count: 5000))
        }
    }

    @Test func randomBytesNeverTrap() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let n = Int.random(in: 0..<48, using: &rng)
            var bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if !bytes.isEmpty && Bool.random(using: &rng) { bytes[0] = PeerWire.version }
            // Whatever decodes must encode back to exactly the input: one encoding per value.
            if let e = try? PeerEvent(decoding: bytes) { #expect(e.encoded() == bytes) }
            if let s = try? PeerSelf(decoding: bytes) { #expect(s.encoded() == bytes) }
            if let l = try? PeerList(decoding: bytes) { #expect(l.encoded() == bytes) }
            if let p = try? PeerPublished(decoding: bytes) { #expect(p.encoded() == bytes) }
        }
    }

    @Test func overlongTextIsCutAtACharacterBoundary() throws {
        let long = String(repeating: "é", count: 3000)  // 6000 bytes
        let decoded = try PeerEvent(decoding: PeerEvent.peerConnected(peer: long).encoded())
        guard case .peerConnected(let peer) = decoded else { Issue.record("wrong kind"); return }
        #expect(peer.utf8.count == PeerWire.maxText)
        #expect(peer.allSatisfy { $0 == "é" })
    }
}
