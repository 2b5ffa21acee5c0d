import ArgumentParser
import ElastosCapsule
import ElastosCore
import ElastosNode
import Foundation

struct CapsuleInstall: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Install a signed capsule package into this node's capsule store.",
        discussion: """
            Every block, the manifest and the signature are checked before anything is stored. A \
            directory is not signed, so it is refused unless --dev signs it with this node's key \
            (trust level 'node', for development). A capsule by a publisher not on the trust list \
            installs with a warning and is never granted anything automatically. Installing a new \
            version of a capsule from the same publisher replaces the old one; a capsule of the same \
            name from another publisher must be removed first. Recorded in the audit log.
            """
    )

    @Argument(help: ArgumentHelp("The package, or with --dev a directory.", valueName: "dir|package")) var source: String
    @Flag(help: "Sign a directory with this node's key and install it (development only).") var dev = false
    @OptionGroup var home: HomeOption

    func run() throws {
        let isDirectory = (try? FileManager.default.attributesOfItem(atPath: source)[.type] as? FileAttributeType) == .typeDirectory
        if dev && !isDirectory {
            throw CLIError("--dev signs a capsule directory; \(source) is a package, which is installed with its own signature")
        }
        let node = try home.openNode()
        defer { try? node.close() }
        let store = CapsuleStore(node: node)
        let result = try capsuleStep { () throws(CapsuleError) in try store.install(path: source, devKey: dev ? node.key : nil) }
        let c = result.capsule
        if result.alreadyInstalled {
            print("already installed: \(c.name) \(c.version) \(c.cid) (\(c.trust))")
        } else {
            print("installed \(c.name) \(c.version) \(c.cid) (\(c.trust))")
            if let old = result.replaced { note("replaced \(old.name) \(old.version) \(old.cid)") }
        }
        if c.trust == .untrusted { warn("\(c.publisher) is not on this node's trust list: \(c.name) \(untrustedWarning)") }
    }
}
