import CarrierWire
import ElastosCarrier
import ElastosCore
import ElastosPeer
import ElastosRuntime
import PeerWire
import Foundation

/// Carrier inside `elastos node`: the node's libp2p peer (its PeerID is the node key's), and the
/// control-API ops `elastos peer ticket|connect|peers` use on a running node:
///   {"op":"peer.ticket"}                 → {"ok":true,"ticket":…,"peer":…,"addresses":[…]}
///   {"op":"peer.connect","target":…}     → {"ok":true,"peer":…,"address":…} (a ticket or a multiaddr)
///   {"op":"peer.peers"}                  → {"ok":true,"peers":[{peer,address,outbound,agent,protocols}]}
final class NodeCarrier: ControlExtension {
    let service: PeerService
    let ops: Set<String> = ["peer.ticket", "peer.connect", "peer.peers"]

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
                ["peer": info.peer.description, "address": info.remoteAddress?.description ?? "", "outbound": info.isOutbound,
                 "agent": info.agentVersion ?? "", "protocols": info.protocols]
            }]
        case "peer.connect":
            let target = request["target"] as? String ?? ""
            do {
                let (peer, address) = try connect(target)
                return ["ok": true, "peer": peer, "address": address]
            } catch {
                return ["ok": false, "error": "\(error)"]
            }
        default:
            return ["ok": false, "error": "unknown op \(op)"]
        }
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
