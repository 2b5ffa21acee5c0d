import ArgumentParser
import ElastosCapsule
import ElastosCore
import Foundation

struct CapsuleTrustList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the trusted publishers."
    )

    @Flag(help: "Print JSON (one array of DIDs).") var json = false
    @OptionGroup var home: HomeOption

    func run() throws {
        let list = try capsuleStep { () throws(CapsuleError) in try TrustList(home: home.resolved) }
        if json {
            print("[" + list.publishers.map { JSONOutput.quote($0.description) }.joined(separator: ",") + "]")
        } else if list.publishers.isEmpty {
            print("no trusted publishers (add one with 'elastos capsule trust add <did>')")
        } else {
            for p in list.publishers { print(p) }
        }
    }
}
