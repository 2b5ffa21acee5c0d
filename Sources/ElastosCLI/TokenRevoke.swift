import ArgumentParser
import ElastosCore
import ElastosNode
import Foundation

struct TokenRevoke: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke one token by id, or every token at once by advancing the epoch.",
        discussion: """
            'elastos token revoke <id>' revokes that token and every delegation made from it. \
            'elastos token revoke --epoch' revokes all tokens issued so far. Both persist in the node \
            home and survive restarts. Without an id or --epoch, the token is read from standard input.
            """
    )

    @Argument(help: ArgumentHelp("The token id (32 hex characters), as shown by 'token inspect'.", valueName: "id"))
    var id: String?
    @Flag(help: "Advance the epoch: revoke every token issued before now.") var epoch = false
    @Option(help: "Why (recorded in the audit log).") var reason: String = "revoked by operator"
    @Option(name: .long, help: ArgumentHelp("Read the token to revoke from this file.", valueName: "path"))
    var file: String?
    @OptionGroup var home: HomeOption

    func run() throws {
        let node = try home.openNode()
        defer { try? node.close() }
        if epoch {
            guard id == nil else { throw CLIError("give either an id or --epoch, not both") }
            let e = try wrap { try node.advanceEpoch(reason: reason) }
            print("epoch advanced to \(e): every token issued before now is revoked")
            return
        }
        let tokenID: TokenID
        var expiry: UInt64?
        if let id {
            guard let t = TokenID(hex: id) else { throw CLIError("'\(id)' is not a token id (32 hex characters)") }
            tokenID = t
        } else {
            let token = try TokenInput(file: file).read()
            tokenID = token.id
            expiry = token.links.compactMap(\.expiry).min()
        }
        try wrap { try node.revoke(tokenID, expiry: expiry, reason: reason) }
        print("revoked \(tokenID)")
    }

    private func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch { throw CLIError(String(describing: error)) }
    }
}

extension TokenInput {
    init(file: String?) {
        self.init()
        self.file = file
    }
}
