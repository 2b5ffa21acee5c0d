import ArgumentParser
import CarrierWire
import ElastosCarrier
import Foundation

struct PeerDHTFindPeer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "find-peer",
        abstract: "Find a peer's addresses through the DHT and connect to it.",
        discussion: """
            Prints `FOUND <PeerID>`, one `ADDR <multiaddr>/p2p/<PeerID>` line per address, then \
            `CONNECTED <PeerID>` once a connection to a found address succeeded (skip that with \
            --no-connect). Exits 1 if the peer is not found or cannot be reached.
            """
    )

    @Argument(help: ArgumentHelp("The PeerID to look for.", valueName: "peer-id")) var peer: String
    @Flag(help: "Only print the addresses; do not dial them.") var noConnect = false
    @OptionGroup var dht: DHTOptions
    @OptionGroup var home: HomeOption

    func run() throws {
        let target: Libp2pPeerID
        do { target = try Libp2pPeerID(parsing: peer) } catch { throw CLIError("\(peer): \(error)") }
        let connect = !noConnect
        try PeerDHT.withDHT(key: try home.nodeKey(), options: dht, listen: [], mode: .client) { dht in
            let found = try await dht.findPeer(target)
            var lines = ["FOUND \(target)"] + found.addrs.map { "ADDR \($0)/p2p/\(target)" }
            if connect {
                var reached = false
                for addr in found.addrs {
                    let full = Multiaddr(components: addr.components + [.p2p(target.multihash.bytes)])
                    if (try? await dht.node.dial(full)) != nil { reached = true; break }
                }
                guard reached else { throw CLIError("found \(target) but none of its addresses answered") }
                lines.append("CONNECTED \(target)")
            }
            return lines
        }
    }
}
