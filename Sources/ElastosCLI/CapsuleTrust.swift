import ArgumentParser
import Foundation

struct CapsuleTrust: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trust",
        abstract: "Manage the publishers this node trusts (<home>/trust/publishers).",
        discussion: """
            A capsule signed by a trusted publisher has trust level 'trusted'; a valid signature by \
            anyone else is 'untrusted' (runs only with a warning, granted nothing automatically); \
            the node's own key is 'node'. Changes take effect at once for installed capsules.
            """,
        subcommands: [CapsuleTrustAdd.self, CapsuleTrustRemove.self, CapsuleTrustList.self]
    )
}
