#if canImport(Glibc)
import Glibc
#endif
public import CarrierWire
public import ElastosCarrier
public import ElastosCore
import Foundation
public import PeerWire
import Synchronization

/// Carrier as one node runs it: the libp2p peer (its PeerID is the node key's) with GossipSub on
/// top, and the few things everything else asks of it (a ticket, connecting, the peer list).
/// `elastos node --listen` starts one; the control API (`elastos peer ticket|connect|peers`) and
/// the `elastos://peer/` provider for capsules both use it.
public final class PeerService: Sendable {
    public let carrier: CarrierNode
    public let pubsub: GossipSub
    /// The node key as a did:key: the same key as the PeerID.
    public let did: String
    /// The Circuit Relay v2 hop service, when this node relays for others (`--relay-service`).
    public let relayService: CircuitRelayService?
    /// Reserves on relays (`--relay`) and accepts the circuits they bring.
    public let relayClient: CircuitRelayClient
    /// DCUtR: each accepted circuit is followed by an attempt at a direct connection.
    public let holePunch: DCUtRService
    /// The relay (ending in /p2p/<relay>) of the first reservation, written into the ticket.
    private let ticketRelay = Mutex<Multiaddr?>(nil)
    /// The Kademlia DHT (server mode), unless discovery turned it off.
    public let dht: KademliaDHT?
    /// Rendezvous on each joined topic's DHT key, if on.
    public let rendezvous: TopicRendezvous?
    /// mDNS on the local link, if on.
    public let mdns: MDNSDiscovery?
    private let bootstrapTask: Task<Void, Never>?

    init(carrier: CarrierNode, pubsub: GossipSub, did: String, relayService: CircuitRelayService? = nil, dht: KademliaDHT? = nil,
         rendezvous: TopicRendezvous? = nil, mdns: MDNSDiscovery? = nil, bootstrapTask: Task<Void, Never>? = nil) {
        self.carrier = carrier; self.pubsub = pubsub; self.did = did
        self.relayService = relayService
        relayClient = CircuitRelayClient(node: carrier)
        holePunch = DCUtRService(node: carrier)
        self.dht = dht; self.rendezvous = rendezvous; self.mdns = mdns; self.bootstrapTask = bootstrapTask
    }

    /// Starts DCUtR after each circuit the relay client accepts.
    func startHolePunching() async {
        let holePunch = self.holePunch
        await relayClient.onCircuit { peer in await holePunch.upgrade(peer) }
    }

    /// How the node finds peers besides tickets (docs/CARRIER.md, "Discovery").
    public struct Discovery: Sendable {
        /// Run the Kademlia DHT (client and server). Rendezvous needs it.
        public var dht = true
        /// DHT peers to join at start (each with its `/p2p/`); retried until one answers.
        public var bootstrap: [Multiaddr] = []
        /// Rendezvous on each joined topic's DHT key; nil: off.
        public var rendezvous: RendezvousConfig? = RendezvousConfig()
        /// mDNS on the local link; nil: off (the library default, as it binds UDP 5353;
        /// `elastos node` turns it on).
        public var mdns: MDNSConfig?
        /// DHT settings (server mode).
        public var kad = KadConfig(mode: .server)

        public init() {}
        /// No DHT, no rendezvous, no mDNS: peers only through tickets.
        public static var none: Discovery {
            var d = Discovery()
            d.dht = false
            d.rendezvous = nil
            return d
        }
    }

