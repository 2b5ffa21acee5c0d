// The client side of Circuit Relay v2: reserving a slot on a relay (hop RESERVE), renewing it,
// and accepting the relay's stop streams as ordinary Carrier connections; plus dialling
// `…/p2p/<relay>/p2p-circuit/p2p/<target>` (hop CONNECT) from `CarrierNode.dial`.
// Spec: https://github.com/libp2p/specs/blob/master/relay/circuit-v2.md
public import CarrierWire
import Foundation

/// Why a relay operation failed.
public enum RelayError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The address is not `…/p2p/<relay>/p2p-circuit[/p2p/<target>]`.
    case invalidAddress(String)
    /// The relay answered with this status instead of OK.
    case refused(RelayStatus)
    /// The relay's answer did not follow the protocol.
    case protocolViolation(String)

    public var description: String {
        switch self {
        case .invalidAddress(let why): "invalid relay address: \(why)"
        case .refused(let status): "the relay refused: \(status)"
        case .protocolViolation(let why): "the relay broke the protocol: \(why)"
        }
    }
}

/// A reservation we hold on a relay.
public struct RelayReservationInfo: Sendable, Equatable {
    public let relay: Libp2pPeerID
    /// The relay's address we dialled, ending in `/p2p/<relay>`.
    public let relayAddress: Multiaddr
    /// Where others reach us: `relayAddress/p2p-circuit`.
    public var circuitAddress: Multiaddr { Multiaddr(components: relayAddress.components + [.p2pCircuit]) }
    /// Unix seconds when the reservation ends.
    public let expire: UInt64
    public let limit: RelayLimit?
    /// The relay's signed voucher, when it sent one (go and py do); checked before the
    /// reservation is accepted: signed by the relay, for us, expiring with the reservation.
    public let voucher: ReservationVoucher?
}

