import ElastosCore
import ElastosCarrier
public import ElastosRuntime
import Foundation
import PeerWire
import Synchronization

/// `elastos://peer/…`: Carrier for capsules, behind the same capability checks as every other
/// provider (docs/PEER.md). Bodies are PeerWire's binary forms.
///
///   read      elastos://peer/self          → PeerSelf (PeerID, did:key, ticket, addresses)
///   read      elastos://peer/peers         → PeerList of connected peers
///   subscribe elastos://peer/peers         → events: peerConnected / peerDisconnected
///   execute   elastos://peer/connect       body: a ticket or multiaddr (UTF-8) → PeerList (one entry)
///   subscribe elastos://peer/topic/<t>     joins GossipSub topic <t>; events: message
///   write     elastos://peer/topic/<t>     body: the message → PeerPublished
///   read      elastos://peer/topic/<t>     → PeerList of the peers on the topic
///
/// `<t>` is one URI segment, percent-decoded (`%23general` is `#general`). Subscriptions are
/// counted: the node leaves a topic when the last local subscriber ends, whichever capsule that
/// is, and one capsule leaving never ends another's subscription.
///
/// The router holds this provider from start-up; the Carrier behind it is bound when the node
/// starts one (`elastos node --listen`). Until then every call says Carrier is not running.
public final class PeerProvider: EventSource {
    public static let prefix = "elastos://peer"
    /// The largest message a capsule may publish.
    public static let maxMessage = 64 << 10
    public static let maxTopicLength = 256

    public var name: String { "peer" }
    private let state = Mutex(State())

    private struct State {
        var service: PeerService?
        var peerSinks: [UInt64: PeerSink] = [:]
        var nextSink: UInt64 = 1
    }

    public init() {}

    /// Binds the running Carrier; calls and subscriptions use it from now on.
    public func bind(_ service: PeerService) {
        state.withLock { $0.service = service }
        service.carrier.observeConnections { [weak self] peer, connected in
            self?.peerChanged(peer.description, connected: connected)
        }
    }

    public var isBound: Bool { state.withLock { $0.service != nil } }

    public func handle(_ call: ProviderCall) -> ProviderResult {
        guard let service = state.withLock({ $0.service }) else { return Self.notRunning }
        let path = call.resource.segments
        switch (call.action, path.first, path.count) {
        case (.read, "self", 1):
            return .ok(service.selfInfo.encoded())
        case (.read, "peers", 1):
            return .ok(PeerList(waitForAsync { await service.peers() }).encoded())
        case (.execute, "connect", 1):
            guard let target = String(validating: call.body, as: UTF8.self), !target.isEmpty, call.body.count <= 8192 else {
                return .failed(code: .invalidRequest, message: "connect takes a ticket or a multiaddr as UTF-8 text (at most 8 KiB)")
            }
            let result = waitForAsync { () -> Result<PeerEntry, PeerConnectError> in
                do throws(PeerConnectError) { return .success(try await service.connect(target)) } catch { return .failure(error) }
            }
            switch result {
            case .success(let entry): return .ok(PeerList([entry]).encoded())
            case .failure(.invalidTarget(let why)): return .failed(code: .invalidRequest, message: why)
            case .failure(.unreachable(let why)): return .failed(code: .providerFailed, message: why)
            }
        case (.write, "topic", 2):
            let topic: String
            switch Self.topic(call.resource) { case .success(let t): topic = t; case .failure(let f): return f.result }
            guard call.body.count <= Self.maxMessage else {
                return .failed(code: .invalidRequest, message: "a message may be at most \(Self.maxMessage) bytes; this one is \(call.body.count)")
            }
            let body = call.body
            let published = waitForAsync { () -> Result<PeerPublished, PubsubError> in
                let recipients = await service.pubsub.peers(in: topic).count
                do throws(PubsubError) {
                    let id = try await service.pubsub.publish(topic, body)
                    return .success(PeerPublished(id: id, recipients: UInt32(clamping: recipients)))
                } catch { return .failure(error) }
            }
            switch published {
            case .success(let p): return .ok(p.encoded())
            case .failure(let e): return .failed(code: .providerFailed, message: "cannot publish on \(topic): \(e)")
            }
        case (.read, "topic", 2):
            let topic: String
            switch Self.topic(call.resource) { case .success(let t): topic = t; case .failure(let f): return f.result }
            let peers = waitForAsync { await service.pubsub.peers(in: topic) }
            return .ok(PeerList(peers.map { PeerEntry(peer: $0.description, address: "", outbound: false) }.sorted { $0.peer < $1.peer }).encoded())
        default:
            return .failed(code: .invalidRequest, message: "elastos://peer has no \(call.action) on \(call.resource.text) (see docs/PEER.md)")
        }
    }

