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

    init(carrier: CarrierNode, pubsub: GossipSub, did: String, relayService: CircuitRelayService?) {
        self.carrier = carrier; self.pubsub = pubsub; self.did = did
        self.relayService = relayService
        relayClient = CircuitRelayClient(node: carrier)
        holePunch = DCUtRService(node: carrier)
    }

    /// Starts DCUtR after each circuit the relay client accepts.
    func startHolePunching() async {
        let holePunch = self.holePunch
        await relayClient.onCircuit { peer in await holePunch.upgrade(peer) }
    }

    /// Starts Carrier on `addresses` (port 0 picks a free one) and GossipSub on it; with
    /// `relayService`, also relays circuits for other peers within those limits.
    public static func start(identity: SigningKey, listening addresses: [Multiaddr],
                             pubsub config: GossipSubConfig = GossipSubConfig(),
                             relayService: RelayServiceConfig? = nil) async throws(CarrierError) -> PeerService {
        let node = CarrierNode(identity: identity)
        let relay = relayService.map { CircuitRelayService(node: node, config: $0) }
        do { try await node.start(listening: addresses) } catch {
            await node.stop()
            throw error
        }
        let pubsub = GossipSub(node: node, config: config)
        await pubsub.start()
        let service = PeerService(carrier: node, pubsub: pubsub, did: identity.publicKey.did.description, relayService: relay)
        await service.startHolePunching()
        return service
    }

    public func stop() async {
        await relayClient.stop()
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
