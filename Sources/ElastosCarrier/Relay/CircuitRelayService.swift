// The relay side of Circuit Relay v2 (`/libp2p/circuit/relay/0.2.0/hop`):
// https://github.com/libp2p/specs/blob/master/relay/circuit-v2.md
// RESERVE grants a reservation (expiry, our addresses, a signed voucher) that lasts while the peer stays
// connected and until it expires; CONNECT opens `/libp2p/circuit/relay/0.2.0/stop` to the reserved
// target, and on OK from both ends bridges the two streams byte for byte within the limits.
public import CarrierWire
import Foundation

/// The limits of a relay. Defaults follow go-libp2p's relay service (resources.go).
public struct RelayServiceConfig: Sendable {
    /// Reservations held at once (one per peer).
    public var maxReservations: Int = 128
    /// How long a reservation lasts before the peer must renew it.
    public var reservationTTL: Duration = .seconds(3600)
    /// Circuits open at once in which one peer takes part (as source or as target).
    public var maxCircuitsPerPeer: Int = 16
    /// Seconds a circuit may stay open (sent in the Limit); nil for no limit.
    public var circuitDuration: UInt32? = 120
    /// Bytes relayed per direction per circuit (sent in the Limit); nil for no limit.
    public var circuitData: UInt64? = 1 << 17
    /// How long a hop request, or the target's answer on the stop stream, may take to arrive.
    public var streamTimeout: Duration = .seconds(30)

    public init() {}

    var limit: RelayLimit? {
        circuitDuration == nil && circuitData == nil ? nil : RelayLimit(duration: circuitDuration, data: circuitData)
    }
}

/// What a relay has done, for tests and stats.
public struct RelayServiceStats: Sendable, Equatable {
    public var reservationsGranted = 0
    public var reservationsRefused = 0
    public var circuitsOpened = 0
    public var circuitsRefused = 0
    public var bytesRelayed: UInt64 = 0
}