/// Reserves on relays and accepts the circuits they open to us. Created once per node; until
/// then the node does not answer `/libp2p/circuit/relay/0.2.0/stop`.
public actor CircuitRelayClient {
    private let node: CarrierNode
    private var reservations: [Libp2pPeerID: RelayReservationInfo] = [:]
    private var renewals: [Libp2pPeerID: Task<Void, Never>] = [:]
    /// Circuits accepted so far (for tests and stats).
    public private(set) var acceptedCircuits = 0
    private var circuitObservers: [@Sendable (Libp2pPeerID) async -> Void] = []

    /// The connection manager keeps relays we hold a reservation on.
    static let protectionTag = "relay-reservation"

    public init(node: CarrierNode) {
        self.node = node
        node.handle(CircuitRelay.stopProtocolID) { [weak self] stream in
            guard let self else { return stream.reset() }
            await self.acceptStop(stream)
        }
    }

    /// Calls `observer` with the source of each circuit accepted, once its connection is up
    /// (DCUtR starts from here: `client.onCircuit { await dcutr.upgrade($0) }`).
    public func onCircuit(_ observer: @escaping @Sendable (Libp2pPeerID) async -> Void) {
        circuitObservers.append(observer)
    }

    /// The reservations held now.
    public var current: [RelayReservationInfo] { Array(reservations.values) }

    /// Dials the relay at `address` (`…/p2p/<relay>`) and reserves a slot; with `renew`, renews it
    /// before it expires (and re-dials the relay if the connection was lost) until ``cancel(_:)``.
    @discardableResult
    public func reserve(on address: Multiaddr, renew: Bool = true) async throws(CarrierError) -> RelayReservationInfo {
        guard let relay = address.peer, case .p2p = address.components.last,
              !address.components.contains(.p2pCircuit) else {
            throw .invalidAddress("a relay address ends in /p2p/<relay> (and has no /p2p-circuit): \(address)")
        }
        let info = try await Self.requestReservation(node: node, relayAddress: address, relay: relay)
        reservations[relay] = info
        await node.protect(relay, tag: Self.protectionTag)
        await node.advertiseRelayAddress(info.circuitAddress)
        if renew, renewals[relay] == nil {
            renewals[relay] = Task { [weak self] in await self?.renewLoop(relay) }
        }
        return info
    }

    /// Stops renewing the reservation on `relay` and forgets it.
    public func cancel(_ relay: Libp2pPeerID) async {
        renewals.removeValue(forKey: relay)?.cancel()
        if let info = reservations.removeValue(forKey: relay) {
            await node.withdrawRelayAddress(info.circuitAddress)
            await node.unprotect(relay, tag: Self.protectionTag)
        }
    }

    /// Cancels every renewal.
    public func stop() async {
        for task in renewals.values { task.cancel() }
        renewals = [:]
        let held = reservations.values
        reservations = [:]
        for info in held {
            await node.withdrawRelayAddress(info.circuitAddress)
            await node.unprotect(info.relay, tag: Self.protectionTag)
        }
    }

    private func renewLoop(_ relay: Libp2pPeerID) async {
        while !Task.isCancelled, let info = reservations[relay] {
            // Renew when three quarters of the time is used (at least 1 s from now), or retry
            // every 5 s after a failure.
            let now = UInt64(Date().timeIntervalSince1970)
            let left = info.expire > now ? info.expire - now : 0
            try? await Task.sleep(for: .seconds(max(1, Int(left) * 3 / 4)))
            guard !Task.isCancelled else { return }
            do {
                let renewed = try await Self.requestReservation(node: node, relayAddress: info.relayAddress, relay: relay)
                guard !Task.isCancelled else { return }
                reservations[relay] = renewed
                await node.advertiseRelayAddress(renewed.circuitAddress)
            } catch {
                // Past its expiry the relay no longer holds our slot: stop advertising it
                // until a renewal succeeds.
                if UInt64(Date().timeIntervalSince1970) >= info.expire { await node.withdrawRelayAddress(info.circuitAddress) }
                try? await Task.sleep(for: .seconds(5))
            }
        }
    }

    static func requestReservation(node: CarrierNode, relayAddress: Multiaddr, relay: Libp2pPeerID) async throws(CarrierError) -> RelayReservationInfo {
        if !(await node.isConnected(relay)) { try await node.dial(relayAddress) }
        let stream = try await node.openStream(to: relay, protocol: CircuitRelay.hopProtocolID)
        try await stream.writeLengthPrefixed(HopMessage(kind: .reserve).bytes)
        let answer = try await readHop(stream)
        try? await stream.closeWrite()
        guard answer.kind == .status else { throw relayFailure(.protocolViolation("expected STATUS, got \(answer.kind)")) }
        guard answer.status == .ok else { throw relayFailure(.refused(answer.status ?? .unexpectedMessage)) }
        guard let reservation = answer.reservation else { throw relayFailure(.protocolViolation("OK without a reservation")) }
        var voucher: ReservationVoucher?
        if let bytes = reservation.voucher, !bytes.isEmpty {
            let opened: ReservationVoucher
            do { opened = try SignedRecords.openVoucher(bytes) } catch { throw relayFailure(.protocolViolation("bad reservation voucher: \(error)")) }
            guard opened.relay == relay, opened.peer == node.libp2pPeerID else {
                throw relayFailure(.protocolViolation("the reservation voucher is for \(opened.peer) on \(opened.relay)"))
            }
            voucher = opened
        }
        return RelayReservationInfo(relay: relay, relayAddress: relayAddress, expire: reservation.expire, limit: answer.limit, voucher: voucher)
    }

    // MARK: Incoming circuits

    private func acceptStop(_ stream: CarrierStream) async {
        let relay = stream.remotePeer
        let request: StopMessage
        do {
            request = try StopMessage(decoding: try await stream.readLengthPrefixed(limit: CircuitRelay.maxMessageLength, timeout: .seconds(30)))
        } catch {
            return await Self.replyStop(stream, .malformedMessage)
        }
        guard request.kind == .connect, let source = request.peer?.id else {
            return await Self.replyStop(stream, request.kind == .connect ? .malformedMessage : .unexpectedMessage)
        }
        // Only relays we reserved on may bring us circuits.
        guard let info = reservations[relay] else { return await Self.replyStop(stream, .permissionDenied) }
        do {
            try await stream.writeLengthPrefixed(StopMessage(kind: .status, status: .ok).bytes)
        } catch { return stream.reset() }
        let remote = Multiaddr(components: info.circuitAddress.components + [.p2p(source.multihash.bytes)])
        acceptedCircuits += 1
        // The source dialled: it runs Noise as the initiator; we answer, and it must be `source`.
        guard (try? await node.attachRelayedConnection(over: stream, role: .responder, expectedPeer: source, remoteAddress: remote)) != nil else { return }
        let observers = circuitObservers
        Task { for observer in observers { await observer(source) } }
    }

    static func replyStop(_ stream: CarrierStream, _ status: RelayStatus) async {
        try? await stream.writeLengthPrefixed(StopMessage(kind: .status, status: status).bytes)
        try? await stream.closeWrite()
    }

    static func readHop(_ stream: CarrierStream) async throws(CarrierError) -> HopMessage {
        let bytes = try await stream.readLengthPrefixed(limit: CircuitRelay.maxMessageLength, timeout: .seconds(30))
        do { return try HopMessage(decoding: bytes) } catch { throw .malformed(error) }
    }

    static func relayFailure(_ error: RelayError) -> CarrierError { .relay(error) }
}

