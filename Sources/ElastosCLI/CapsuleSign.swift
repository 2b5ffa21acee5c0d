import ArgumentParser
import ElastosCapsule
import ElastosCore
import ElastosNode
import Foundation

struct CapsuleSign: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Sign a capsule directory or package as its publisher, writing a signed package.",
        discussion: """
            The signature is Ed25519 in the domain 'elastos.capsule.v1' over the capsule's CID, which \
            covers every file and name. Without --key the node's own key signs (the development path: \
            such capsules have trust level 'node' on this node and are untrusted elsewhere); with \
            --key, an elastos key file (the format of <home>/identity/node.key) signs as that publisher. \
            The package goes to --out, else <name>-<version>.car for a directory, else back over the \
            package that was given (atomically). Any earlier signature is replaced.
            """
    )

    @Argument(help: ArgumentHelp("The capsule directory or package.", valueName: "dir|package")) var source: String
    @Option(help: ArgumentHelp("Sign with this key file instead of the node key.", valueName: "keyfile")) var key: String?
    @Option(help: ArgumentHelp("Where to write the signed package.", valueName: "package")) var out: String?
    @OptionGroup var home: HomeOption

    func run() throws {
        let package = try capsuleStep { () throws(CapsuleError) in try CapsulePackage(path: source) }
        let isDirectory = (try? FileManager.default.attributesOfItem(atPath: source)[.type] as? FileAttributeType) == .typeDirectory
        let manifest = package.content.manifest
        let target = out ?? (isDirectory ? "\(manifest.name)-\(manifest.version).car" : source)
        let signed: CapsulePackage
        if let key {
            let signer: SigningKey
            do {
                guard let k = try NodeKeyStore.load(key) else { throw CLIError("no key file at \(key)") }
                signer = k
            } catch let e as NodeKeyError { throw CLIError(e.description) }
            signed = package.signed(by: signer)
            try capsuleStep { () throws(CapsuleError) in try signed.write(to: target) }
        } else {
            let node = try home.openNode()
            defer { try? node.close() }
            signed = package.signed(by: node.key)
            try capsuleStep { () throws(CapsuleError) in try signed.write(to: target) }
            node.audit.record(AuditEvent(event: "capsule.signed", subject: node.did.description, resource: package.cid.description,
                                         decision: .info, reason: "\(manifest.name) \(manifest.version) signed with the node key, written to \(target)"))
        }
        print(signed.cid)
        note("signed by \(signed.signature.map { $0.publisher.description } ?? "?"), written to \(target)")
    }
}
