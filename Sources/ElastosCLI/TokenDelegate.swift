import ArgumentParser
import ElastosCore
import ElastosNode
import Foundation

struct TokenDelegate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delegate",
        abstract: "Delegate a token to another holder, narrowing it.",
        discussion: """
            Reads the parent token from standard input or --file and prints the new, longer token. \
            The new link may only narrow: a resource inside the parent's, a subset of its actions, \
            an expiry no later, no more uses, a lower classification and a smaller depth. \
            It is signed by this node's key, or with --key by the parent holder's own key \
            (an elastos node key file whose did:key is the parent's holder).
            """
    )

    @OptionGroup var input: TokenInput
    @OptionGroup var grant: GrantOptions
    @Option(help: ArgumentHelp("Sign with this key file (the parent holder's) instead of the node key.", valueName: "path"))
    var key: String?
    @Option(help: ArgumentHelp("Write the token to this file (mode 0600).", valueName: "path")) var out: String?
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var home: HomeOption

    func run() throws {
        let parent = try input.read()
        let p = parent.leaf
        let signer: SigningKey
        if let key {
            do {
                guard let k = try NodeKeyStore.load(key) else { throw CLIError("no key file at \(key)") }
                signer = k
            } catch let e as NodeKeyError { throw CLIError(e.description) }
        } else {
            do { signer = try NodeKeyStore.loadOrCreate(in: home.resolved).key } catch { throw CLIError(error.description) }
        }
        let now = Node.systemClock()
        let g = Grant(
            holder: grant.holder, resource: try grant.pattern() ?? p.resource, actions: try grant.actionSet() ?? p.actions,
            expiry: try grant.expires.flatMap { try TimeSpec.parse($0, now: now, option: "--expires") },
            notBefore: try grant.notBefore.flatMap { try TimeSpec.parse($0, now: now, option: "--not-before") },
            maxUses: grant.maxUses, maxClassification: try grant.level() ?? p.maxClassification,
            delegationDepth: grant.depth ?? (p.delegationDepth > 0 ? p.delegationDepth - 1 : 0))
        let token: CapabilityToken
        do { token = try TokenIssuer(key: signer).delegate(parent, g, now: now) } catch { throw CLIError(error.description) }
        try emit(token, out: out, json: json)
    }
}
