import CarrierWire
import ElastosCore
import Testing
@testable import ElastosCarrier

/// Swift DHT nodes over real TCP on loopback.
@Suite(.serialized) struct KadNetworkTests {
    static let loopback = try! Multiaddr(parsing: "/ip4/127.0.0.1/tcp/0")

    struct Member {
        let node: CarrierNode
        let dht: KademliaDHT
        let address: Multiaddr
        var peer: Libp2pPeerID { node.libp2pPeerID }
    }

    static func config(_ mode: KadConfig.Mode = .server, bucketSize: Int = 20) -> KadConfig {
        var config = KadConfig(mode: mode)
        config.bucketSize = bucketSize
        // Generous: under the whole suite's load (debug build, microVMs under TCG beside it) a
        // request that times out drops an honest peer from the table and the test fails for
        // the wrong reason. No test here waits out a timeout.
        config.requestTimeout = .seconds(15)
        config.refreshInterval = nil
        return config
    }

    static func member(_ config: KadConfig, listen: Bool = true) async throws -> Member {
        let node = CarrierNode(identity: SigningKey())
        let bound = listen ? try await node.start(listening: [loopback]) : []
        let dht = await node.startDHT(config)
        return Member(node: node, dht: dht, address: bound.first?.appending(peer: node.peerID) ?? loopback)
    }

    /// `count` servers; each after the first bootstraps from the one before it.
    static func network(_ count: Int, config: KadConfig) async throws -> [Member] {
        var members: [Member] = []
        for i in 0..<count {
            let m = try await member(config)
            if i > 0 { try await m.dht.bootstrap([members[i - 1].address]) }
            members.append(m)
        }
        return members
    }

    static func stop(_ members: [Member]) async {
        for m in members { await m.node.stop() }
    }

