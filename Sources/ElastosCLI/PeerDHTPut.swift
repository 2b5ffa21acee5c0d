import ArgumentParser
import CarrierWire
import ElastosCarrier
import Foundation

struct PeerDHTPut: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put",
        abstract: "Publish a signed value under /elastos/<this PeerID>/<name>.",
        discussion: """
            Signs the value with the node key (sequence = now in milliseconds, so a later put \
            wins) and stores it at the k closest peers. Prints `PUT <key> seq=<n> stored-at=<peers>`.
            """
    )

    @Argument(help: "The record's name (1–256 bytes).") var name: String
    @Argument(help: "The value (UTF-8, at most 16 KiB).") var value: String
    @OptionGroup var dht: DHTOptions
    @OptionGroup var home: HomeOption

    func run() throws {
        let name = self.name, value = Array(self.value.utf8)
        try PeerDHT.withDHT(key: try home.nodeKey(), options: dht, listen: [], mode: .client) { dht in
            let (record, stored) = try await dht.putValue(name: name, value: value)
            guard stored > 0 else { throw CLIError("no peer stored \(record.key)") }
            return ["PUT \(record.key) seq=\(record.sequence) stored-at=\(stored)"]
        }
    }
}