    public func subscribe(_ call: ProviderCall, sink: EventSink) -> SubscribeResult {
        guard let service = state.withLock({ $0.service }) else {
            guard case .failed(let code, let message) = Self.notRunning else { fatalError("unreachable") }
            return .failed(code: code, message: message)
        }
        let path = call.resource.segments
        let uri = call.resource.text
        switch (path.first, path.count) {
        case ("peers", 1):
            let peerSink = PeerSink(sink: sink, uri: uri)
            let id = state.withLock { s -> UInt64 in
                let id = s.nextSink
                s.nextSink += 1
                s.peerSinks[id] = peerSink
                return id
            }
            return .subscribed(PeerWatch { [weak self] in _ = self?.state.withLock { $0.peerSinks.removeValue(forKey: id) } })
        case ("topic", 2):
            let topic: String
            switch Self.topic(call.resource) {
            case .success(let t): topic = t
            case .failure(let f): return .failed(code: f.code, message: f.message)
            }
            let pubsub = service.pubsub
            let local = service.carrier.libp2pPeerID
            // Joined before the reply goes out, so nothing published after it is missed.
            let stream = waitForAsync { await pubsub.subscribe(topic) }
            let task = Task.detached {
                var lost: UInt32 = 0
                for await message in stream {
                    if lost > 0 {
                        guard sink.send(uri: uri, body: PeerEvent.lost(count: lost).encoded()) else { lost &+= 1; continue }
                        lost = 0
                    }
                    let event = PeerEvent.message(from: message.from.description, id: message.id, data: message.data,
                                                  local: message.receivedFrom == nil && message.from == local)
                    if !sink.send(uri: uri, body: event.encoded()) { lost &+= 1 }
                }
            }
            return .subscribed(TopicWatch(task: task))
        default:
            return .failed(code: .invalidRequest, message: "elastos://peer publishes events on peers and topic/<name> only, not \(uri)")
        }
    }

    // MARK: Internals

    private static let notRunning = ProviderResult.failed(
        code: .noProvider, message: "this node runs no Carrier peer; start it with `elastos node --listen <multiaddr>`")

    private func peerChanged(_ peer: String, connected: Bool) {
        let sinks = state.withLock { Array($0.peerSinks.values) }
        let body = (connected ? PeerEvent.peerConnected(peer: peer) : PeerEvent.peerDisconnected(peer: peer)).encoded()
        for s in sinks { s.deliver(body) }
    }

    struct Failure: Error {
        let code: CapsuleErrorCode
        let message: String
        var result: ProviderResult { .failed(code: code, message: message) }
    }

    /// The topic a `topic/<segment>` URI names: the segment percent-decoded, non-empty UTF-8 of
    /// at most ``maxTopicLength`` bytes.
    static func topic(_ resource: ResourceURI) -> Result<String, Failure> {
        let segment = resource.segments[1]
        guard let bytes = percentDecoded(segment), let text = String(validating: bytes, as: UTF8.self) else {
            return .failure(Failure(code: .invalidURI, message: "topic segment '\(segment.prefix(80))' is not percent-encoded UTF-8"))
        }
        guard !bytes.isEmpty, bytes.count <= maxTopicLength else {
            return .failure(Failure(code: .invalidURI, message: "a topic name is 1 to \(maxTopicLength) bytes; this one is \(bytes.count)"))
        }
        return .success(text)
    }

    static func percentDecoded(_ s: String) -> [UInt8]? {
        var out: [UInt8] = []
        var bytes = Array(s.utf8)[...]
        while let b = bytes.popFirst() {
            guard b == UInt8(ascii: "%") else { out.append(b); continue }
            guard bytes.count >= 2, let hi = hex(bytes.removeFirst()), let lo = hex(bytes.removeFirst()) else { return nil }
            out.append(hi << 4 | lo)
        }
        return out
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}

/// One `elastos://peer/peers` subscriber, with its count of events it could not take.
final class PeerSink: Sendable {
    let sink: EventSink
    let uri: String
    private let lost = Mutex<UInt32>(0)

    init(sink: EventSink, uri: String) { self.sink = sink; self.uri = uri }

    func deliver(_ body: [UInt8]) {
        lost.withLock { lost in
            if lost > 0 {
                guard sink.send(uri: uri, body: PeerEvent.lost(count: lost).encoded()) else { lost &+= 1; return }
                lost = 0
            }
            if !sink.send(uri: uri, body: body) { lost &+= 1 }
        }
    }
}

struct PeerWatch: EventSubscription {
    let end: @Sendable () -> Void
    init(_ end: @escaping @Sendable () -> Void) { self.end = end }
    func cancel() { end() }
}

/// A topic subscription: ending its task ends the GossipSub subscription, and the node leaves
/// the topic if it was the last one.
struct TopicWatch: EventSubscription {
    let task: Task<Void, Never>
    func cancel() { task.cancel() }
}
