// One DHT request to one peer: dial it if needed, open a `/ipfs/kad/1.0.0` stream, write the
// message, read the answer — all within a deadline. Carrier's streams do not observe task
// cancellation, so the deadline resets the stream, which makes a pending read fail at once.
import CarrierWire
import NIOConcurrencyHelpers

enum KadRequest {
    enum Failure: Error, Sendable, CustomStringConvertible {
        case timedOut
        case unreachable(String)
        case carrier(CarrierError)
        case malformed(WireError)
        case wrongType(KadMessage.MessageType)

        var description: String {
            switch self {
            case .timedOut: "no answer in time"
            case .unreachable(let why): "unreachable: \(why)"
            case .carrier(let e): e.description
            case .malformed(let e): e.description
            case .wrongType(let t): "answered with message type \(t)"
            }
        }
    }

    /// Sends `message` to `peer` (dialling `addrs` if not connected) and returns the answer, or
    /// nil for ADD_PROVIDER, which has none.
    static func send(
        _ message: KadMessage, to peer: Libp2pPeerID, addrs: [Multiaddr], node: CarrierNode,
        protocolIDs: [String], timeout: Duration
    ) async -> Result<KadMessage?, Failure> {
        let openStream = NIOLockedValueBox<CarrierStream?>(nil)
        let abandoned = NIOLockedValueBox(false)
        let expire: @Sendable () -> Void = {
            abandoned.withLockedValue { $0 = true }
            openStream.withLockedValue { $0 }?.reset()
        }
        let outcome = await raceDeadline(timeout, onExpiry: expire) {
            () async -> Result<KadMessage?, Failure> in
            let stream: CarrierStream
            switch await open(peer: peer, addrs: addrs, node: node, protocolIDs: protocolIDs, abandoned: abandoned) {
            case .success(let s): stream = s
            case .failure(let f): return .failure(f)
            }
            openStream.withLockedValue { $0 = stream }
            // The deadline may have passed while the stream was being opened.
            if abandoned.withLockedValue({ $0 }) { stream.reset(); return .failure(.timedOut) }
            do throws(CarrierError) {
                try await stream.writeLengthPrefixed(message.bytes)
                guard message.type != .addProvider else {
                    // No answer comes, but the peer closes its side once it has read ours. Wait
                    // for that (briefly): a node that exits right after providing would
                    // otherwise tear the connection down before the record has been read.
                    try? await stream.closeWrite()
                    _ = await raceDeadline(.seconds(1), onExpiry: {}) { _ = try? await stream.readToEnd(limit: KadMessage.maxLength) }
                    return .success(nil)
                }
                let bytes = try await stream.readLengthPrefixed(limit: KadMessage.maxLength)
                try? await stream.closeWrite()
                let answer: KadMessage
                switch Result(catching: { () throws(WireError) -> KadMessage in try KadMessage(decoding: bytes) }) {
                case .success(let decoded): answer = decoded
                case .failure(let error): stream.reset(); return .failure(.malformed(error))
                }
                guard answer.type == message.type else { return .failure(.wrongType(answer.type)) }
                return .success(answer)
            } catch {
                stream.reset()
                return .failure(.carrier(error))
            }
        }
        return outcome ?? .failure(.timedOut)
    }

    /// Dials `addrs` in turn (unless connected) and negotiates the first protocol `peer` takes;
    /// stops trying once the request is `abandoned`.
    private static func open(
        peer: Libp2pPeerID, addrs: [Multiaddr], node: CarrierNode, protocolIDs: [String], abandoned: NIOLockedValueBox<Bool>
    ) async -> Result<CarrierStream, Failure> {
        var lastError = "no address to dial"
        if await !node.isConnected(to: peer) {
            var connected = false
            for addr in addrs where addr.tcpEndpoint != nil {
                if abandoned.withLockedValue({ $0 }) { return .failure(.timedOut) }
                do {
                    let target = Multiaddr(components: addr.withoutPeerID.components + [.p2p(peer.multihash.bytes)])
                    try await node.dial(target)
                    connected = true
                    break
                } catch { lastError = error.description }
            }
            guard connected else { return .failure(.unreachable(lastError)) }
        }
        var failure = Failure.unreachable(lastError)
        for protocolID in protocolIDs {
            do { return .success(try await node.openStream(to: peer, protocol: protocolID)) } catch { failure = .carrier(error) }
        }
        return .failure(failure)
    }
}

/// Runs `operation`; if it has not finished after `timeout` (or the task is cancelled), calls
/// `onExpiry` and returns nil without waiting for it.
func raceDeadline<T: Sendable>(
    _ timeout: Duration, onExpiry: @escaping @Sendable () -> Void, _ operation: @escaping @Sendable () async -> T
) async -> T? {
    let pending = NIOLockedValueBox<CheckedContinuation<T?, Never>?>(nil)
    let finished = NIOLockedValueBox(false)
    let timer = NIOLockedValueBox<Task<Void, Never>?>(nil)
    @Sendable func finish(_ value: T?) {
        let continuation: CheckedContinuation<T?, Never>? = pending.withLockedValue { c in
            let taken = c
            c = nil
            return taken
        }
        let first = finished.withLockedValue { done in
            defer { done = true }
            return !done
        }
        if let continuation { continuation.resume(returning: value) }
        if value == nil, first { onExpiry() }
        // A finished operation needs no timer; a cancelled one wakes, finds nothing to do, ends.
        if value != nil { timer.withLockedValue { $0 }?.cancel() }
    }
    return await withTaskCancellationHandler {
        await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
            pending.withLockedValue { $0 = continuation }
            Task { finish(await operation()) }
            timer.withLockedValue { slot in
                slot = Task {
                    try? await Task.sleep(for: timeout)
                    finish(nil)
                }
            }
        }
    } onCancel: {
        finish(nil)
    }
}