    /// Starts Carrier on `addresses` (port 0 picks a free one), GossipSub on it, and `discovery`;
    /// with `relayService`, also relays circuits for other peers within those limits.
    public static func start(identity: SigningKey, listening addresses: [Multiaddr],
                             pubsub config: GossipSubConfig = GossipSubConfig(),
                             discovery: Discovery = Discovery(),
                             relayService: RelayServiceConfig? = nil) async throws(CarrierError) -> PeerService {
        let node = CarrierNode(identity: identity)
        let relay = relayService.map { CircuitRelayService(node: node, config: $0) }
        do { try await node.start(listening: addresses) } catch {
            await node.stop()
            throw error
        }
        let pubsub = GossipSub(node: node, config: config)
        await pubsub.start()
        var dht: KademliaDHT?
        var rendezvous: TopicRendezvous?
        var bootstrapTask: Task<Void, Never>?
        if discovery.dht {
            let started = await node.startDHT(discovery.kad)
            dht = started
            if !discovery.bootstrap.isEmpty { bootstrapTask = Self.keepBootstrapping(started, discovery.bootstrap) }
            if let config = discovery.rendezvous {
                let meeting = TopicRendezvous(dht: started, carrier: node, config: config)
                rendezvous = meeting
                await pubsub.observeTopics { topic, joined in Task { await meeting.topic(topic, joined: joined) } }
                for topic in await pubsub.topics { await meeting.topic(topic, joined: true) }
            }
        }
        var mdns: MDNSDiscovery?
        if let config = discovery.mdns {
            let dialling = DialSet()
            do {
                mdns = try await MDNSDiscovery.start(peer: node.libp2pPeerID, addresses: { node.directAdvertisedAddrs }, config: config) { peer, addrs in
                    Task { await dialling.dial(peer, addrs, on: node) }
                }
            } catch {
                // mDNS is a convenience: a node whose 5353 is taken or has no multicast still runs.
                FileHandle.standardError.write(Data("elastos: mDNS discovery is off: \(error)\n".utf8))
            }
        }
        let service = PeerService(carrier: node, pubsub: pubsub, did: identity.publicKey.did.description, relayService: relay,
                                  dht: dht, rendezvous: rendezvous, mdns: mdns, bootstrapTask: bootstrapTask)
        await service.startHolePunching()
        return service
    }