/// A Circuit Relay v2 hop service on a node. Off unless created: `CircuitRelayService(node:)`.
public actor CircuitRelayService {
    private struct Reservation {
        let expires: ContinuousClock.Instant
    }

    public let config: RelayServiceConfig
    private let node: CarrierNode
    private var reservations: [Libp2pPeerID: Reservation] = [:]
    private var circuits: [Libp2pPeerID: Int] = [:]
    public private(set) var stats = RelayServiceStats()

    /// Starts answering hop streams on `node`.
    public init(node: CarrierNode, config: RelayServiceConfig = RelayServiceConfig()) {
        self.node = node
        self.config = config
        node.handle(CircuitRelay.hopProtocolID) { [weak self] stream in
            guard let self else { return stream.reset() }
            await self.serve(stream)
        }
        node.observeConnections { [weak self] peer, connected in
            guard let self, !connected else { return }
            Task { await self.dropReservation(of: peer) }
        }
    }

    /// The peers holding a live reservation.
    public var reservedPeers: [Libp2pPeerID] {
        let now = ContinuousClock.now
        return reservations.filter { $0.value.expires > now }.map(\.key)
    }

    private func dropReservation(of peer: Libp2pPeerID) async {
        reservations[peer] = nil
        await node.unprotect(peer, tag: Self.protectionTag)
    }

    /// The connection manager keeps peers that hold a reservation with us.
    static let protectionTag = "relay-service-reservation"


    private func serve(_ stream: CarrierStream) async {
        let request: HopMessage
        do {
            let bytes = try await stream.readLengthPrefixed(limit: CircuitRelay.maxMessageLength, timeout: config.streamTimeout)
            request = try HopMessage(decoding: bytes)
        } catch {
            await Self.reply(stream, .malformedMessage)
            return
        }
        switch request.kind {
        case .reserve: await reserve(stream)
        case .connect: await connect(stream, request)
        case .status: await Self.reply(stream, .unexpectedMessage)
        }
    }

    // MARK: RESERVE

    private func reserve(_ stream: CarrierStream) async {
        let peer = stream.remotePeer
        let now = ContinuousClock.now
        for (expired, reservation) in reservations where reservation.expires <= now { await dropReservation(of: expired) }
        guard reservations[peer] != nil || reservations.count < config.maxReservations else {
            stats.reservationsRefused += 1
            return await Self.reply(stream, .resourceLimitExceeded)
        }
        // A peer on a relayed connection cannot usefully be reached through us.
        guard let connection = await node.peers().first(where: { $0.peer == peer }),
              connection.remoteAddress?.components.contains(.p2pCircuit) != true else {
            stats.reservationsRefused += 1
            return await Self.reply(stream, .permissionDenied)
        }
        reservations[peer] = Reservation(expires: now + config.reservationTTL)
        await node.protect(peer, tag: Self.protectionTag)
        stats.reservationsGranted += 1
        let ttlSeconds = UInt64(config.reservationTTL.components.seconds)
        let expire = UInt64(Date().timeIntervalSince1970) + ttlSeconds
        let me = MultiaddrComponent.p2p(node.libp2pPeerID.multihash.bytes)
        let addrs = node.directAdvertisedAddrs.map { Multiaddr(components: $0.components + [me]).bytes }
        let voucher = SignedRecords.sealVoucher(ReservationVoucher(relay: node.libp2pPeerID, peer: peer, expiration: expire), with: node.identity)
        let reply = HopMessage(kind: .status, reservation: RelayReservation(expire: expire, addrs: addrs, voucher: voucher.bytes),
                               limit: config.limit, status: .ok)
        try? await stream.writeLengthPrefixed(reply.bytes)
        try? await stream.closeWrite()
    }

    // MARK: CONNECT

    private func connect(_ stream: CarrierStream, _ request: HopMessage) async {
        let source = stream.remotePeer
        guard let target = request.peer?.id else { return await Self.reply(stream, .malformedMessage) }
        guard let reservation = reservations[target], reservation.expires > .now, target != source else {
            stats.circuitsRefused += 1
            return await Self.reply(stream, .noReservation)
        }
        guard circuits[source, default: 0] < config.maxCircuitsPerPeer, circuits[target, default: 0] < config.maxCircuitsPerPeer else {
            stats.circuitsRefused += 1
            return await Self.reply(stream, .resourceLimitExceeded)
        }
        circuits[source, default: 0] += 1
        circuits[target, default: 0] += 1
        defer {
            circuits[source, default: 1] -= 1
            circuits[target, default: 1] -= 1
            if circuits[source] == 0 { circuits[source] = nil }
            if circuits[target] == 0 { circuits[target] = nil }
        }
        let limit = config.limit
        let stop: CarrierStream
        do {
            stop = try await node.openStream(to: target, protocol: CircuitRelay.stopProtocolID)
            try await stop.writeLengthPrefixed(StopMessage(kind: .connect, peer: RelayPeer(id: source), limit: limit).bytes)
            let answer = try StopMessage(decoding: try await stop.readLengthPrefixed(limit: CircuitRelay.maxMessageLength, timeout: config.streamTimeout))
            guard answer.kind == .status, answer.status == .ok else {
                stop.reset()
                stats.circuitsRefused += 1
                return await Self.reply(stream, .connectionFailed)
            }
        } catch {
            stats.circuitsRefused += 1
            return await Self.reply(stream, .connectionFailed)
        }
        do {
            try await stream.writeLengthPrefixed(HopMessage(kind: .status, limit: limit, status: .ok).bytes)
        } catch {
            stop.reset()
            return
        }
        stats.circuitsOpened += 1
        let relayed = await Self.splice(stream, stop, limit: limit)
        stats.bytesRelayed += relayed
    }

    /// Copies bytes both ways until both sides have closed, a limit is reached or either side
    /// fails; returns the bytes relayed.
    static func splice(_ a: CarrierStream, _ b: CarrierStream, limit: RelayLimit?) async -> UInt64 {
        let dataLimit = limit?.data ?? .max
        return await withTaskGroup(of: (UInt64, Bool).self) { tasks in
            for (from, to) in [(a, b), (b, a)] {
                tasks.addTask {
                    var copied: UInt64 = 0
                    while true {
                        let chunk: [UInt8]?
                        do { chunk = try await from.read() } catch { return (copied, false) }
                        guard var bytes = chunk else {
                            try? await to.closeWrite()
                            return (copied, true)
                        }
                        let room = dataLimit - copied
                        let overLimit = UInt64(bytes.count) > room
                        if overLimit { bytes = Array(bytes.prefix(Int(room))) }
                        do { try await to.write(bytes) } catch { return (copied, false) }
                        copied += UInt64(bytes.count)
                        if overLimit { return (copied, false) }
                    }
                }
            }
            if let seconds = limit?.duration {
                tasks.addTask {
                    try? await Task.sleep(for: .seconds(Int(seconds)))
                    return (0, false)
                }
            }
            var total: UInt64 = 0
            var cleanEnds = 0
            while let result = await tasks.next() {
                let (copied, clean) = result
                total += copied
                if clean { cleanEnds += 1 } else { break }
                if cleanEnds == 2 { break }
            }
            // A limit or a failure ends the circuit at once; after two clean ends nothing is
            // reset, so the last bytes before each FIN still arrive.
            if cleanEnds < 2 {
                a.reset()
                b.reset()
            }
            tasks.cancelAll()
            while let result = await tasks.next() { total += result.0 }
            return total
        }
    }

    static func reply(_ stream: CarrierStream, _ status: RelayStatus) async {
        try? await stream.writeLengthPrefixed(HopMessage(kind: .status, status: status).bytes)
        try? await stream.closeWrite()
    }
}
