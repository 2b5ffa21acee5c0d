// DCUtR (`/libp2p/dcutr`): after a relayed connection, try to replace it with a direct one.
// Spec: https://github.com/libp2p/specs/blob/master/relay/DCUtR.md
// The peer that accepted the relayed connection (B) opens the stream and sends CONNECT with its
// addresses; the dialler (A) answers CONNECT with its own; B measures the round trip, sends SYNC,
// waits half of it and dials A's addresses, while A dials B's on receiving SYNC (TCP
// simultaneous open is not attempted: each side makes ordinary dials, all addresses at once, and
// the first that succeeds gives the direct connection). New streams take the direct connection;
// the relayed one is closed after a grace period (the spec's step 6).
public import CarrierWire

/// What one hole-punching attempt ended with.
public enum HolePunchOutcome: Sendable, Equatable {
    /// A direct connection to the peer is open.
    case direct
    /// No address the peer gave could be dialled.
    case failed(String)
}

public actor DCUtRService {
    private let node: CarrierNode
    /// How long the relayed connection is kept once a direct one is open (nil: kept until it
    /// closes by itself, e.g. at the relay's limits).
    public nonisolated let relayCloseGrace: Duration?
    /// Attempts made and their outcomes (for tests and stats).
    public private(set) var outcomes: [HolePunchOutcome] = []
    /// Relayed connections closed after an upgrade.
    public private(set) var relayedConnectionsClosed = 0

    /// Answers `/libp2p/dcutr` on `node`. The grace period is py-libp2p's (60 s): long enough for
    /// streams opened before the upgrade to finish.
    public init(node: CarrierNode, relayCloseGrace: Duration? = .seconds(60)) {
        self.node = node
        self.relayCloseGrace = relayCloseGrace
        node.handle(HolePunchMessage.protocolID) { [weak self] stream in
            guard let self else { return stream.reset() }
            await self.answer(stream)
        }
    }

    /// The addresses we tell the peer: our TCP listen addresses and what identify told us others
    /// see, never relayed ones.
    private func ourAddresses(on peer: Libp2pPeerID) async -> [[UInt8]] {
        var addrs = node.directAdvertisedAddrs
        if let observed = await node.peers().first(where: { $0.peer == peer })?.observedAddr { addrs.append(observed) }
        var seen = Set<Multiaddr>()
        return addrs.filter { !$0.components.contains(.p2pCircuit) && $0.tcpEndpoint != nil && seen.insert($0).inserted }
            .prefix(HolePunchMessage.maxAddresses).map(\.bytes)
    }

    /// As B (we accepted a relayed connection from `peer`): runs the exchange and dials.
    @discardableResult
    public func upgrade(_ peer: Libp2pPeerID) async -> HolePunchOutcome {
        let outcome = await runUpgrade(peer)
        finished(peer, outcome)
        return outcome
    }

    private func finished(_ peer: Libp2pPeerID, _ outcome: HolePunchOutcome) {
        outcomes.append(outcome)
        guard outcome == .direct, let grace = relayCloseGrace else { return }
        Task { [weak self, node] in
            try? await Task.sleep(for: grace)
            let closed = await node.closeRelayedConnections(to: peer)
            await self?.countClosed(closed)
        }
    }

    private func countClosed(_ n: Int) { relayedConnectionsClosed += n }

    private func runUpgrade(_ peer: Libp2pPeerID) async -> HolePunchOutcome {
        if await node.isDirectlyConnected(peer) { return .direct }
        do {
            let stream = try await node.openStream(to: peer, protocol: HolePunchMessage.protocolID)
            let started = ContinuousClock.now
            try await stream.writeLengthPrefixed(HolePunchMessage(kind: .connect, observedAddrs: await ourAddresses(on: peer)).bytes)
            let reply = try await Self.read(stream)
            let rtt = ContinuousClock.now - started
            guard reply.kind == .connect else { stream.reset(); return .failed("expected CONNECT, got \(reply.kind)") }
            try await stream.writeLengthPrefixed(HolePunchMessage(kind: .sync).bytes)
            try? await stream.closeWrite()
            try? await Task.sleep(for: rtt / 2)
            return await dial(peer, reply.observedAddrs)
        } catch {
            return .failed("\(error)")
        }
    }

    /// As A (we dialled `stream.remotePeer` through a relay).
    private func answer(_ stream: CarrierStream) async {
        let peer = stream.remotePeer
        do {
            let connect = try await Self.read(stream)
            guard connect.kind == .connect else { return stream.reset() }
            try await stream.writeLengthPrefixed(HolePunchMessage(kind: .connect, observedAddrs: await ourAddresses(on: peer)).bytes)
            let sync = try await Self.read(stream)
            guard sync.kind == .sync else { return stream.reset() }
            try? await stream.closeWrite()
            finished(peer, await dial(peer, connect.observedAddrs))
        } catch {
            stream.reset()
        }
    }

    /// Dials every usable address at once (spec step 5); the first connection wins and the
    /// other dials are cancelled.
    private func dial(_ peer: Libp2pPeerID, _ addrs: [[UInt8]]) async -> HolePunchOutcome {
        if await node.isDirectlyConnected(peer) { return .direct }
        var targets: [Multiaddr] = []
        for raw in addrs {
            guard let address = try? Multiaddr(bytes: raw), address.tcpEndpoint != nil,
                  !address.components.contains(.p2pCircuit) else { continue }
            let target = Multiaddr(components: address.components.filter { if case .p2p = $0 { false } else { true } } + [.p2p(peer.multihash.bytes)])
            if !targets.contains(target) { targets.append(target) }
        }
        let node = self.node
        let failures = await withTaskGroup(of: String?.self) { group -> [String] in
            for target in targets {
                group.addTask {
                    do throws(CarrierError) {
                        _ = try await node.dial(target)
                        return nil
                    } catch {
                        return "\(target): \(error)"
                    }
                }
            }
            var failures: [String] = []
            for await result in group {
                guard let failure = result else { group.cancelAll(); break }
                failures.append(failure)
            }
            return failures
        }
        if await node.isDirectlyConnected(peer) { return .direct }
        return .failed(failures.isEmpty ? "no dialable address" : failures.joined(separator: "; "))
    }

    static func read(_ stream: CarrierStream) async throws(CarrierError) -> HolePunchMessage {
        let bytes = try await stream.readLengthPrefixed(limit: HolePunchMessage.maxLength, timeout: .seconds(30))
        do { return try HolePunchMessage(decoding: bytes) } catch { throw .malformed(error) }
    }
}
