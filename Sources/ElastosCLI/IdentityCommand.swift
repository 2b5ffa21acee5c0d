import ArgumentParser
import ElastosCore
import ElastosNode
import Foundation

struct IdentityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identity",
        abstract: "Show this node's identity: its did:key, libp2p PeerID and Ed25519 public key.",
        discussion: """
            The DID and the PeerID name the same Ed25519 key, which lives in <home>/identity/node.key \
            (mode 0600). The key is created on first run and never replaced silently.
            """
    )

    @Flag(help: "Print JSON instead of text.") var json = false
    @Flag(help: "Print this node's DID document (did:key, with the derived X25519 key agreement key).") var document = false
    @Option(help: ArgumentHelp("Print the DID document of this did:key instead (nothing is fetched).", valueName: "did"))
    var resolve: String?
    @OptionGroup var home: HomeOption

    func run() throws {
        if let resolve {
            do { print(try DIDKey(resolve).document) } catch { throw CLIError("\(resolve): \(error)") }
            return
        }
        let nodeHome = home.resolved
        let loaded: (key: SigningKey, created: Bool)
        do { loaded = try NodeKeyStore.loadOrCreate(in: nodeHome) } catch { throw CLIError(error.description) }
        if loaded.created { recordKeyCreation(home: nodeHome, key: loaded.key) }
        let pub = loaded.key.publicKey
        let peer = PeerID(publicKey: pub)
        if document { print(pub.did.document); return }
        if json {
            let fields: [(String, String)] = [
                ("did", pub.did.description), ("peer_id", peer.description),
                ("peer_id_cid", peer.cid.string(in: .base36Lower)), ("public_key", Hex.encode(pub.bytes)),
                ("key_agreement", pub.did.keyAgreementMultibase ?? ""),
                ("key_file", nodeHome.keyFile), ("home", nodeHome.path),
            ]
            print(JSONOutput.object(fields))
        } else {
            print("DID:        \(pub.did)")
            print("PeerID:     \(peer)")
            print("Public key: \(Hex.encode(pub.bytes)) (Ed25519)")
            if let ka = pub.did.keyAgreementMultibase { print("Key agreement: \(ka) (X25519, derived)") }
            print("Key file:   \(nodeHome.keyFile)")
        }
    }
}

/// Small, ordered JSON objects for `--json` output.
enum JSONOutput {
    static func object(_ fields: [(String, String)]) -> String {
        "{" + fields.map { "\(quote($0.0)):\(quote($0.1))" }.joined(separator: ",") + "}"
    }

    static func object(raw fields: [(String, String)]) -> String {
        "{" + fields.map { "\(quote($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    static func quote(_ s: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8)
        let text = String(decoding: data, as: UTF8.self)
        return String(text.dropFirst().dropLast())
    }
}
