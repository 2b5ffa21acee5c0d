import ArgumentParser
import ElastosCapsule
import ElastosCore
import ElastosNode
import Foundation

struct CapsuleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capsule",
        abstract: "Pack, sign, verify, inspect, install, list and remove capsules; manage trusted publishers.",
        discussion: """
            A capsule is a directory with a capsule.json (docs/CAPSULES.md). Its identity is the CID \
            of that directory as IPFS (kubo) would store it; its package is a CARv1 file of the same \
            blocks plus the publisher's signature. Nothing is installed or run unless every hash and \
            the signature check out.
            """,
        subcommands: [CapsulePack.self, CapsuleSign.self, CapsuleVerify.self, CapsuleInspect.self,
                      CapsuleInstall.self, CapsuleList.self, CapsuleRemove.self, CapsuleTrust.self]
    )
}

/// Runs `body`, turning capsule errors into one-line CLI errors.
func capsuleStep<T>(_ body: () throws(CapsuleError) -> T) throws -> T {
    do { return try body() } catch { throw CLIError(error.description) }
}

/// Prints a warning on standard error.
func warn(_ message: String) {
    FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
}

/// Prints a note on standard error.
func note(_ message: String) {
    FileHandle.standardError.write(Data("\(message)\n".utf8))
}

extension HomeOption {
    /// This node's DID if it has a key already (read-only commands never create one).
    var existingNodeDID: DIDKey? {
        (try? NodeKeyStore.load(resolved.keyFile))??.publicKey.did
    }

    /// A store for read-only use: nothing it does needs the audit log.
    func readOnlyStore() throws -> CapsuleStore {
        let loaded: (key: SigningKey, created: Bool)
        do { loaded = try NodeKeyStore.loadOrCreate(in: resolved) } catch { throw CLIError(error.description) }
        if loaded.created { recordKeyCreation(home: resolved, key: loaded.key) }
        return CapsuleStore(home: resolved, nodeDID: loaded.key.publicKey.did, audit: DiscardingAuditSink())
    }
}

/// A `--publisher` style DID argument.
func parseDID(_ text: String, option: String) throws -> DIDKey {
    do { return try DIDKey(text) } catch { throw CLIError("\(option): \(error)") }
}

let untrustedWarning = "runs only with a warning and is granted nothing automatically; "
    + "trust the publisher with 'elastos capsule trust add <did>'"
