// DCUtR (`/libp2p/dcutr`): after a relayed connection, try to replace it with a direct one.
// Spec: https://github.com/libp2p/specs/blob/master/relay/DCUtR.md
// The peer that accepted the relayed connection (B) opens the stream and sends CONNECT with its
// addresses; the dialler (A) answers CONNECT with its own; B measures the round trip, sends SYNC,
// waits half of it and dials A's addresses, while A dials B's on receiving SYNC (TCP
// simultaneous open is not attempted: each side makes an ordinary dial, and the first that
// succeeds gives the direct connection; the relayed one stays open beside it).
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
    /// Attempts made and their outcomes (for tests and stats).
    public private(set) var outcomes: [HolePunchOutcome] = []

    /// Answers `/libp2p/dcutr` on `node`.
    public init(node: CarrierNode) {
        self.node = node
        node.handle(HolePunchMessage.protocolID) { [weak self] stream in
            guard let self else { return stream.reset() }
            await self.answer(stream)
        }
    }

    /// The addresses we tell the peer: our TCP listen addresses and what identify told us others
    /// see, never relayed ones.
    private func ourAddresses(on peer: Libp2pPeerID) async -> [[UInt8]] {
        var addrs = node.listenAddrs
        if let observed = await node.peers().first(where: { $0.peer == peer })?.observedAddr { addrs.append(observed) }
        var seen = Set<Multiaddr>()
        return addrs.filter { !$0.components.contains(.p2pCircuit) && $0.tcpEndpoint != nil && seen.insert($0).inserted }
            .prefix(HolePunchMessage.maxAddresses).map(\.bytes)
    }

    /// As B (we accepted a relayed connection from `peer`): runs the exchange and dials.
    @discardableResult
    public func upgrade(_ peer: Libp2pPeerID) async -> HolePunchOutcome {
        let outcome = await runUpgrade(peer)
        outcomes.append(outcome)
        return outcome
    }

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
            outcomes.append(await dial(peer, connect.observedAddrs))
        } catch {
            stream.reset()
        }
    }

    private func dial(_ peer: Libp2pPeerID, _ addrs: [[UInt8]]) async -> HolePunchOutcome {
        var failures: [String] = []
        for raw in addrs {
            if await node.isDirectlyConnected(peer) { return .direct }
            guard let address = try? Multiaddr(bytes: raw), address.tcpEndpoint != nil,
                  !address.components.contains(.p2pCircuit) else { continue }
            let target = Multiaddr(components: address.components.filter { if case .p2p = $0 { false } else { true } } + [.p2p(peer.multihash.bytes)])
            do {
                _ = try await node.dial(target)
                return .direct
            } catch {
                failures.append("\(target): \(error)")
            }
        }
        if await node.isDirectlyConnected(peer) { return .direct }
        return .failed(failures.isEmpty ? "no dialable address" : failures.joined(separator: "; "))
    }

    static func read(_ stream: CarrierStream) async throws(CarrierError) -> HolePunchMessage {
        let bytes = try await stream.readLengthPrefixed(limit: HolePunchMessage.maxLength, timeout: .seconds(30))
        do { return try HolePunchMessage(decoding: bytes) } catch { throw .malformed(error) }
    }
}