    @Test func aLookupFindsAPeerItWasNeverConnectedTo() async throws {
        // A small k keeps each lookup to a few hops, so most of the 16 nodes stay strangers to the
        // searcher.
        let servers = try await Self.network(16, config: Self.config(bucketSize: 3))
        let searcher = try await Self.member(Self.config(.client, bucketSize: 3), listen: false)
        try await searcher.dht.bootstrap([servers[0].address])
        var strangers: [Member] = []
        for s in servers where await !searcher.node.isConnected(to: s.peer) { strangers.append(s) }
        let target = try #require(strangers.last, "the searcher's bootstrap connected it to every node")
        let clock = ContinuousClock()
        let start = clock.now
        let found = try await searcher.dht.findPeer(target.peer)
        print("kad: 16 servers, k = 3: the searcher knew \(16 - strangers.count); findPeer of a stranger took \(clock.now - start)")
        #expect(found.peer == target.peer)
        #expect(found.addrs.contains(target.address.withoutPeerID))
        // The addresses work: dialling them reaches the target, which proves its identity in Noise.
        let full = Multiaddr(components: try #require(found.addrs.first).components + [.p2p(target.peer.multihash.bytes)])
        #expect(try await searcher.node.dial(full) == target.peer)
        // A client never enters anyone's table: it does not serve the protocol.
        for s in servers { #expect(await s.dht.routingTable.entry(for: searcher.peer) == nil) }
        #expect(!searcher.node.protocols.contains(KadMessage.protocolID))
        #expect(servers[0].node.protocols.contains(KadMessage.protocolID))
        await Self.stop(servers + [searcher])
    }

    @Test func providersAreFoundAcrossTheNetworkAndExpire() async throws {
        var config = Self.config(bucketSize: 4)
        config.providerTTL = .seconds(2)
        let servers = try await Self.network(10, config: config)
        let key = Array("elastos-test-room".utf8)
        let took = try await servers[2].dht.provide(key: key)
        #expect(took >= 1)
        let seeker = try await Self.member(Self.config(.client, bucketSize: 4), listen: false)
        try await seeker.dht.bootstrap([servers[9].address])
        let providers = try await seeker.dht.findProviders(key: key)
        #expect(providers.map(\.peer) == [servers[2].peer])
        #expect(providers.first?.addrs == [servers[2].address.withoutPeerID])
        // After the TTL nobody holds the record any more.
        try await Task.sleep(for: .milliseconds(2500))
        for s in servers { #expect(await s.dht.storedProviders(for: key).isEmpty) }
        let late = try await Self.member(Self.config(.client, bucketSize: 4), listen: false)
        try await late.dht.bootstrap([servers[5].address])
        #expect(try await late.dht.findProviders(key: key).isEmpty)
        await Self.stop(servers + [seeker, late])
    }

    /// A node that answers every DHT request with `record` under the requested key.
    static func lyingServer(answering record: @escaping @Sendable ([UInt8]) -> [UInt8]) async throws -> (CarrierNode, Multiaddr) {
        let node = CarrierNode(identity: SigningKey())
        node.handle(KadMessage.protocolID) { stream in
            while let bytes = try? await stream.readLengthPrefixed(limit: KadMessage.maxLength), let request = try? KadMessage(decoding: bytes) {
                let answer = KadMessage(type: request.type, key: request.key, record: KadMessage.Record(key: request.key, value: record(request.key)))
                try? await stream.writeLengthPrefixed(answer.bytes)
            }
            try? await stream.closeWrite()
        }
        let bound = try await node.start(listening: [loopback])
        return (node, try #require(bound.first).appending(peer: node.peerID))
    }

    @Test func forgedAndStaleValueRecordsLoseToTheSignedNewestOne() async throws {
        let servers = try await Self.network(4, config: Self.config())
        let publisherKey = SigningKey()
        let publisher = CarrierNode(identity: publisherKey)
        let publisherDHT = await publisher.startDHT(Self.config(.client))
        try await publisherDHT.bootstrap([servers[0].address])
        let (record, stored) = try await publisherDHT.putValue(name: "rendezvous", value: Array("v2".utf8), sequence: 2)
        #expect(stored == 4)

        // A forger signs a higher sequence with its own key; a replayer has a genuine but older record.
        let forger = SigningKey()
        let forged = try SignedDHTRecord(name: "rendezvous", value: Array("evil".utf8), sequence: 99, expiresAt: KademliaDHT.unixNow() + 600, signingKey: forger)
        var forgedFields = try ProtobufReader.fields(forged.bytes)
        forgedFields.removeAll { $0.number == 1 }
        var w = ProtobufWriter()
        w.bytes(1, PeerID(publicKey: publisherKey.publicKey).publicKeyProtobuf)  // claims the publisher's key
        for f in forgedFields { if case .bytes(let b) = f.value { w.bytes(f.number, b) } else if case .varint(let v) = f.value { w.varint(f.number, v) } }
        let forgedBytes = w.bytes
        let stale = try SignedDHTRecord(name: "rendezvous", value: Array("v1".utf8), sequence: 1, expiresAt: KademliaDHT.unixNow() + 600, signingKey: publisherKey)
        let (liar, liarAddress) = try await Self.lyingServer { _ in forgedBytes }
        let (replayer, replayerAddress) = try await Self.lyingServer { _ in stale.bytes }

        // A server refuses the forged record outright.
        let put = KadMessage(type: .putValue, key: Array(record.key.utf8), record: KadMessage.Record(key: Array(record.key.utf8), value: forgedBytes))
        let prober = CarrierNode(identity: SigningKey())
        try await prober.dial(servers[1].address)
        let stream = try await prober.openStream(to: servers[1].peer, protocol: KadMessage.protocolID)
        try await stream.writeLengthPrefixed(put.bytes)
        await #expect(throws: CarrierError.self) { try await stream.readLengthPrefixed(limit: KadMessage.maxLength) }
        #expect(await servers[1].dht.storedValue(for: record.key)?.sequence == 2)
        #expect(await servers[1].dht.rejectedRecords == 1)
        // A record outside /elastos/ is refused too.
        let foreign = KadMessage(type: .putValue, key: Array("/ipns/x".utf8), record: KadMessage.Record(key: Array("/ipns/x".utf8), value: [1]))
        let second = try await prober.openStream(to: servers[1].peer, protocol: KadMessage.protocolID)
        try await second.writeLengthPrefixed(foreign.bytes)
        await #expect(throws: CarrierError.self) { try await second.readLengthPrefixed(limit: KadMessage.maxLength) }

        // A reader whose table holds the liars as well as honest servers gets the genuine newest.
        let reader = CarrierNode(identity: SigningKey())
        var readerConfig = Self.config(.client)
        readerConfig.valueQuorum = 100  // ask every peer, the liars included
        let readerDHT = await reader.startDHT(readerConfig)
        try await readerDHT.bootstrap([liarAddress, replayerAddress, servers[3].address])
        let got = try await readerDHT.getValue(key: record.key)
        #expect(got.value == Array("v2".utf8))
        #expect(got.sequence == 2)
        #expect(await readerDHT.rejectedRecords == 1)  // the forger's; the replayer's record is genuine
        // Keys outside our namespace are not even looked up.
        await #expect(throws: KadError.self) { try await readerDHT.getValue(key: "/pk/abc") }
        await Self.stop(servers)
        for n in [publisher, liar, replayer, prober, reader] { await n.stop() }
    }

    @Test func refreshLearnsPeersThatJoinedAfterBootstrap() async throws {
        let seed = try await Self.member(Self.config())
        var config = Self.config(.client)
        config.refreshInterval = .milliseconds(300)
        let watcher = try await Self.member(config, listen: false)
        #expect(try await watcher.dht.bootstrap([seed.address]) == 1)
        var later: [Member] = []
        for _ in 0..<4 {
            let m = try await Self.member(Self.config())
            try await m.dht.bootstrap([seed.address])
            later.append(m)
        }
        // Only the refresh lookups can tell the watcher about the newcomers.
        let deadline = ContinuousClock.now + .seconds(10)
        while await watcher.dht.routingTableSize < 5, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(await watcher.dht.routingTableSize == 5)
        await Self.stop([seed, watcher] + later)
    }

    @Test func ourProviderRecordsAreRepublishedBeforeTheyExpire() async throws {
        var serverConfig = Self.config()
        serverConfig.providerTTL = .milliseconds(1500)
        let servers = try await Self.network(3, config: serverConfig)
        var config = Self.config(.client)
        config.refreshInterval = .milliseconds(200)
        config.republishInterval = .milliseconds(500)
        let provider = try await Self.member(config)
        try await provider.dht.bootstrap([servers[0].address])
        let key = Array("long-lived-room".utf8)
        #expect(try await provider.dht.provide(key: key) == 3)
        // Three TTLs later the servers still hold it, because it was announced again.
        try await Task.sleep(for: .milliseconds(4500))
        for s in servers { #expect(await s.dht.storedProviders(for: key) == [provider.peer]) }
        await Self.stop(servers + [provider])
    }

    @Test func bootstrapFailsClearlyWithoutADHTPeer() async throws {
        let plain = CarrierNode(identity: SigningKey())
        let bound = try await plain.start(listening: [Self.loopback])
        let client = try await Self.member(Self.config(.client), listen: false)
        await #expect(throws: KadError.self) { try await client.dht.bootstrap([try #require(bound.first).appending(peer: plain.peerID)]) }
        // The plain peer did not enter the table, so there is nobody to ask.
        #expect(await client.dht.routingTableSize == 0)
        await #expect(throws: KadError.self) { try await client.dht.findPeer(Libp2pPeerID(PeerID(publicKey: SigningKey().publicKey))) }
        await plain.stop()
        await client.node.stop()
    }
}
