#if canImport(Glibc)
import Glibc
#endif
import CarrierWire
import ElastosCarrier
import ElastosCore
import ElastosRuntime
import Foundation

/// Carrier inside `elastos node`: the node's libp2p peer (its PeerID is the node key's), and the
/// control-API ops `elastos peer ticket|connect|peers` use on a running node:
///   {"op":"peer.ticket"}                 → {"ok":true,"ticket":…,"peer":…,"addresses":[…]}
///   {"op":"peer.connect","target":…}     → {"ok":true,"peer":…,"address":…} (a ticket or a multiaddr)
///   {"op":"peer.peers"}                  → {"ok":true,"peers":[{peer,address,outbound,agent,protocols}]}
final class NodeCarrier: ControlExtension {
    let carrier: CarrierNode
    let ops: Set<String> = ["peer.ticket", "peer.connect", "peer.peers"]

    init(carrier: CarrierNode) { self.carrier = carrier }

    /// This node's ticket: its PeerID and every address it can be dialled on (an unspecified
    /// listen address, 0.0.0.0 or ::, stands for each of the machine's addresses of that family).
    var ticket: Ticket {
        Ticket(peer: Libp2pPeerID(carrier.peerID), addresses: Self.dialable(carrier.listenAddrs))
    }

    func handle(op: String, request: [String: Any]) -> [String: Any] {
        switch op {
        case "peer.ticket":
            let t = ticket
            return ["ok": true, "ticket": t.description, "peer": t.peer.description, "addresses": t.addresses.map(\.description)]
        case "peer.peers":
            let peers = (try? runBlocking { [carrier] in await carrier.peers() }) ?? []
            return ["ok": true, "peers": peers.map { info -> [String: Any] in
                ["peer": info.peer.description, "address": info.remoteAddress?.description ?? "", "outbound": info.isOutbound,
                 "agent": info.agentVersion ?? "", "protocols": info.protocols]
            }]
        case "peer.connect":
            let target = request["target"] as? String ?? ""
            do {
                let (peer, address) = try connect(target)
                return ["ok": true, "peer": peer.description, "address": address.description]
            } catch {
                return ["ok": false, "error": "\(error)"]
            }
        default:
            return ["ok": false, "error": "unknown op \(op)"]
        }
    }

    /// Dials a ticket's addresses in order (direct first) or one multiaddr; the remote must prove
    /// the ticket's PeerID.
    func connect(_ target: String) throws -> (Libp2pPeerID, Multiaddr) {
        let candidates: [Multiaddr]
        if target.hasPrefix(Ticket.prefix) {
            do { candidates = try Ticket(parsing: target).dialAddresses } catch { throw CLIError("\(error)") }
        } else {
            do { candidates = [try Multiaddr(parsing: target)] } catch {
                throw CLIError("\(target.prefix(80)) is neither a ticket (\(Ticket.prefix)…) nor a multiaddr: \(error)")
            }
        }
        var failures: [String] = []
        for address in candidates where address.tcpEndpoint != nil {
            do {
                let peer = try runBlocking { [carrier] in try await carrier.dial(address) }
                return (peer, address)
            } catch {
                failures.append("\(address): \(error)")
            }
        }
        throw CLIError(failures.isEmpty ? "no dialable (TCP) address in \(target.prefix(80))" : "cannot connect: " + failures.joined(separator: "; "))
    }

    /// Listen addresses as others can dial them.
    static func dialable(_ listening: [Multiaddr]) -> [Multiaddr] {
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
