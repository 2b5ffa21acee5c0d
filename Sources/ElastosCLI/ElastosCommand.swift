public import ArgumentParser
import ElastosCore
import ElastosNode

/// The version printed by `elastos --version`.
public let elastosVersion = "0.1.0"

/// `elastos`: the runtime's command line.
public struct ElastosCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "elastos",
        abstract: "The Elastos SmartWeb Runtime: a sovereign node for your data, identity and capsules.",
        discussion: """
            State lives in the node home: --home, else $ELASTOS_HOME, else $XDG_DATA_HOME/elastos \
            (~/.local/share/elastos). The node key is created there on first run.
            """,
        subcommands: [IdentityCommand.self, TokenCommand.self, AuditCommand.self, CapsuleCommand.self,
                      RunCommand.self, PsCommand.self, StopCommand.self, NodeCommand.self, PolicyCommand.self,
                      GrantsCommand.self, StorageCommand.self, PeerCommand.self, ChatCommand.self]
    )

    @Flag(name: .long, help: "Print the version and this node's DID (creating the node key on first run).")
    var version = false

    @OptionGroup var home: HomeOption

    public init() {}

    public mutating func run() throws {
        guard version else { throw CleanExit.helpRequest(self) }
        let nodeHome = home.resolved
        let loaded: (key: SigningKey, created: Bool)
        do { loaded = try NodeKeyStore.loadOrCreate(in: nodeHome) } catch { throw CLIError(error.description) }
        if loaded.created { recordKeyCreation(home: nodeHome, key: loaded.key) }
        print("elastos \(elastosVersion)")
        print(loaded.key.publicKey.did)
    }
}

/// Records a first-run key creation in the audit log, if no other process holds it.
func recordKeyCreation(home: NodeHome, key: SigningKey) {
    guard let log = try? AuditLog(directory: home.auditDirectory, key: key) else { return }
    log.record(AuditEvent(event: "node.key.created", subject: key.publicKey.did.description, decision: .info,
                          reason: "new node identity created at \(home.keyFile)"))
    try? log.close()
}

/// `--home`, shared by every command.
struct HomeOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Node home directory.", valueName: "dir"))
    var home: String?

    var resolved: NodeHome { NodeHome.resolve(explicit: home) }

    /// Opens the node's full state (key, ledger, audit).
    func openNode() throws -> Node {
        do { return try Node(home: resolved) } catch { throw CLIError(error.description) }
    }
}

/// A failure reported to the user as one line on stderr with exit status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
