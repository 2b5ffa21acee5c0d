import CarrierWire
import ElastosCore
import Foundation
import Testing
@testable import ElastosCarrier

/// The Kademlia messages, our signed value records, and the pure parts of the DHT (keyspace,
/// routing table, stores), on bytes in memory.
@Suite struct KadWireTests {
    static func hex(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            out.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return out
    }

    @Test func decodesPyLibp2pBytesAndSkipsItsExtraFields() throws {
        // Serialized by py-libp2p 0.8.1's own kademlia_pb2: GET_PROVIDERS, a provider peer with an
        // address, CONNECTED and a signedRecord (field 4), a closer peer, and senderRecord (field 11).
        let vector = Self.hex("080312221220000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f42050a030001074a170a04000201021208047f000001060fa11801220378797a5a027372")
        let message = try KadMessage(decoding: vector)
        #expect(message.type == .getProviders)
        #expect(message.key == [0x12, 0x20] + Array(0..<32))
        #expect(message.closerPeers == [KadMessage.Peer(id: [0x00, 0x01, 0x07])])
        #expect(message.providerPeers.count == 1)
        #expect(message.providerPeers[0].connection == .connected)
        #expect(message.providerPeers[0].parsedAddrs.map(\.description) == ["/ip4/127.0.0.1/tcp/4001"])
        #expect(try KadMessage(decoding: message.bytes) == message)

        // PUT_VALUE as py writes it: proto3 leaves the type (0) out.
        let put = try KadMessage(decoding: Self.hex("120a2f656c6173746f732f6b1a250a0a2f656c6173746f732f6b1201762a14323032362d31322d30315430303a30303a30305a"))
        #expect(put.type == .putValue)
        #expect(put.record == KadMessage.Record(key: Array("/elastos/k".utf8), value: [0x76], timeReceived: "2026-12-01T00:00:00Z"))
    }

    @Test func refusesWhatBreaksTheFormat() {
        #expect(throws: WireError.kad("unknown message type 9")) { try KadMessage(decoding: [0x08, 0x09]) }
        #expect(throws: WireError.unexpectedWireType(field: 2)) { try KadMessage(decoding: [0x10, 0x01]) }
        var tooMany = ProtobufWriter()
        for _ in 0...KadMessage.maxPeersPerList { tooMany.bytes(8, KadMessage.Peer(id: [0, 1, 7]).bytes) }
        #expect(throws: WireError.kad("more than \(KadMessage.maxPeersPerList) closer peers")) { try KadMessage(decoding: tooMany.bytes) }
        let huge = [UInt8](repeating: 0, count: KadMessage.maxLength + 1)
        #expect(throws: WireError.frameTooLarge(length: huge.count, limit: KadMessage.maxLength)) { try KadMessage(decoding: huge) }
    }

    @Test func randomBytesNeverTrapTheKadDecoders() {
        var generator = SystemRandomNumberGenerator()
        let key = Array("/elastos/x/y".utf8)
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 0...96, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if let message = try? KadMessage(decoding: bytes) { #expect((try? KadMessage(decoding: message.bytes)) == message) }
            _ = try? KadMessage.Peer(decoding: bytes)
            _ = try? KadMessage.Record(decoding: bytes)
            _ = try? SignedDHTRecord(key: key, value: bytes, now: 0)
            _ = try? SignedDHTRecord(key: bytes, value: bytes, now: 0)
        }
    }

