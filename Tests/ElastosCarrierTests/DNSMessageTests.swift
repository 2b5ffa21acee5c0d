import CarrierWire
import ElastosCore
import Testing
@testable import ElastosCarrier

/// The DNS codec (CarrierWire/DNSMessage.swift) and libp2p's mDNS records on it.
@Suite struct DNSMessageTests {
    static let peer = Libp2pPeerID(PeerID(publicKey: SigningKey().publicKey))

    func name(_ text: String) -> DNSName { (try? DNSName(text)) ?? { preconditionFailure(text) }() }

    @Test func aQueryAndAResponseRoundTrip() throws {
        let query = MDNSPeerRecords.query()
        let bytes = query.encoded()
        // id 0, flags 0, one question; `_p2p._udp.local` PTR IN.
        #expect(Array(bytes.prefix(12)) == [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0])
        #expect(try DNSMessage(decoding: bytes) == query)
        #expect(MDNSPeerRecords.asksForPeers(try DNSMessage(decoding: bytes)))

        let address = try Multiaddr(parsing: "/ip4/192.168.1.7/tcp/4001/p2p/\(Self.peer)")
        let response = try MDNSPeerRecords.response(peerName: Array("abc123".utf8), addresses: [address])
        let decoded = try DNSMessage(decoding: response.encoded())
        #expect(decoded == response)
        #expect(decoded.isResponse && !MDNSPeerRecords.asksForPeers(decoded))
        let found = MDNSPeerRecords.peers(in: decoded)
        #expect(found.count == 1 && found.first?.peer == Self.peer && found.first?.addresses == [address])
        // The TXT string is exactly what the spec shows.
        let txt = decoded.additionals.compactMap { r -> [UInt8]? in if case .txt(let s) = r.data { s.first } else { nil } }
        #expect(txt == [Array("dnsaddr=\(address)".utf8)])
    }

    @Test func compressedNamesDecodeAndPointersMustGoBackwards() throws {
        // Header, then question `_p2p._udp.local` PTR, then an answer whose name is a pointer to
        // offset 12 and whose PTR data is `x` ‖ pointer to 12.
        var bytes: [UInt8] = [0, 0, 0x84, 0, 0, 1, 0, 1, 0, 0, 0, 0]
        bytes += [4] + Array("_p2p".utf8) + [4] + Array("_udp".utf8) + [5] + Array("local".utf8) + [0, 0, 12, 0, 1]
        bytes += [0xC0, 12, 0, 12, 0, 1, 0, 0, 0, 120, 0, 4, 1, 0x78, 0xC0, 12]
        let message = try DNSMessage(decoding: bytes)
        #expect(message.answers.first?.name.matches(name("_P2P._udp.LOCAL")) == true)
        #expect(message.answers.first?.data == .ptr(name("x._p2p._udp.local")))

        // A pointer to itself, and one that points forwards, are loops in waiting: refused.
        var selfLoop: [UInt8] = [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 12, 0, 1]
        #expect(throws: WireError.self) { try DNSMessage(decoding: selfLoop) }
        selfLoop[13] = 14
        #expect(throws: WireError.self) { try DNSMessage(decoding: selfLoop) }
        // Two pointers at each other (a at 12 → 14, b at 14 → 12).
        let pair: [UInt8] = [0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0xC0, 14, 0xC0, 12, 0, 12, 0, 1, 0, 12, 0, 1]
        #expect(throws: WireError.self) { try DNSMessage(decoding: pair) }
    }

