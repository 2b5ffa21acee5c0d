import ArgumentParser
import ElastosCapsule
import ElastosCore
import Foundation

struct CapsuleList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the installed capsules with their publisher's current trust level."
    )

    @Flag(help: "Print JSON (one array).") var json = false
    @OptionGroup var home: HomeOption

    func run() throws {
        let store = try home.readOnlyStore()
        let all = try capsuleStep { () throws(CapsuleError) in try store.list() }
        if json {
            let items = all.map { c in
                JSONOutput.object(raw: [
                    ("name", JSONOutput.quote(c.name)), ("version", JSONOutput.quote(c.version)),
                    ("type", JSONOutput.quote(c.type.rawValue)), ("role", JSONOutput.quote(c.role.rawValue)),
                    ("cid", JSONOutput.quote(c.cid.description)), ("publisher", JSONOutput.quote(c.publisher.description)),
                    ("trust", JSONOutput.quote(c.trust.rawValue)), ("installed_at", String(c.installedAt)),
                ])
            }
            print("[" + items.joined(separator: ",") + "]")
            return
        }
        if all.isEmpty {
            print("no capsules installed")
            return
        }
        for c in all {
            print("\(c.name) \(c.version) \(c.type.rawValue)/\(c.role.rawValue) \(c.trust) \(c.cid) \(c.publisher)")
        }
    }
}
