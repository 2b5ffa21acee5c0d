import ArgumentParser
import CarrierWire
import ElastosCarrier
import Foundation

struct PeerDHTFindProviders: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "find-providers",
        abstract: "Find the peers that provide a key (GET_PROVIDERS lookup).",
        discussion: """
            Prints one `PROVIDER <PeerID> <multiaddr>…` line per provider found, then \
            `PROVIDERS <count>`. Exits 1 if there are none.
            """
    )

    @Argument(help: ArgumentHelp("A CID, or any text (its UTF-8 bytes are the key).", valueName: "key")) var key: String
    @Option(help: "Stop after this many providers.") var count = 20
    @OptionGroup var dht: DHTOptions
    @OptionGroup var home: HomeOption

    func run() throws {
        let keyBytes = PeerDHT.key(key), count = self.count, key = self.key
        try PeerDHT.withDHT(key: try home.nodeKey(), options: dht, listen: [], mode: .client) { dht in
            let providers = try await dht.findProviders(key: keyBytes, count: count)
            guard !providers.isEmpty else { throw CLIError("no providers found for \(key)") }
            return providers.map { "PROVIDER \($0.peer)" + $0.addrs.map { " \($0)" }.joined() } + ["PROVIDERS \(providers.count)"]
        }
    }
}