    /// Bootstraps the DHT from `peers`, again after 1, 2, 5, 10, then every 30 s while none
    /// answers (a bootstrap node started later is still found).
    private static func keepBootstrapping(_ dht: KademliaDHT, _ peers: [Multiaddr]) -> Task<Void, Never> {
        Task {
            let delays: [Duration] = [.seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30)]
            var step = 0
            while !Task.isCancelled {
                do {
                    try await dht.bootstrap(peers)
                    return
                } catch {
                    if step == 2 { FileHandle.standardError.write(Data("elastos: DHT bootstrap: \(error) (retrying)\n".utf8)) }
                }
                try? await Task.sleep(for: delays[min(step, delays.count - 1)])
                step += 1
            }
        }
    }

    public func stop() async {
        await relayClient.stop()
        bootstrapTask?.cancel()
        await rendezvous?.stop()
        await mdns?.stop()
        await pubsub.stop()
        await carrier.stop()
    }

    /// Reserves a slot on the relay at `address` (`…/p2p/<relay>`), renewed before it expires;
    /// the first relay reserved on goes into the ticket.
    @discardableResult
    public func reserve(on address: Multiaddr) async throws(CarrierError) -> RelayReservationInfo {
        let info = try await relayClient.reserve(on: address)
        ticketRelay.withLock { if $0 == nil { $0 = info.relayAddress } }
        return info
    }

    /// This node's ticket: its PeerID, every address it can be dialled on, and the relay it
    /// holds a reservation on (if any).
    public var ticket: Ticket {
        Ticket(peer: carrier.libp2pPeerID, addresses: Self.dialable(carrier.listenAddrs), relay: ticketRelay.withLock { $0 })
    }

    public var selfInfo: PeerSelf {
        let t = ticket
        return PeerSelf(peer: t.peer.description, did: did, ticket: t.description, addresses: t.addresses.map(\.description))
    }

    public func peers() async -> [PeerEntry] {
        await carrier.peers().map { PeerEntry(peer: $0.peer.description, address: $0.remoteAddress?.description ?? "", outbound: $0.isOutbound) }
            .sorted { $0.peer < $1.peer }
    }

    /// Dials a ticket's addresses in order (direct first) or one multiaddr; the remote must prove
    /// the ticket's PeerID (Noise checks it).
    public func connect(_ target: String) async throws(PeerConnectError) -> PeerEntry {
        let candidates: [Multiaddr]
        let text = target.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix(Ticket.prefix) {
            do { candidates = try Ticket(parsing: text).dialAddresses } catch { throw .invalidTarget("\(error)") }
        } else {
            do { candidates = [try Multiaddr(parsing: text)] } catch {
                throw .invalidTarget("\(text.prefix(80)) is neither a ticket (\(Ticket.prefix)…) nor a multiaddr: \(error)")
            }
        }
        var failures: [String] = []
        for address in candidates where address.tcpEndpoint != nil {
            do {
                let peer = try await carrier.dial(address)
                return PeerEntry(peer: peer.description, address: address.description, outbound: true)
            } catch {
                failures.append("\(address): \(error)")
            }
        }
        throw failures.isEmpty ? .invalidTarget("no dialable (TCP) address in \(text.prefix(80))")
            : .unreachable("cannot connect: " + failures.joined(separator: "; "))
    }

    // MARK: Addresses

    /// Listen addresses as others can dial them: an unspecified address (0.0.0.0 or ::) stands
    /// for each of the machine's addresses of that family.
    public static func dialable(_ listening: [Multiaddr]) -> [Multiaddr] {
        var out: [Multiaddr] = []
        for address in listening {
            guard let first = address.components.first else { continue }
            let rest = Array(address.components.dropFirst())
            switch first {
            case .ip4(let b) where b == [0, 0, 0, 0]:
                out += interfaceAddresses(family: AF_INET).map { Multiaddr(components: [$0] + rest) }
            case .ip6(let b) where b.allSatisfy({ $0 == 0 }):
                out += interfaceAddresses(family: AF_INET6).map { Multiaddr(components: [$0] + rest) }
            default:
                out.append(address)
            }
        }
        var seen = Set<String>()
        return out.filter { seen.insert($0.description).inserted }
    }

    /// The machine's addresses of one family (link-local IPv6 left out: it needs a zone).
    static func interfaceAddresses(family: Int32) -> [MultiaddrComponent] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var out: [MultiaddrComponent] = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let sa = entry.pointee.ifa_addr, Int32(sa.pointee.sa_family) == family,
                  entry.pointee.ifa_flags & UInt32(IFF_UP) != 0 else { continue }
            if family == AF_INET {
                let b = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { withUnsafeBytes(of: $0.pointee.sin_addr) { Array($0) } }
                out.append(.ip4(b))
            } else {
                let b = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { withUnsafeBytes(of: $0.pointee.sin6_addr) { Array($0) } }
                if b[0] == 0xfe && b[1] & 0xc0 == 0x80 { continue }
                out.append(.ip6(b))
            }
        }
        return out
    }
}

/// Dials peers that mDNS announced, one attempt at a time per peer, unless connected already.
actor DialSet {
    private var inFlight: Set<Libp2pPeerID> = []

    func dial(_ peer: Libp2pPeerID, _ addrs: [Multiaddr], on node: CarrierNode) async {
        guard peer != node.libp2pPeerID, !inFlight.contains(peer), !(await node.isConnected(peer)) else { return }
        inFlight.insert(peer)
        defer { inFlight.remove(peer) }
        for address in addrs where address.tcpEndpoint != nil {
            if (try? await node.dial(address)) != nil { return }
        }
    }
}

/// Why `connect` failed.
public enum PeerConnectError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Not a ticket or multiaddr, or nothing in it can be dialled.
    case invalidTarget(String)
    /// Every address was tried and none answered as the expected peer.
    case unreachable(String)

    public var description: String {
        switch self {
        case .invalidTarget(let s), .unreachable(let s): s
        }
    }
}

/// Runs async Carrier work from a synchronous caller: a capsule's channel thread, a WASM guest's
/// thread or a control-API connection, never a Swift-concurrency task (it would hold a thread of
/// the cooperative pool while it waits).
public func waitForAsync<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var result: T?
    Task.detached {
        result = await body()
        done.signal()
    }
    done.wait()
    // The semaphore orders the write above before this read.
    return result!
}
