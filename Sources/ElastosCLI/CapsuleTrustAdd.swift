import ArgumentParser
import ElastosCapsule
import ElastosCore
import Foundation

struct CapsuleTrustAdd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Trust a publisher's did:key. Recorded in the audit log."
    )

    @Argument(help: ArgumentHelp("The publisher's did:key.", valueName: "did")) var did: String
    @OptionGroup var home: HomeOption

    func run() throws {
        let publisher = try parseDID(did, option: "did")
        let node = try home.openNode()
        defer { try? node.close() }
        var list = try capsuleStep { () throws(CapsuleError) in try TrustList(home: node.home) }
        guard try capsuleStep({ () throws(CapsuleError) in try list.add(publisher) }) else {
            print("already trusted: \(publisher)")
            return
        }
        node.audit.record(AuditEvent(event: "trust.publisher.added", subject: "operator", resource: publisher.description,
                                     decision: .info, reason: "publisher added to \(list.path)"))
        print("trusted \(publisher)")
    }
}
