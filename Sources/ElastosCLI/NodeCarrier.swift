import CarrierWire
import ElastosCarrier
import ElastosCore
import ElastosPeer
import ElastosRuntime
import PeerWire
import Foundation
import Synchronization

/// Carrier inside `elastos node`: the node's libp2p peer (its PeerID is the node key's), and the
/// control-API ops `elastos peer ticket|connect|peers` use on a running node:
///   {"op":"peer.ticket"}                 → {"ok":true,"ticket":…,"peer":…,"addresses":[…]}
///   {"op":"peer.connect","target":…}     → {"ok":true,"peer":…,"address":…} (a ticket or a multiaddr)
///   {"op":"peer.peers"}                  → {"ok":true,"peers":[{peer,address,outbound,agent,protocols,listen_addrs,
///                                           certified_addrs (only with a valid signed peer record)}]}
///   {"op":"peer.reserve","relay":…}      → {"ok":true,"relay":…,"circuit_address":…,"expire":…,"voucher":bool}
///                                          (a reservation renewed until the node stops; connected peers
///                                          learn the circuit address by identify push)
///   {"op":"peer.ping","target":…,"count":N}
///                                        → {"ok":true,"peer":…,"address":…,"agent":…,"protocol_version":…,
///                                           "protocols":[…],"listen_addrs":[…],"rtt_ms":[…]}
///                                          (a connected PeerID, a ticket or a multiaddr)
///   {"op":"peer.publish","topic":…,"data_hex":…,"wait_peers":N,"timeout":S}
///                                        → {"ok":true,"id":…,"seqno":…,"peers":N} (signed with the node key)
///   {"op":"peer.subscribe","topic":…}    → {"ok":true,"subscribed":…}, then one line per event until the
///                                          client closes the connection:
///        {"event":"peer","peer":…}                   a peer announced the topic
///        {"event":"message",topic,from,seqno,data,data_hex,received_from}   a verified message
///        {"event":"dropped","count":N}               N events lost because the client read too slowly
final class NodeCarrier: ControlExtension {
    let service: PeerService
    let ops: Set<String> = ["peer.ticket", "peer.connect", "peer.peers", "peer.ping", "peer.publish", "peer.reserve"]
    let streamingOps: Set<String> = ["peer.subscribe"]

    /// Events a subscriber may fall behind by before new ones are dropped (and counted).
    static let subscriberBacklog = 4096
    /// The longest topic name accepted from the control API.
    static let topicLimit = 1024

    init(service: PeerService) { self.service = service }

    var carrier: CarrierNode { service.carrier }
    var ticket: Ticket { service.ticket }

    func handle(op: String, request: [String: Any]) -> [String: Any] {
        switch op {
        case "peer.ticket":
            let t = ticket
            return ["ok": true, "ticket": t.description, "peer": t.peer.description, "addresses": t.addresses.map(\.description)]
        case "peer.peers":
            let peers = (try? runBlocking { [carrier] in await carrier.peers() }) ?? []
            return ["ok": true, "peers": peers.map { info -> [String: Any] in
                var entry: [String: Any] = [
                    "peer": info.peer.description, "address": info.remoteAddress?.description ?? "", "outbound": info.isOutbound,
                    "agent": info.agentVersion ?? "", "protocols": info.protocols, "listen_addrs": info.listenAddrs.map(\.description)]
                if let certified = info.certifiedAddrs { entry["certified_addrs"] = certified.map(\.description) }
                return entry
            }]
        case "peer.reserve":
            return reserve(request["relay"] as? String ?? "")
        case "peer.connect":
            let target = request["target"] as? String ?? ""
            do {
                let (peer, address) = try connect(target)
                return ["ok": true, "peer": peer, "address": address]
            } catch {
                return ["ok": false, "error": "\(error)"]
            }
        case "peer.ping":
            return ping(target: request["target"] as? String ?? "", count: request["count"] as? Int ?? 3)
        case "peer.publish":
            return publish(request)
        default:
            return ["ok": false, "error": "unknown op \(op)"]
        }
    }