    @Test func signedRecordsVerifyAndForgeriesDoNot() throws {
        let publisher = SigningKey()
        let record = try SignedDHTRecord(name: "chat/room", value: Array("hello".utf8), sequence: 7, expiresAt: 2_000, signingKey: publisher)
        let key = Array(record.key.utf8)
        #expect(record.key == "/elastos/\(PeerID(publicKey: publisher.publicKey))/chat/room")
        #expect(try SignedDHTRecord(key: key, value: record.bytes, now: 1_000) == record)
        // Expired.
        #expect(throws: WireError.self) { try SignedDHTRecord(key: key, value: record.bytes, now: 2_000) }
        // A changed value under the original signature.
        var w = ProtobufWriter()
        w.bytes(1, PeerID(publicKey: publisher.publicKey).publicKeyProtobuf)
        w.bytes(2, Array("HELLO".utf8))
        w.varint(3, 7)
        w.varint(4, 2_000)
        w.bytes(5, record.signature)
        #expect(throws: WireError.kad("record for \(record.key) has a bad signature")) { try SignedDHTRecord(key: key, value: w.bytes, now: 1_000) }
        // Someone else signing for the publisher's key.
        let forger = SigningKey()
        let forged = try SignedDHTRecord(name: "chat/room", value: [1], sequence: 99, expiresAt: 2_000, signingKey: forger)
        #expect(throws: WireError.self) { try SignedDHTRecord(key: key, value: forged.bytes, now: 1_000) }
        // Other namespaces.
        #expect(throws: WireError.self) { try SignedDHTRecord(key: Array("/pk/abc".utf8), value: record.bytes, now: 1_000) }
        #expect(!SignedDHTRecord.isInNamespace(Array("/ipns/x".utf8)))
        // Newer sequence wins; a tie goes to the later expiry.
        let newer = try SignedDHTRecord(name: "chat/room", value: [2], sequence: 8, expiresAt: 1_500, signingKey: publisher)
        let longer = try SignedDHTRecord(name: "chat/room", value: [3], sequence: 7, expiresAt: 3_000, signingKey: publisher)
        #expect(newer.supersedes(record) && !record.supersedes(newer))
        #expect(longer.supersedes(record) && !record.supersedes(longer))
        #expect(throws: WireError.self) { try SignedDHTRecord(name: "", value: [], sequence: 0, expiresAt: 1, signingKey: publisher) }
        #expect(throws: WireError.self) {
            try SignedDHTRecord(name: "big", value: [UInt8](repeating: 0, count: SignedDHTRecord.maxValueLength + 1), sequence: 0, expiresAt: 1, signingKey: publisher)
        }
    }

    @Test func xorDistanceAndCommonPrefix() throws {
        let zero = try #require(KadKey(raw: [UInt8](repeating: 0, count: 32)))
        var raw = [UInt8](repeating: 0, count: 32)
        raw[0] = 0x10
        let a = try #require(KadKey(raw: raw))
        raw[0] = 0x01
        let b = try #require(KadKey(raw: raw))
        #expect(zero.commonPrefixLength(with: a) == 3)
        #expect(zero.commonPrefixLength(with: b) == 7)
        #expect(zero.commonPrefixLength(with: zero) == 256)
        #expect(b.distance(to: zero) < a.distance(to: zero))
        #expect(a.distance(to: b) == b.distance(to: a))
        #expect(a.distance(to: b).bytes[0] == 0x11)
        // The keyspace position is SHA-256 of the key bytes.
        #expect(KadKey(hashing: Array("abc".utf8)).bytes.prefix(4) == [0xba, 0x78, 0x16, 0xbf])
    }

    static func randomPeer() -> Libp2pPeerID { Libp2pPeerID(PeerID(publicKey: SigningKey().publicKey)) }

    @Test func routingTableBucketsFillToKAndRefuseNewcomers() throws {
        let local = Self.randomPeer()
        var table = RoutingTable(local: local, bucketSize: 4)
        #expect(table.insert(local, addrs: []) == .isSelf)
        // Half of all random keys fall in bucket 0 (first bit differs), so 40 peers overfill it.
        var outcomes: [Int: [RoutingTable.Insertion]] = [:]
        var peers: [Libp2pPeerID] = []
        for _ in 0..<40 {
            let peer = Self.randomPeer()
            peers.append(peer)
            let bucket = try #require(table.bucketIndex(for: KadKey(peer: peer)))
            outcomes[bucket, default: []].append(table.insert(peer, addrs: [try Multiaddr(parsing: "/ip4/127.0.0.1/tcp/1")]))
        }
        for (bucket, results) in outcomes {
            #expect(results.prefix(4).allSatisfy { $0 == .added }, "bucket \(bucket)")
            #expect(results.dropFirst(4).allSatisfy { $0 == .bucketFull }, "bucket \(bucket)")
            #expect(table.bucketSizes[bucket] == min(4, results.count))
        }
        #expect(table.count == outcomes.values.reduce(0) { $0 + min(4, $1.count) })
        // Re-inserting a member updates it; removing one makes room for a newcomer.
        let member = try #require(table.allEntries.first)
        #expect(table.insert(member.peer, addrs: []) == .updated)
        #expect(table.entry(for: member.peer)?.addrs.count == 1)
        let bucket = try #require(table.bucketIndex(for: member.key))
        let refused = try #require(peers.first { table.bucketIndex(for: KadKey(peer: $0)) == bucket && table.entry(for: $0) == nil })
        table.remove(member.peer)
        #expect(table.insert(refused, addrs: []) == .added)
        // closest() is sorted by XOR distance to the target.
        let target = KadKey(peer: Self.randomPeer())
        let closest = table.closest(to: target, count: 5)
        #expect(closest.count == 5)
        #expect(closest.map { $0.key.distance(to: target) } == closest.map { $0.key.distance(to: target) }.sorted())
        let all = table.closest(to: target, count: 1000)
        #expect(all.count == table.count)
        #expect(closest.map(\.peer) == all.prefix(5).map(\.peer))
    }

    @Test func providerStoreExpiresAndStaysBounded() throws {
        var store = ProviderStore(ttl: .seconds(10), maxKeys: 3, maxProvidersPerKey: 2)
        let start = ContinuousClock.now
        let (a, b, c) = (Self.randomPeer(), Self.randomPeer(), Self.randomPeer())
        store.add(key: [1], peer: a, addrs: [], now: start)
        store.add(key: [1], peer: b, addrs: [], now: start + .seconds(1))
        store.add(key: [1], peer: c, addrs: [], now: start + .seconds(2))  // evicts a, the soonest to expire
        #expect(Set(store.providers(for: [1], now: start + .seconds(2)).map(\.peer)) == [b, c])
        #expect(store.providers(for: [1], now: start + .seconds(11.5)).map(\.peer) == [c])
        #expect(store.providers(for: [1], now: start + .seconds(13)).isEmpty)
        for key in 2...6 { store.add(key: [UInt8(key)], peer: a, addrs: [], now: start + .seconds(3)) }
        #expect(store.keyCount <= 3)
    }

    @Test func valueStoreKeepsTheBestRecord() throws {
        let publisher = SigningKey()
        var store = ValueStore(maxRecords: 2)
        let old = try SignedDHTRecord(name: "n", value: [1], sequence: 1, expiresAt: 100, signingKey: publisher)
        let new = try SignedDHTRecord(name: "n", value: [2], sequence: 2, expiresAt: 100, signingKey: publisher)
        #expect(store.put(new, now: 0) == .stored)
        #expect(store.put(old, now: 0) == .keptExisting)
        #expect(store.get(new.key, now: 0)?.value == [2])
        #expect(store.get(new.key, now: 100) == nil)
        #expect(store.put(try SignedDHTRecord(name: "m", value: [], sequence: 0, expiresAt: 100, signingKey: publisher), now: 0) == .stored)
        #expect(store.put(try SignedDHTRecord(name: "o", value: [], sequence: 0, expiresAt: 100, signingKey: publisher), now: 0) == .full)
    }
}
