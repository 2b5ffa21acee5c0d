import ArgumentParser
import ElastosCapsule
import ElastosCore
import Foundation

struct CapsuleRemove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove an installed capsule (by name or CID) and the blocks nothing else uses.",
        discussion: "Recorded in the audit log."
    )

    @Argument(help: ArgumentHelp("The capsule's name or CID.", valueName: "name|cid")) var capsule: String
    @OptionGroup var home: HomeOption

    func run() throws {
        let node = try home.openNode()
        defer { try? node.close() }
        let store = CapsuleStore(node: node)
        let removed = try capsuleStep { () throws(CapsuleError) in try store.remove(capsule) }
        print("removed \(removed.name) \(removed.version) \(removed.cid)")
    }
}
