import ArgumentParser
import CarrierWire
import ElastosCarrier
import Foundation

struct PeerDHTProvide: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provide",
        abstract: "Announce this node as a provider of a key (ADD_PROVIDER to the k closest peers).",
        discussion: """
            Prints `PROVIDED <key> <number of peers that took it>`. The record carries this node's \
            listen addresses: with --listen and --stay the node stays reachable as a DHT client \
            (printing a `PEER …` line for each peer that connects, e.g. one that found the record) \
            until --stay seconds pass or standard input closes. A DHT server that provides is \
            `peer listen --dht-server --provide <key>`.
            """
    )

    @Argument(help: ArgumentHelp("A CID, or any text (its UTF-8 bytes are the key).", valueName: "key")) var key: String
    @Option(name: .long, help: ArgumentHelp("A multiaddr to listen on while providing (repeatable).", valueName: "multiaddr"))
    var listen: [String] = []
    @Option(help: "Seconds to stay reachable after providing (0: exit at once).") var stay = 0
    @OptionGroup var dht: DHTOptions
    @OptionGroup var home: HomeOption

    func run() throws {
        let keyBytes = PeerDHT.key(key), key = self.key, stay = self.stay
        let texts = listen.isEmpty && stay > 0 ? ["/ip4/127.0.0.1/tcp/0"] : listen
        let addresses = try texts.map { text in
            do { return try Multiaddr(parsing: text) } catch { throw CLIError("--listen \(text): \(error)") }
        }
        try PeerDHT.withDHT(key: try home.nodeKey(), options: dht, listen: addresses, mode: .client, stay: stay) { dht in
            let count = try await dht.provide(key: keyBytes)
            guard count > 0 else { throw CLIError("no peer took the provider record for \(key)") }
            if stay > 0 { PeerListen.announcePeers(of: dht.node) }
            return dht.node.listenAddrs.map { "LISTEN \($0.appending(peer: dht.node.peerID))" } + ["PROVIDED \(key) \(count)"]
        }
    }
}
