import ArgumentParser
import ElastosCore
import ElastosNode
import Foundation

struct TokenVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify a token offline against a node's DID.",
        discussion: """
            Checks the format, every signature, the chain back to the node (--did, default this node), \
            the epoch, revocation, issue time and validity window. With --holder, --action and \
            --resource it runs all twelve checks for that request, without spending a use. \
            Revocations and use counts are known only for this node's own tokens.
            Exit status 0 if valid, 1 if not.
            """
    )

    @OptionGroup var input: TokenInput
    @Option(help: ArgumentHelp("The issuing node's did:key (default: this node).", valueName: "did"))
    var did: String?
    @Option(help: "Check the request is made by this principal.") var holder: String?
    @Option(help: "Check this action is allowed.") var action: String?
    @Option(help: ArgumentHelp("Check this resource URI is covered.", valueName: "uri")) var resource: String?
    @Option(help: ArgumentHelp("Classification of the resource (default public).", valueName: "level")) var classification: String?
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var home: HomeOption

    func run() throws {
        let token = try input.read()
        let nodeHome = home.resolved
        let localKey: PublicKey?
        do { localKey = try NodeKeyStore.load(nodeHome.keyFile)?.publicKey } catch { throw CLIError(error.description) }
        let issuerKey: PublicKey
        if let did {
            do { issuerKey = try DIDKey(did).publicKey } catch { throw CLIError("invalid --did: \(error)") }
        } else {
            guard let localKey else { throw CLIError("this node has no key yet; pass --did of the issuing node") }
            issuerKey = localKey
        }
        // This node's own ledger knows revocations and use counts; for another node's tokens
        // only the stateless checks mean anything.
        var ledger: any CapabilityLedger = InMemoryLedger()
        var stateNote = "revocation and use counts of that node are not known here"
        if issuerKey == localKey {
            do { ledger = try PersistentLedger(path: nodeHome.ledgerFile, now: Node.systemClock()) } catch {
                throw CLIError(error.description)
            }
            stateNote = "checked against this node's revocations, epoch and use counts"
        }
        let verifier = CapabilityVerifier(runtimeKey: issuerKey, ledger: ledger, audit: DiscardingAuditSink(), clock: Node.systemClock)

        let result: Result<AuthorizedUse, CapabilityError>
        if holder != nil || action != nil || resource != nil {
            guard let holder, let action, let resource else {
                throw CLIError("--holder, --action and --resource go together")
            }
            guard let a = Action(name: action) else { throw CLIError("unknown --action '\(action)'") }
            let uri: ResourceURI
            do { uri = try ResourceURI(resource) } catch { throw CLIError("invalid --resource: \(error)") }
            let level: Classification
            if let classification {
                guard let c = Classification(name: classification) else { throw CLIError("invalid --classification '\(classification)'") }
                level = c
            } else { level = .public }
            result = verifier.dryRun(token, for: CapabilityRequest(caller: holder, action: a, resource: uri, classification: level))
        } else {
            result = verifier.checkStanding(token)
        }
        switch result {
        case .success(let use):
            if json {
                print(JSONOutput.object(raw: [("valid", "true"), ("id", JSONOutput.quote(use.tokenID.description)),
                                              ("issuer", JSONOutput.quote(issuerKey.did.description)),
                                              ("remaining_uses", use.remainingUses.map(String.init) ?? "null")]))
            } else {
                print("valid: token \(use.tokenID) for \(use.holder), issued by \(issuerKey.did) (\(stateNote))")
            }
        case .failure(let e):
            if json {
                print(JSONOutput.object(raw: [("valid", "false"), ("check", JSONOutput.quote(e.check?.name ?? "format")),
                                              ("error", JSONOutput.quote(e.description))]))
            }
            throw CLIError("token is not valid: \(e)")
        }
    }
}
