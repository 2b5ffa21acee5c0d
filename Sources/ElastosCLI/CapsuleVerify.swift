import ArgumentParser
import ElastosCapsule
import ElastosCore
import ElastosNode
import Foundation

struct CapsuleVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify a capsule package: every block, its CID and its publisher's signature.",
        discussion: """
            The CID is recomputed from the content, never taken from the package. Exit status 0 only \
            if the content is intact and the signature is valid (and by --publisher, if given). A \
            directory carries no signature, so verifying one fails after checking its content. The \
            trust level is shown against this node's trust list.
            """
    )

    @Argument(help: ArgumentHelp("The capsule package (or directory).", valueName: "dir|package")) var source: String
    @Option(help: ArgumentHelp("Require this publisher.", valueName: "did")) var publisher: String?
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var home: HomeOption

    func run() throws {
        let expected = try publisher.map { try parseDID($0, option: "--publisher") }
        let package = try capsuleStep { () throws(CapsuleError) in try CapsulePackage(path: source) }
        let signature = try capsuleStep { () throws(CapsuleError) in try package.verify(expectedPublisher: expected) }
        let trust: TrustLevel
        if signature.publisher == home.existingNodeDID {
            trust = .node
        } else {
            let list = try capsuleStep { () throws(CapsuleError) in try TrustList(home: home.resolved) }
            trust = list.contains(signature.publisher) ? .trusted : .untrusted
        }
        let m = package.content.manifest
        if json {
            print(JSONOutput.object(raw: [
                ("valid", "true"), ("cid", JSONOutput.quote(package.cid.description)), ("name", JSONOutput.quote(m.name)),
                ("version", JSONOutput.quote(m.version)), ("publisher", JSONOutput.quote(signature.publisher.description)),
                ("trust", JSONOutput.quote(trust.rawValue)),
            ]))
        } else {
            print("valid: \(m.name) \(m.version) \(package.cid) signed by \(signature.publisher) (\(trust))")
        }
        if trust == .untrusted { warn("\(signature.publisher) is not on this node's trust list: the capsule \(untrustedWarning)") }
    }
}
