import ArgumentParser
import CarrierWire
import ElastosCarrier
import Foundation

struct PeerDHTGet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Fetch the newest valid signed value for an /elastos/<PeerID>/<name> key.",
        discussion: """
            Answers whose signature, publisher or expiry do not check out are ignored. Prints \
            `VALUE <key> seq=<n> <value as UTF-8>`; exits 1 if no valid record is found.
            """
    )

    @Argument(help: "The key, /elastos/<publisher PeerID>/<name>.") var key: String
    @OptionGroup var dht: DHTOptions
    @OptionGroup var home: HomeOption

    func run() throws {
        let key = self.key
        try PeerDHT.withDHT(key: try home.nodeKey(), options: dht, listen: [], mode: .client) { dht in
            let record = try await dht.getValue(key: key)
            return ["VALUE \(record.key) seq=\(record.sequence) \(String(decoding: record.value, as: UTF8.self))"]
        }
    }
}
