import ArgumentParser
import ElastosCapsule
import ElastosCore
import Foundation

struct CapsuleTrustRemove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Stop trusting a publisher. Its installed capsules become untrusted at once. Recorded in the audit log."
    )

    @Argument(help: ArgumentHelp("The publisher's did:key.", valueName: "did")) var did: String
    @OptionGroup var home: HomeOption

    func run() throws {
        let publisher = try parseDID(did, option: "did")
        let node = try home.openNode()
        defer { try? node.close() }
        var list = try capsuleStep { () throws(CapsuleError) in try TrustList(home: node.home) }
        guard try capsuleStep({ () throws(CapsuleError) in try list.remove(publisher) }) else {
            throw CLIError("\(publisher) is not on the trust list")
        }
        node.audit.record(AuditEvent(event: "trust.publisher.removed", subject: "operator", resource: publisher.description,
                                     decision: .info, reason: "publisher removed from \(list.path)"))
        print("no longer trusted: \(publisher)")
    }
}