    /// Pings a peer from this node: one already connected (by PeerID), else a ticket or
    /// multiaddr dialled first. Reports what identify said and each round trip.
    func ping(target: String, count: Int) -> [String: Any] {
        guard (1...10_000).contains(count) else { return ["ok": false, "error": "count must be between 1 and 10000"] }
        let service = self.service
        let text = target.trimmingCharacters(in: .whitespacesAndNewlines)
        let outcome = waitForAsync { () -> Result<(Libp2pPeerID, PeerInfo?, [Duration]), PingFailure> in
            let peer: Libp2pPeerID
            if let id = try? Libp2pPeerID(parsing: text) {
                guard await service.carrier.peers().contains(where: { $0.peer == id }) else {
                    return .failure(PingFailure("not connected to \(id): give its ticket or multiaddr instead"))
                }
                peer = id
            } else {
                do throws(PeerConnectError) {
                    let entry = try await service.connect(text)
                    guard let id = try? Libp2pPeerID(parsing: entry.peer) else { return .failure(PingFailure("connected to an unreadable PeerID")) }
                    peer = id
                } catch {
                    return .failure(PingFailure(error.description))
                }
            }
            let info = await service.carrier.waitForIdentify(peer, timeout: .seconds(5))
            do throws(CarrierError) {
                return .success((peer, info, try await service.carrier.ping(peer, count: count)))
            } catch {
                return .failure(PingFailure("ping \(peer): \(error)"))
            }
        }
        switch outcome {
        case .failure(let failure):
            return ["ok": false, "error": failure.description]
        case .success(let (peer, info, rtts)):
            var reply: [String: Any] = ["ok": true, "peer": peer.description, "rtt_ms": rtts.map(Self.milliseconds)]
            if let info {
                reply["address"] = info.remoteAddress?.description ?? ""
                reply["agent"] = info.agentVersion ?? ""
                reply["protocol_version"] = info.protocolVersion ?? ""
                reply["protocols"] = info.protocols
                reply["listen_addrs"] = info.listenAddrs.map(\.description)
                if let seq = info.peerRecordSeq, let certified = info.certifiedAddrs {
                    reply["peer_record_seq"] = NSNumber(value: seq)
                    reply["certified_addrs"] = certified.map(\.description)
                }
            }
            return reply
        }
    }