    @Test func everyTruncationAndEachBrokenRuleIsATypedError() throws {
        let address = try Multiaddr(parsing: "/ip4/127.0.0.1/tcp/4001/p2p/\(Self.peer)")
        let bytes = try MDNSPeerRecords.response(peerName: MDNSPeerRecords.randomPeerName(), addresses: [address]).encoded()
        for cut in 0..<bytes.count {
            #expect(throws: WireError.self) { try DNSMessage(decoding: Array(bytes.prefix(cut))) }
        }
        #expect(throws: WireError.self) { try DNSMessage(decoding: bytes + [0]) }  // trailing byte
        let header: [UInt8] = [0, 0, 0, 0]
        // Counts no message of this size could hold.
        #expect(throws: WireError.self) { try DNSMessage(decoding: header + [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]) }
        // Label types 0b01 and 0b10.
        #expect(throws: WireError.self) { try DNSMessage(decoding: header + [0, 1, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 12, 0, 1]) }
        #expect(throws: WireError.self) { try DNSMessage(decoding: header + [0, 1, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 12, 0, 1]) }
        // A name over 255 bytes (five labels of 63).
        let long: [UInt8] = (0..<5).flatMap { _ -> [UInt8] in [63] + [UInt8](repeating: 0x61, count: 63) } + [0]
        #expect(throws: WireError.self) { try DNSMessage(decoding: header + [0, 1, 0, 0, 0, 0, 0, 0] + long + [0, 12, 0, 1]) }
        #expect(throws: WireError.self) { try DNSName(labels: [[UInt8](repeating: 0x61, count: 64)]) }
        // An A record of 3 bytes; a TXT string running past its data; a PTR that does not fill it.
        let record: ([UInt8], UInt16) -> [UInt8] = { rdata, type in
            header + [0, 0, 0, 1, 0, 0, 0, 0, 1, 0x61, 0, UInt8(type >> 8), UInt8(type & 0xFF), 0, 1, 0, 0, 0, 1, 0, UInt8(rdata.count)] + rdata
        }
        #expect(throws: WireError.self) { try DNSMessage(decoding: record([1, 2, 3], DNSRecordType.a)) }
        #expect(try DNSMessage(decoding: record([1, 2, 3, 4], DNSRecordType.a)).answers.first?.data == .a([1, 2, 3, 4]))
        #expect(throws: WireError.self) { try DNSMessage(decoding: record([5, 0x61], DNSRecordType.txt)) }
        #expect(throws: WireError.self) { try DNSMessage(decoding: record([1, 0x61, 0, 0], DNSRecordType.ptr)) }
        #expect(throws: WireError.self) { try DNSMessage(decoding: [UInt8](repeating: 0, count: DNSMessage.maxLength + 1)) }
    }

    @Test func peersAreReadOnlyFromTxtUnderTheServicesPointer() throws {
        let mine = try Multiaddr(parsing: "/ip4/10.0.0.2/tcp/1234/p2p/\(Self.peer)")
        let instance = name("peer1._p2p._udp.local")
        let stray = name("other._p2p._udp.local")
        let message = DNSMessage(
            flags: DNSMessage.responseFlag,
            answers: [DNSRecord(name: MDNSPeerRecords.serviceName, data: .ptr(instance), ttl: 120)],
            additionals: [
                // py-libp2p's numbered keys count; other keys, bad addresses and a record under a
                // name nothing points to do not.
                DNSRecord(name: instance, data: .txt([Array("dnsaddr2=\(mine)".utf8), Array("id=x".utf8), Array("dnsaddr=/ip4/1.2.3.4/tcp/1".utf8)]), ttl: 120),
                DNSRecord(name: stray, data: .txt([Array("dnsaddr=/ip4/9.9.9.9/tcp/9/p2p/\(Self.peer)".utf8)]), ttl: 120),
            ])
        let found = MDNSPeerRecords.peers(in: try DNSMessage(decoding: message.encoded()))
        #expect(found.map(\.peer) == [Self.peer] && found.first?.addresses == [mine])
        // A query carries no peers, even with records in it.
        var query = message
        query.flags = 0
        #expect(MDNSPeerRecords.peers(in: query).isEmpty)
    }

    @Test func randomBytesNeverTrapAndWhatDecodesReencodesToTheSameValues() {
        for size in 0..<600 {
            let bytes = (0..<(size % 97 + size / 8)).map { _ in UInt8.random(in: 0...255) }
            if let message = try? DNSMessage(decoding: bytes) {
                #expect((try? DNSMessage(decoding: message.encoded())) == message)
            }
        }
    }
}
