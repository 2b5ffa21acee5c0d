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
            listen addresses, so to be reachable as a provider, use `peer listen --dht-server \
            --provide <key>` instead, which keeps serving.
            """
    )

    @Argument(help: ArgumentHelp("A CID, or any text (its UTF-8 bytes are the key).", valueName: "key")) var key: String
    @OptionGroup var dht: DHTOptions
    @OptionGroup var home: HomeOption

    func run() throws {
        let keyBytes = PeerDHT.key(key), key = self.key
        let lines = try PeerDHT.withDHT(key: try home.nodeKey(), options: dht, listen: [], mode: .client) { dht in
            let count = try await dht.provide(key: keyBytes)
            guard count > 0 else { throw CLIError("no peer took the provider record for \(key)") }
            return ["PROVIDED \(key) \(count)"]
        }
        PeerDHT.emit(lines)
    }
}
