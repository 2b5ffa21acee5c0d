// A libp2p peer: listens and dials over TCP, upgrades connections with Noise and Yamux, answers
// identify and ping, and hands streams for registered protocols to their handlers.
public import ElastosCore
public import CarrierWire
import Crypto
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Handles one inbound stream for a registered protocol.
public typealias StreamHandler = @Sendable (CarrierStream) async -> Void

/// Told when the first connection to a peer is established (`true`) and when the last one closes (`false`).
public typealias ConnectionObserver = @Sendable (_ peer: Libp2pPeerID, _ connected: Bool) -> Void
/// Told about a peer once its identify message has arrived.
public typealias IdentifyObserver = @Sendable (PeerInfo) async -> Void

public actor CarrierNode {
    public static let agentVersion = "elastos-carrier/0.1.0"
    public static let protocolVersion = "ipfs/0.1.0"

    public nonisolated let peerID: PeerID
    /// ``peerID`` in the form used for remote peers.
    public nonisolated let libp2pPeerID: Libp2pPeerID
    let identity: SigningKey
    /// How each connection's Yamux session checks an idle peer (nil: never).
    public nonisolated let keepAlive: YamuxKeepAlive?
    /// What inbound connections may hold (ConnectionLimits.swift).
    public nonisolated var limits: ConnectionLimits { admission.limits }
    private nonisolated let admission: InboundAdmission
    private let group: MultiThreadedEventLoopGroup
    private var servers: [any Channel] = []
    private var connections: [ObjectIdentifier: CarrierConnection] = [:]
    private nonisolated let handlers = NIOLockedValueBox<[String: StreamHandler]>([:])
    private nonisolated let listenAddrsBox = NIOLockedValueBox<[Multiaddr]>([])
    /// Circuit addresses (`<relay>/p2p-circuit`) of the relays we hold reservations on.
    private nonisolated let relayAddrsBox = NIOLockedValueBox<[Multiaddr]>([])
    /// Our signed peer record, resealed when the addresses it lists change.
    private nonisolated let peerRecordBox = NIOLockedValueBox<(addrs: [Multiaddr], seq: UInt64, bytes: [UInt8])?>(nil)
    private nonisolated let peerRecordsRejectedBox = NIOLockedValueBox(0)
    private nonisolated let identifyPushesBox = NIOLockedValueBox(0)
    private var identifyPushPending = false
    /// Peers the connection manager leaves alone, with who asked (relays we reserve on, …).
    private var protectedPeers: [Libp2pPeerID: Set<String>] = [:]
    private var trimming = false
    private var trimRecheckScheduled = false
    private nonisolated let trimmedBox = NIOLockedValueBox(0)
    private nonisolated let connectionObservers = NIOLockedValueBox<[ConnectionObserver]>([])
    private nonisolated let identifyObservers = NIOLockedValueBox<[IdentifyObserver]>([])
    private nonisolated let dhtBox = NIOLockedValueBox<KademliaDHT?>(nil)
    private nonisolated let loopGate = LoopGate()
    private var stopped = false
    /// The pumps of relayed connections (RelayedTransport), waited for in stop().
    private var relayPumps: [ObjectIdentifier: (task: Task<Void, Never>, channel: any Channel)] = [:]

    /// A node with this identity; call ``start(listening:)`` to accept connections.
    public init(identity: SigningKey, threads: Int = 1, keepAlive: YamuxKeepAlive? = .standard, limits: ConnectionLimits = .standard) {
        self.identity = identity
        self.keepAlive = keepAlive
        admission = InboundAdmission(limits: limits)
        peerID = PeerID(publicKey: identity.publicKey)
        libp2pPeerID = Libp2pPeerID(peerID)
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        handlers.withLockedValue { table in
            table[PingService.protocolID] = { stream in await PingService.serve(stream) }
            // Both handled in serve(), which has the connection (its address is the observed one).
            table[IdentifyMessage.protocolID] = { _ in }
            table[IdentifyMessage.pushProtocolID] = { _ in }
        }
    }

    /// The addresses this node listens on (with their actual ports).
    public nonisolated var listenAddrs: [Multiaddr] { listenAddrsBox.withLockedValue { $0 } }

    /// The listen addresses as others can dial them (in identify, DHT records and mDNS): an
    /// unspecified address (0.0.0.0 or ::) stands for each of the machine's addresses of that
    /// family (IPv6 link-local left out: it needs a zone).
    /// The circuit addresses of our relay reservations come last.
    public nonisolated var advertisedAddrs: [Multiaddr] { directAdvertisedAddrs + relayAddrsBox.withLockedValue { $0 } }

    /// ``advertisedAddrs`` without the relayed ones (what mDNS and DCUtR offer).
    public nonisolated var directAdvertisedAddrs: [Multiaddr] {
        let listening = listenAddrs
        guard listening.contains(where: { $0.components.first.map(Self.isUnspecified) ?? false }) else { return listening }
        let devices = (try? System.enumerateDevices()) ?? []
        var out: [Multiaddr] = []
        for address in listening {
            guard let first = address.components.first, Self.isUnspecified(first) else { out.append(address); continue }
            let rest = Array(address.components.dropFirst())
            for device in devices {
                switch (first, device.address) {
                case (.ip4, .v4(let a)?):
                    out.append(Multiaddr(components: [.ip4(withUnsafeBytes(of: a.address.sin_addr) { Array($0) })] + rest))
                case (.ip6, .v6(let a)?):
                    let b = withUnsafeBytes(of: a.address.sin6_addr) { Array($0) }
                    if b[0] == 0xfe && b[1] & 0xc0 == 0x80 { continue }
                    out.append(Multiaddr(components: [.ip6(b)] + rest))
                default: continue
                }
            }
        }
        var seen = Set<String>()
        return out.filter { seen.insert($0.description).inserted }
    }

    private static func isUnspecified(_ component: MultiaddrComponent) -> Bool {
        switch component {
        case .ip4(let b), .ip6(let b): b.allSatisfy { $0 == 0 }
        default: false
        }
    }

    /// Starts listening on each `/ip4|ip6/…/tcp/…` address (port 0 picks a free port).
    @discardableResult
    public func start(listening addresses: [Multiaddr]) async throws(CarrierError) -> [Multiaddr] {
        var bound: [Multiaddr] = []
        for address in addresses {
            guard let (host, port) = address.tcpEndpoint else { throw .invalidAddress("cannot listen on \(address): need /ip4|ip6/…/tcp/…") }
            let identity = self.identity
            let bootstrap = ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { [weak self] channel in
                    guard let self else { return channel.eventLoop.makeSucceededVoidFuture() }
                    // Over a limit: closed at once, before any handshake work.
                    guard let handshakeEnded = self.admission.admit(channel) else { return channel.eventLoop.makeFailedFuture(InboundRefused()) }
                    return self.setUp(channel: channel, role: .responder, identity: identity, expectedPeer: nil, handshakeEnded: handshakeEnded)
                }
            do {
                let server = try await bootstrap.bind(host: host, port: Int(port)).get()
                servers.append(server)
                if let addr = Multiaddr(socketAddress: server.localAddress) { bound.append(addr) }
            } catch {
                throw .dialFailed(address: address.description, reason: "cannot listen: \(error)")
            }
        }
        listenAddrsBox.withLockedValue { $0 += bound }
        identifyChanged()
        return bound
    }

    /// Registers `handler` for inbound streams that negotiate `protocolID`. Connected peers
    /// are told of a new protocol by identify push.
    public nonisolated func handle(_ protocolID: String, _ handler: @escaping StreamHandler) {
        let isNew = handlers.withLockedValue { table in
            defer { table[protocolID] = handler }
            return table[protocolID] == nil
        }
        if isNew { Task { await self.identifyChanged() } }
    }

    /// Adds `address` (`…/p2p/<relay>/p2p-circuit`) to what we advertise, while a reservation
    /// on that relay holds; connected peers are told by identify push.
    public func advertiseRelayAddress(_ address: Multiaddr) {
        let added = relayAddrsBox.withLockedValue { list in
            guard !list.contains(address) else { return false }
            list.append(address)
            return true
        }
        if added { identifyChanged() }
    }

    /// Stops advertising a relay address (its reservation ended).
    public func withdrawRelayAddress(_ address: Multiaddr) {
        let removed = relayAddrsBox.withLockedValue { list in
            let before = list.count
            list.removeAll { $0 == address }
            return list.count != before
        }
        if removed { identifyChanged() }
    }

    /// Signed peer records from peers that failed to open (bad signature, wrong signer,
    /// malformed) and were ignored.
    public nonisolated var peerRecordsRejected: Int { peerRecordsRejectedBox.withLockedValue { $0 } }

    /// Keeps the connection manager from closing connections to `peer` until every `tag`
    /// given for it is unprotected.
    public func protect(_ peer: Libp2pPeerID, tag: String) { protectedPeers[peer, default: []].insert(tag) }

    public func unprotect(_ peer: Libp2pPeerID, tag: String) {
        protectedPeers[peer]?.remove(tag)
        if protectedPeers[peer]?.isEmpty == true { protectedPeers[peer] = nil }
    }

    public func isProtected(_ peer: Libp2pPeerID) -> Bool { protectedPeers[peer] != nil }

    /// Connections the connection manager has closed.
    public nonisolated var connectionsTrimmed: Int { trimmedBox.withLockedValue { $0 } }

    /// Over ``ConnectionLimits/highWater`` connections: closes unprotected ones past their
    /// grace period, fewest open streams first (then the oldest), down to the low-water mark.
    /// If too few are past their grace, looks again once the grace has run.
    func trimConnections() async {
        guard !trimming, !stopped, connections.count > limits.highWater else { return }
        trimming = true
        defer { trimming = false }
        let now = ContinuousClock.now
        var candidates: [(connection: CarrierConnection, streams: Int)] = []
        for connection in connections.values where protectedPeers[connection.peer] == nil && now - connection.openedAt >= limits.gracePeriod {
            candidates.append((connection, await connection.streamCount()))
        }
        candidates.sort { a, b in a.streams != b.streams ? a.streams < b.streams : a.connection.openedAt < b.connection.openedAt }
        let excess = connections.count - limits.lowWater
        for (connection, _) in candidates.prefix(max(0, excess)) {
            connection.close()
            connections.removeValue(forKey: ObjectIdentifier(connection))
            if !isConnected(connection.peer) { notifyObservers(connection.peer, connected: false) }
            trimmedBox.withLockedValue { $0 += 1 }
        }
        if connections.count > limits.highWater, !trimRecheckScheduled {
            trimRecheckScheduled = true
            let grace = limits.gracePeriod
            Task {
                try? await Task.sleep(for: grace)
                await self.recheckTrim()
            }
        }
    }

    private func recheckTrim() async {
        trimRecheckScheduled = false
        await trimConnections()
    }

    /// Inbound connections closed because they were over a limit (``limits``).
    public nonisolated var connectionsRefused: Int { admission.refused }

    /// Identify pushes this node has sent.
    public nonisolated var identifyPushesSent: Int { identifyPushesBox.withLockedValue { $0 } }

    /// Calls `observer` each time a peer's identify message arrives: on each new connection and
    /// on each identify push.
    public nonisolated func onIdentify(_ observer: @escaping IdentifyObserver) {
        identifyObservers.withLockedValue { $0.append(observer) }
    }

    /// The Kademlia DHT, once ``startDHT(_:)`` has run.
    public nonisolated var dht: KademliaDHT? { dhtBox.withLockedValue { $0 } }

    nonisolated func attach(_ dht: KademliaDHT) { dhtBox.withLockedValue { $0 = dht } }

    /// Whether a connection to `peer` is open.
    public func isConnected(to peer: Libp2pPeerID) -> Bool { connections.values.contains { $0.peer == peer } }

    /// The protocols this node answers.
    public nonisolated var protocols: [String] { handlers.withLockedValue { Array($0.keys).sorted() } }

    /// Connects to `address` (`/ip4|ip6|dns/…/tcp/…[/p2p/<peer>]`); with `/p2p/`, the remote must
    /// prove that identity. Returns the remote's PeerID.
    @discardableResult
    public func dial(_ address: Multiaddr) async throws(CarrierError) -> Libp2pPeerID {
        // Work still in flight when the node stops (a DHT request) must not reach the closed loops.
        guard !stopped else { throw .notStarted }
        if address.components.contains(.p2pCircuit) { return try await dialThroughRelay(address) }
        guard let (host, port) = address.tcpEndpoint else {
            throw .invalidAddress("cannot dial \(address): need /ip4|ip6|dns/…/tcp/…[/p2p/…] or …/p2p/<relay>/p2p-circuit/p2p/<peer>")
        }
        let expected = address.peer
        let expectedPeer = expected
        if let expected, let existing = connections.values.first(where: { $0.peer == expected && !$0.info.isRelayed }) { return existing.peer }
        let identity = self.identity
        let established = NIOLockedValueBox<EventLoopFuture<CarrierConnection>?>(nil)
        let bootstrap = ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { [weak self] channel in
                guard let self else { return channel.eventLoop.makeSucceededVoidFuture() }
                return self.setUp(channel: channel, role: .initiator, identity: identity, expectedPeer: expectedPeer, established: established)
            }
        do {
            _ = try await bootstrap.connect(host: host, port: Int(port)).get()
        } catch {
            throw .dialFailed(address: address.description, reason: "\(error)")
        }
        return try await upgraded(established, dialling: address)
    }

    /// Opens a stream to a connected peer for `protocolID`.
    public func openStream(to peer: Libp2pPeerID, protocol protocolID: String) async throws(CarrierError) -> CarrierStream {
        guard let connection = bestConnection(to: peer) else { throw .notConnected(peer) }
        return try await connection.openStream(protocolID)
    }

    /// Opens a stream to a connected peer for the first of `protocolIDs` (best first) it accepts;
    /// the stream's `protocolID` says which.
    public func openStream(to peer: Libp2pPeerID, proposing protocolIDs: [String]) async throws(CarrierError) -> CarrierStream {
        guard let connection = bestConnection(to: peer) else { throw .notConnected(peer) }
        return try await connection.openStream(proposing: protocolIDs)
    }

    /// A direct connection to `peer` if there is one, else a relayed one.
    private func bestConnection(to peer: Libp2pPeerID) -> CarrierConnection? {
        let all = connections.values.filter { $0.peer == peer }
        return all.first { !$0.info.isRelayed } ?? all.first
    }

    /// Whether a connection to `peer` that does not go through a relay is open.
    public func isDirectlyConnected(_ peer: Libp2pPeerID) -> Bool {
        connections.values.contains { $0.peer == peer && !$0.info.isRelayed }
    }

    /// Closes the relayed connections to `peer` when a direct one is open (DCUtR's last step);
    /// streams still on them end. Returns how many were closed.
    @discardableResult
    public func closeRelayedConnections(to peer: Libp2pPeerID) -> Int {
        guard isDirectlyConnected(peer) else { return 0 }
        let relayed = connections.values.filter { $0.peer == peer && $0.info.isRelayed }
        for connection in relayed { connection.close() }
        return relayed.count
    }

    /// Whether at least one connection to `peer` is open.
    public func isConnected(_ peer: Libp2pPeerID) -> Bool { connections.values.contains { $0.peer == peer } }

    /// Calls `observer` whenever a peer becomes connected or disconnected (services such as
    /// pubsub open their own streams on connect). It runs on the node's executor: keep it short.
    public nonisolated func observeConnections(_ observer: @escaping ConnectionObserver) {
        connectionObservers.withLockedValue { $0.append(observer) }
    }

    /// Signs `message` with the node key (Ed25519, no domain prefix); for protocols whose
    /// signatures carry their own context string, such as pubsub's `"libp2p-pubsub:"`.
    nonisolated func signWithNodeKey(_ message: [UInt8]) -> [UInt8] { identity.signRaw(message) }

    /// Pings a connected peer with `/ipfs/ping/1.0.0`: `count` round trips on one stream.
    public func ping(_ peer: Libp2pPeerID, count: Int = 1) async throws(CarrierError) -> [Duration] {
        let stream = try await openStream(to: peer, protocol: PingService.protocolID)
        return try await PingService.ping(stream, count: count)
    }

    /// A Yamux-level ping (the muxer's keep-alive) to a connected peer.
    public func muxerPing(_ peer: Libp2pPeerID) async throws(CarrierError) -> Duration {
        guard let connection = bestConnection(to: peer) else { throw .notConnected(peer) }
        return try await connection.muxerPing()
    }

    /// Bytes received but not yet read by handlers, over all connections (for tests and stats).
    func bufferedBytes() async -> Int {
        var total = 0
        for connection in connections.values {
            let session = connection.session
            total += (try? await session.eventLoop.submit { session.value.bufferedBytes }.get()) ?? 0
        }
        return total
    }

    /// How far Yamux auto-tuning has grown receive windows beyond the initial 256 KiB, over all
    /// connections (for tests and stats).
    func receiveWindowGrowth() async -> Int {
        var total = 0
        for connection in connections.values {
            let session = connection.session
            total += (try? await session.eventLoop.submit { session.value.windowGrowth }.get()) ?? 0
        }
        return total
    }

    /// The peers connected now, with what identify told us.
    public func peers() -> [PeerInfo] { connections.values.map(\.info) }

    /// Waits until identify from `peer` has arrived (or `timeout` passes).
    public func waitForIdentify(_ peer: Libp2pPeerID, timeout: Duration = .seconds(5)) async -> PeerInfo? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let info = connections.values.first(where: { $0.peer == peer })?.info, info.agentVersion != nil { return info }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// Closes every connection and listener.
    public func stop() async {
        guard !stopped else { return }
        stopped = true
        if let dht = dhtBox.withLockedValue({ $0 }) { await dht.stop() }
        dhtBox.withLockedValue { $0 = nil }
        for connection in connections.values { connection.close() }
        for server in servers { try? await server.close() }
        connections = [:]
        // Relayed connections' pumps run on our loops: end them before the loops go away.
        let pumps = relayPumps.values
        relayPumps = [:]
        for pump in pumps { pump.channel.close(promise: nil) }
        for pump in pumps { await pump.task.value }
        // Closed connections fail their streams' pending work on the loops; from here on no
        // new work reaches them, so shutting them down strands no promise.
        loopGate.close()
        try? await group.shutdownGracefully()
    }

    // MARK: Connections

    /// Runs the ordinary connection upgrade (Noise, Yamux) over `stream` — a relayed circuit —
    /// and registers the result as a connection to the remote, whose address is `remoteAddress`.
    /// The initiator is the side that dialled the circuit; the listener answered the stop stream.
    ///
    /// The connection machinery is a NIO channel pipeline, so the stream is bridged into one
    /// through a local socket pair (`RelayedTransport`): the Noise and Yamux code is the same as
    /// for TCP, at the cost of one extra copy per chunk.
    func attachRelayedConnection(
        over stream: CarrierStream, role: NoiseHandshake.Role, expectedPeer: Libp2pPeerID?, remoteAddress: Multiaddr
    ) async throws(CarrierError) -> Libp2pPeerID {
        guard !stopped else { stream.reset(); throw .notStarted }
        let identity = self.identity
        let established = NIOLockedValueBox<EventLoopFuture<CarrierConnection>?>(nil)
        do {
            let (pump, channel) = try await RelayedTransport.bridge(stream, group: group) { [weak self] channel in
                guard let self else { return channel.eventLoop.makeSucceededVoidFuture() }
                return self.setUp(channel: channel, role: role, identity: identity, expectedPeer: expectedPeer,
                                  established: established, remoteAddress: remoteAddress)
            }
            let key = ObjectIdentifier(channel)
            relayPumps[key] = (pump, channel)
            channel.closeFuture.whenComplete { [weak self] _ in
                guard let self else { return }
                Task { await self.pumpClosed(key) }
            }
        } catch {
            stream.reset()
            throw .dialFailed(address: remoteAddress.description, reason: "cannot bridge the relayed stream: \(error)")
        }
        return try await upgraded(established, dialling: remoteAddress)
    }

    /// Waits for the upgrade (Noise, Yamux) a dial started on a channel and records the
    /// connection: the same for TCP and for a relayed stream.
    private func upgraded(_ established: NIOLockedValueBox<EventLoopFuture<CarrierConnection>?>,
                          dialling address: Multiaddr) async throws(CarrierError) -> Libp2pPeerID {
        guard let future = established.withLockedValue({ $0 }) else { throw .dialFailed(address: address.description, reason: "no handler") }
        do {
            let connection = try await future.get()
            added(connection)
            return connection.peer
        } catch let error as ConnectionError {
            throw .connection(error)
        } catch {
            throw .dialFailed(address: address.description, reason: "\(error)")
        }
    }

    private func pumpClosed(_ key: ObjectIdentifier) { relayPumps[key] = nil }

    private nonisolated func setUp(
        channel: any Channel, role: NoiseHandshake.Role, identity: SigningKey, expectedPeer: Libp2pPeerID?,
        established: NIOLockedValueBox<EventLoopFuture<CarrierConnection>?>? = nil, remoteAddress: Multiaddr? = nil,
        handshakeEnded: (@Sendable () -> Void)? = nil
    ) -> EventLoopFuture<Void> {
        let promise = channel.eventLoop.makePromise(of: ConnectionHandler.Established.self)
        if let handshakeEnded { promise.futureResult.whenComplete { _ in handshakeEnded() } }
        let connectionBox = NIOLockedValueBox<CarrierConnection?>(nil)
        let handler = ConnectionHandler(role: role, identity: identity, expectedPeer: expectedPeer, keepAlive: keepAlive,
                                        established: promise) {
            [weak self] stream in
            guard let self, let connection = connectionBox.withLockedValue({ $0 }) else { return stream.reset() }
            var gated = stream
            gated.gate = self.loopGate
            Task { await self.serve(gated, on: connection) }
        }
        let gate = loopGate
        let connection = promise.futureResult.map { result in
            let info = PeerInfo(peer: result.remotePeer, remoteAddress: remoteAddress ?? Multiaddr(socketAddress: channel.remoteAddress), isOutbound: role == .initiator)
            let connection = CarrierConnection(channel: channel, session: result.session, info: info, gate: gate)
            connectionBox.withLockedValue { $0 = connection }
            return connection
        }
        if let established {
            // The dialer registers the connection itself before dial() returns.
            established.withLockedValue { $0 = connection }
        } else {
            connection.whenSuccess { [weak self] connection in
                guard let self else { return }
                Task { await self.added(connection) }
            }
        }
        do {
            try channel.pipeline.syncOperations.addHandler(handler)
            return channel.eventLoop.makeSucceededVoidFuture()
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
    }

    private func added(_ connection: CarrierConnection) {
        guard !stopped else { return connection.close() }
        let key = ObjectIdentifier(connection)
        guard connections[key] == nil else { return }
        if !connection.info.isOutbound,
           connections.values.count(where: { $0.peer == connection.peer && !$0.info.isOutbound }) >= limits.maxInboundPerPeer {
            admission.countRefusal()
            return connection.close()
        }
        let isFirst = !isConnected(connection.peer)
        connections[key] = connection
        if isFirst { notifyObservers(connection.peer, connected: true) }
        if connections.count > limits.highWater { Task { await self.trimConnections() } }
        connection.channel.closeFuture.whenComplete { [weak self] _ in
            guard let self else { return }
            Task { await self.removed(key) }
        }
        Task { await self.identify(connection) }
    }

    private func removed(_ key: ObjectIdentifier) {
        guard let connection = connections.removeValue(forKey: key) else { return }
        if !isConnected(connection.peer) { notifyObservers(connection.peer, connected: false) }
    }

    private func notifyObservers(_ peer: Libp2pPeerID, connected: Bool) {
        for observer in connectionObservers.withLockedValue({ $0 }) { observer(peer, connected) }
    }

    /// Negotiates an inbound stream and runs its handler.
    private nonisolated func serve(_ handle: YamuxStreamHandle, on connection: CarrierConnection) async {
        let table = handlers.withLockedValue { $0 }
        guard let stream = try? await CarrierStream.negotiateInbound(handle, supported: Array(table.keys), peer: connection.peer),
              let handler = table[stream.protocolID] else { return }
        if stream.protocolID == IdentifyMessage.protocolID {
            await IdentifyService.answer(stream, with: identifyMessage(observed: connection.info.remoteAddress))
        } else if stream.protocolID == IdentifyMessage.pushProtocolID {
            guard let accepted = await IdentifyService.receivePush(stream, into: connection) else { return }
            if !accepted { peerRecordsRejectedBox.withLockedValue { $0 += 1 } }
            for observer in identifyObservers.withLockedValue({ $0 }) { await observer(connection.info) }
        } else {
            await handler(stream)
        }
    }

    // MARK: Identify

    /// Our identify message: the same for the answer and for pushes, with the signed peer
    /// record over the addresses it lists.
    private nonisolated func identifyMessage(observed: Multiaddr?) -> IdentifyMessage {
        let addrs = advertisedAddrs
        return IdentifyMessage(
            protocolVersion: Self.protocolVersion, agentVersion: Self.agentVersion,
            publicKey: peerID.publicKeyProtobuf, listenAddrs: addrs.map(\.bytes),
            observedAddr: observed?.bytes, protocols: protocols, signedPeerRecord: signedPeerRecord(for: addrs))
    }

    /// Our peer record for `addrs`, sealed once per change. Its seq is the time in nanoseconds
    /// (as go and py make theirs), kept strictly increasing.
    nonisolated func signedPeerRecord(for addrs: [Multiaddr]) -> [UInt8] {
        peerRecordBox.withLockedValue { cached in
            if let cached, cached.addrs == addrs { return cached.bytes }
            var time = timespec()
            clock_gettime(CLOCK_REALTIME, &time)
            let now = UInt64(clamping: time.tv_sec) &* 1_000_000_000 &+ UInt64(clamping: time.tv_nsec)
            let seq = max(now, (cached?.seq ?? 0) &+ 1)
            let record = PeerRecord(peer: libp2pPeerID, seq: seq, addresses: addrs.map(\.bytes))
            let bytes = SignedRecords.sealPeerRecord(record, with: identity).bytes
            cached = (addrs, seq, bytes)
            return bytes
        }
    }

    private func identify(_ connection: CarrierConnection) async {
        guard let stream = try? await connection.openStream(IdentifyMessage.protocolID),
              let message = try? await IdentifyService.request(stream) else { return }
        if !connection.update(with: message) { peerRecordsRejectedBox.withLockedValue { $0 += 1 } }
        for observer in identifyObservers.withLockedValue({ $0 }) { await observer(connection.info) }
    }

    // MARK: Identify push

    /// Something identify reports changed: push to connected peers shortly, once for a burst of
    /// changes (services registering their protocols one after another, say).
    private func identifyChanged() {
        guard !identifyPushPending, !stopped, !connections.isEmpty else { return }
        identifyPushPending = true
        Task {
            try? await Task.sleep(for: Self.identifyPushDelay)
            await self.pushIdentifyNow()
        }
    }

    static let identifyPushDelay = Duration.milliseconds(100)

    private func pushIdentifyNow() async {
        identifyPushPending = false
        await pushIdentify()
    }

    /// Sends our identify message on `/ipfs/id/push/1.0.0` over every connection whose peer
    /// lists that protocol, each write bounded by 5 s; returns how many were delivered. Runs by
    /// itself when our addresses or protocols change.
    @discardableResult
    public func pushIdentify() async -> Int {
        let targets = connections.values.filter { $0.info.protocols.contains(IdentifyMessage.pushProtocolID) }
        guard !targets.isEmpty else { return 0 }
        let delivered = await withTaskGroup(of: Bool.self) { group in
            for connection in targets {
                let message = identifyMessage(observed: connection.info.remoteAddress)
                group.addTask {
                    guard let stream = try? await connection.openStream(IdentifyMessage.pushProtocolID) else { return false }
                    return await IdentifyService.push(stream, message, timeout: .seconds(5))
                }
            }
            var count = 0
            for await ok in group where ok { count += 1 }
            return count
        }
        identifyPushesBox.withLockedValue { $0 += delivered }
        return delivered
    }
}
