// One live connection to a peer.
import ElastosCore
public import CarrierWire
import NIOConcurrencyHelpers
import NIOCore

/// What is known about a connected peer.
public struct PeerInfo: Sendable {
    public let peer: Libp2pPeerID
    /// The address of the connection (the peer's, as seen by us).
    public let remoteAddress: Multiaddr?
    public let isOutbound: Bool
    /// From identify, once it ran.
    public var agentVersion: String?
    public var protocolVersion: String?
    public var protocols: [String] = []
    public var listenAddrs: [Multiaddr] = []
    /// Our address as the peer sees it.
    public var observedAddr: Multiaddr?
    /// The addresses of the peer's signed peer record (RFC 0003), once one arrived whose
    /// signature checked and which names this peer; nil until then. While there is one,
    /// ``listenAddrs`` are these (as go-libp2p does: certified addresses win).
    public var certifiedAddrs: [Multiaddr]?
    /// The seq of that record; an older one arriving later is ignored.
    public var peerRecordSeq: UInt64?
    /// Whether the connection runs through a Circuit Relay v2 relay.
    public var isRelayed: Bool { remoteAddress?.components.contains(.p2pCircuit) == true }
}

final class CarrierConnection: Sendable {
    let channel: any Channel
    let session: NIOLoopBound<YamuxSession>
    private let state: NIOLockedValueBox<PeerInfo>
    let gate: LoopGate
    let openedAt = ContinuousClock.now

    init(channel: any Channel, session: NIOLoopBound<YamuxSession>, info: PeerInfo, gate: LoopGate = .alwaysOpen) {
        self.channel = channel
        self.session = session
        self.gate = gate
        self.state = NIOLockedValueBox(info)
    }

    var info: PeerInfo { state.withLockedValue { $0 } }
    var peer: Libp2pPeerID { info.peer }

    /// Merges an identify message (an answer, or a push, which may carry only what changed:
    /// absent fields keep their value). Returns false if it carried a signed peer record that
    /// failed to open or names another peer; the record is then ignored and the rest used.
    @discardableResult
    func update(with message: IdentifyMessage) -> Bool {
        var record: PeerRecord?
        var recordAccepted = true
        if let bytes = message.signedPeerRecord {
            if let opened = try? SignedRecords.openPeerRecord(bytes), opened.peer == peer {
                record = opened
            } else {
                recordAccepted = false
            }
        }
        state.withLockedValue { info in
            if let v = message.agentVersion { info.agentVersion = v }
            if let v = message.protocolVersion { info.protocolVersion = v }
            if !message.protocols.isEmpty { info.protocols = message.protocols }
            if let record, record.seq >= info.peerRecordSeq ?? 0 {
                // py-libp2p lists its addresses with its own /p2p/<id> on the end; go without.
                let me = MultiaddrComponent.p2p(record.peer.multihash.bytes)
                info.certifiedAddrs = record.parsedAddresses.map { address in
                    address.components.last == me ? Multiaddr(components: Array(address.components.dropLast())) : address
                }
                info.peerRecordSeq = record.seq
            }
            if let certified = info.certifiedAddrs {
                info.listenAddrs = certified
            } else if !message.listenAddrs.isEmpty {
                info.listenAddrs = message.parsedListenAddrs
            }
            if let observed = message.observedAddr.flatMap({ try? Multiaddr(bytes: $0) }) { info.observedAddr = observed }
        }
        return recordAccepted
    }

    /// Opens a Yamux stream and negotiates `protocolID` on it.
    func openStream(_ protocolID: String) async throws(CarrierError) -> CarrierStream {
        try await openStream(proposing: [protocolID])
    }

    /// Opens a Yamux stream and negotiates the first of `protocolIDs` the peer accepts.
    func openStream(proposing protocolIDs: [String]) async throws(CarrierError) -> CarrierStream {
        let session = self.session
        let id: UInt32
        do {
            id = try await gate.flatSubmit(on: session.eventLoop) {
                session.eventLoop.makeCompletedFuture { () throws(YamuxError) -> UInt32 in try session.value.openStream() }
            }.get()
        } catch { throw CarrierStream.map(error) }
        return try await CarrierStream.negotiateOutbound(YamuxStreamHandle(id: id, session: session, gate: gate), protocolIDs: protocolIDs, peer: peer)
    }

    /// The Yamux streams open now (0 if the session is gone).
    func streamCount() async -> Int {
        let session = self.session
        return (try? await gate.flatSubmit(on: session.eventLoop) {
            session.eventLoop.makeSucceededFuture(session.value.streamCount)
        }.get()) ?? 0
    }

    /// Round trip of a Yamux-level ping.
    func muxerPing() async throws(CarrierError) -> Duration {
        let session = self.session
        do {
            let elapsed = try await gate.flatSubmit(on: session.eventLoop) {
                let promise = session.eventLoop.makePromise(of: TimeAmount.self)
                session.value.ping(promise: promise)
                return promise.futureResult
            }.get()
            return .nanoseconds(elapsed.nanoseconds)
        } catch { throw CarrierStream.map(error) }
    }

    func close() {
        let session = self.session
        session.eventLoop.execute { session.value.goAway() }
        channel.close(promise: nil)
    }
}

extension Multiaddr {
    /// The multiaddr of a NIO socket address (`/ip4/…/tcp/…` or `/ip6/…/tcp/…`).
    init?(socketAddress: SocketAddress?) {
        guard let socketAddress, let ip = socketAddress.ipAddress, let port = socketAddress.port else { return nil }
        switch socketAddress {
        case .v4: guard let m = try? Multiaddr(parsing: "/ip4/\(ip)/tcp/\(port)") else { return nil }; self = m
        case .v6: guard let m = try? Multiaddr(parsing: "/ip6/\(ip)/tcp/\(port)") else { return nil }; self = m
        default: return nil
        }
    }
}