extension CarrierNode {
    /// Dials `…/p2p/<relay>/p2p-circuit/p2p/<target>`: connects to the relay (if not yet), asks it
    /// to CONNECT us to the target, and upgrades the circuit to a Noise + Yamux connection.
    func dialThroughRelay(_ address: Multiaddr) async throws(CarrierError) -> Libp2pPeerID {
        let parts = address.components
        guard let circuit = parts.firstIndex(of: .p2pCircuit) else { throw .relay(.invalidAddress("no /p2p-circuit in \(address)")) }
        let relayAddress = Multiaddr(components: Array(parts[..<circuit]))
        let rest = parts[(circuit + 1)...]
        guard rest.count == 1, case .p2p = rest.first, let target = Multiaddr(components: Array(rest)).peer else {
            throw .relay(.invalidAddress("after /p2p-circuit comes exactly /p2p/<target>: \(address)"))
        }
        guard case .p2p = relayAddress.components.last, let relay = relayAddress.peer else {
            throw .relay(.invalidAddress("before /p2p-circuit comes the relay's /p2p/<relay>: \(address)"))
        }
        guard !relayAddress.components.contains(.p2pCircuit) else { throw .relay(.invalidAddress("nested circuits are not supported: \(address)")) }
        if isConnected(target) { return target }
        if !isConnected(relay) {
            // A relay address with only /p2p/<relay> needs a connection already.
            guard relayAddress.components.count > 1 else { throw .notConnected(relay) }
            try await dial(relayAddress)
        }
        let stream = try await openStream(to: relay, protocol: CircuitRelay.hopProtocolID)
        try await stream.writeLengthPrefixed(HopMessage(kind: .connect, peer: RelayPeer(id: target)).bytes)
        let answer = try await CircuitRelayClient.readHop(stream)
        guard answer.kind == .status else {
            stream.reset()
            throw .relay(.protocolViolation("expected STATUS, got \(answer.kind)"))
        }
        guard answer.status == .ok else {
            stream.reset()
            throw .relay(.refused(answer.status ?? .unexpectedMessage))
        }
        return try await attachRelayedConnection(over: stream, role: .initiator, expectedPeer: target, remoteAddress: address)
    }
}