    /// Reserves a slot on the relay at `text` (a multiaddr ending in /p2p/<relay>).
    func reserve(_ text: String) -> [String: Any] {
        let address: Multiaddr
        do { address = try Multiaddr(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines)) } catch {
            return ["ok": false, "error": "\(error)"]
        }
        let service = self.service
        let outcome = waitForAsync { () -> Result<RelayReservationInfo, PingFailure> in
            do throws(CarrierError) { return .success(try await service.reserve(on: address)) } catch {
                return .failure(PingFailure("reserve on \(address): \(error)"))
            }
        }
        switch outcome {
        case .failure(let failure): return ["ok": false, "error": failure.description]
        case .success(let info):
            return ["ok": true, "relay": info.relay.description, "circuit_address": "\(info.circuitAddress)/p2p/\(service.carrier.libp2pPeerID)",
                    "expire": Int(clamping: info.expire), "voucher": info.voucher != nil]
        }
    }

    /// Publishes one message on `topic`, signed with the node key, once `wait_peers` peers have
    /// announced the topic (0: at once); waits until it is written to every peer's stream.
    func publish(_ request: [String: Any]) -> [String: Any] {
        let topic = request["topic"] as? String ?? ""
        if let refusal = Self.refuse(topic: topic) { return ["ok": false, "error": refusal] }
        guard let data = PeerPub.bytes(hex: request["data_hex"] as? String ?? "") else {
            return ["ok": false, "error": "data_hex must be an even number of hex digits"]
        }
        let wait = request["wait_peers"] as? Int ?? 0
        let timeout = request["timeout"] as? Int ?? 30
        guard wait >= 0, (1...3600).contains(timeout) else { return ["ok": false, "error": "wait_peers must be ≥ 0 and timeout 1…3600 s"] }
        let pubsub = service.pubsub
        let outcome = waitForAsync { () -> Result<([UInt8], Int), PingFailure> in
            let deadline = ContinuousClock.now + .seconds(timeout)
            while await pubsub.peers(in: topic).count < wait {
                guard ContinuousClock.now < deadline else {
                    return .failure(PingFailure("fewer than \(wait) peers on \(topic) within \(timeout) s"))
                }
                try? await Task.sleep(for: .milliseconds(20))
            }
            let recipients = await pubsub.peers(in: topic).count
            do throws(PubsubError) {
                let id = try await pubsub.publish(topic, data)
                await pubsub.flush()
                return .success((id, recipients))
            } catch {
                return .failure(PingFailure("publish to \(topic): \(error)"))
            }
        }
        switch outcome {
        case .failure(let failure): return ["ok": false, "error": failure.description]
        case .success(let (id, peers)): return ["ok": true, "id": hex(id), "seqno": hex(Array(id.suffix(8))), "peers": peers]
        }
    }

    /// A subscription held open on the control connection: messages and topic peers are queued
    /// by the router's tasks and written by this (the connection's) thread, so a client that
    /// stops reading blocks only its own thread, and its backlog is bounded.
    func stream(op: String, request: [String: Any], connection: UnixConnection) {
        let topic = request["topic"] as? String ?? ""
        if let refusal = Self.refuse(topic: topic) {
            try? connection.sendLine(ControlServer.jsonLine(["ok": false, "error": refusal]))
            return
        }
        let pubsub = service.pubsub
        let messages = waitForAsync { await pubsub.subscribe(topic) }
        let queue = EventQueue(limit: Self.subscriberBacklog)
        let delivery = Task.detached {
            for await message in messages { queue.push(["event": "message"].merging(PeerSub.object(message)) { a, _ in a }) }
            queue.close()
        }
        let announcer = Task.detached {
            var announced: Set<Libp2pPeerID> = []
            while !Task.isCancelled {
                for peer in await pubsub.peers(in: topic) where !announced.contains(peer) {
                    announced.insert(peer)
                    queue.push(["event": "peer", "peer": peer.description])
                }
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        // The client ends the subscription by closing its end.
        let watcherDone = DispatchSemaphore(value: 0)
        let watcher = Thread {
            while (try? connection.readLine()) != nil {}
            queue.close()
            watcherDone.signal()
        }
        watcher.start()
        if (try? connection.sendLine(ControlServer.jsonLine(["ok": true, "subscribed": topic]))) != nil {
            while let line = queue.next() {
                guard (try? connection.sendLine(line)) != nil else { break }
            }
        }
        queue.close()
        delivery.cancel()
        announcer.cancel()
        // The caller closes the connection when this returns: the watcher must be off it first.
        connection.shutdown()
        watcherDone.wait()
    }

    static func refuse(topic: String) -> String? {
        if topic.isEmpty { return "a topic is needed" }
        if topic.utf8.count > topicLimit { return "topic over \(topicLimit) bytes" }
        return nil
    }

    static func milliseconds(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }

    /// Dials a ticket's addresses in order (direct first) or one multiaddr; the remote must prove
    /// the ticket's PeerID.
    func connect(_ target: String) throws -> (peer: String, address: String) {
        let service = self.service
        let result = waitForAsync { () -> Result<PeerEntry, PeerConnectError> in
            do throws(PeerConnectError) { return .success(try await service.connect(target)) } catch { return .failure(error) }
        }
        switch result {
        case .success(let entry): return (entry.peer, entry.address)
        case .failure(let e): throw CLIError(e.description)
        }
    }
}

struct PingFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A bounded, thread-safe queue of JSON lines from async producers to one blocking consumer.
/// When full, new lines are counted instead of kept; the count goes out, in order, as a
/// `dropped` event once there is room again.
final class EventQueue: Sendable {
    private struct State {
        var lines: [String] = []
        var head = 0
        var dropped = 0
        var closed = false
    }
    private let state = Mutex(State())
    private let ready = DispatchSemaphore(value: 0)
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func push(_ event: [String: Any]) { push(line: ControlServer.jsonLine(event)) }

    func push(line: String) {
        let queued = state.withLock { s -> Bool in
            guard !s.closed else { return false }
            if s.lines.count - s.head >= limit { s.dropped += 1; return false }
            if s.dropped > 0 {
                s.lines.append(ControlServer.jsonLine(["event": "dropped", "count": s.dropped]))
                s.dropped = 0
            }
            s.lines.append(line)
            return true
        }
        if queued { ready.signal() }
    }

    func close() {
        state.withLock { $0.closed = true }
        ready.signal()
    }

    /// The next line, waiting for one; nil once closed and drained.
    func next() -> String? {
        while true {
            let taken = state.withLock { s -> (line: String?, done: Bool) in
                guard s.head < s.lines.count else { return (nil, s.closed) }
                let line = s.lines[s.head]
                s.head += 1
                if s.head >= 1024, s.head * 2 >= s.lines.count { s.lines.removeFirst(s.head); s.head = 0 }
                return (line, false)
            }
            if taken.done { return nil }
            if let line = taken.line { return line }
            ready.wait()
        }
    }

    /// Lines waiting (for tests).
    var count: Int { state.withLock { $0.lines.count - $0.head } }
}
