#if canImport(Glibc)
import Glibc
#endif
import ElastosCapsule
import ElastosCore
import ElastosNode
import ElastosPeer
import ElastosRuntime
import ElastosStorage
import Foundation

/// Builds the runtime the commands use: its substrates, providers and capsule resolver.
enum Assembly {
    static var substrateNames: [String] { substrates().map(\.name) }

    static func substrates() -> [any Substrate] { [WasmSubstrate(), NativeSubstrate(), MicroVMSubstrate()] }

    /// Who serves `localhost://storage/`: the runtime itself, or the storage provider capsule.
    enum StorageBackend {
        case inProcess
        case capsule(CapsuleProvider)
    }

    /// Every provider, at its prefix. Storage lives in the node home (`<home>/storage`).
    static func router(node: Node, storage: StorageBackend = .inProcess) throws -> ProviderRouter {
        let storageProvider: any Provider
        switch storage {
        case .inProcess:
            do { storageProvider = StorageProvider(store: try EncryptedStore(home: node.home)) } catch { throw CLIError(error.description) }
        case .capsule(let provider):
            storageProvider = provider
        }
        do {
            return try ProviderRouter([
                ("elastos://runtime/echo", EchoProvider()),
                ("elastos://did", DIDProvider(key: node.key)),
                (StorageProvider.prefix, storageProvider),
                // Bound to Carrier when the node starts one (`elastos node --listen`).
                (PeerProvider.prefix, PeerProvider()),
            ])
        } catch {
            throw CLIError("internal: bad provider route: \(error)")
        }
    }

    /// The runtime's `elastos://peer/` provider.
    static func peerProvider(_ runtime: RuntimeNode) -> PeerProvider? {
        guard let uri = try? ResourceURI(PeerProvider.prefix + "/self") else { return nil }
        return runtime.router.provider(for: uri) as? PeerProvider
    }

    static func runtime(home: HomeOption, storage: StorageBackend = .inProcess) throws -> RuntimeNode {
        let node = try home.openNode()
        return RuntimeNode(node: node, substrates: substrates(), router: try router(node: node, storage: storage))
    }

    /// The name under which `scripts/install.sh` installs the storage provider capsule.
    static let storageProviderName = "storage-provider"

    /// The name under which `scripts/install.sh` installs the shell capsule.
    static let shellName = "shell"

    /// The installed storage provider capsule's name if this node has one (role `provider`).
    static func installedStorageProvider(home: HomeOption) -> String? { installed(storageProviderName, role: .provider, home: home) }

    /// The installed shell capsule's name if the running node has one (role `shell`).
    static func installedShell(runtime: RuntimeNode) -> String? { installed(shellName, role: .shell, node: runtime.node) }

    /// Before the runtime exists: opens the node home for the look-up and closes it again.
    private static func installed(_ name: String, role: CapsuleManifest.Role, home: HomeOption) -> String? {
        guard let node = try? home.openNode() else { return nil }
        defer { try? node.close() }
        return installed(name, role: role, node: node)
    }

    private static func installed(_ name: String, role: CapsuleManifest.Role, node: Node) -> String? {
        guard let installed = try? CapsuleStore(node: node).find(name), installed.role == role else { return nil }
        return name
    }

    /// Starts the shell capsule `target` with `<home>/shell` (the policy file's directory) as its
    /// `/data`, and binds `shell` to it.
    static func startShell(_ target: String, dev: Bool, runtime: RuntimeNode, shell: CapsuleProvider) throws -> Session {
        try startServing(target, dev: dev, runtime: runtime, as: shell, what: "the shell") { () throws in
            try PolicyFile.prepareDirectory(in: runtime.node.home)
            return PolicyFile.directory(in: runtime.node.home)
        }
    }

    /// Starts the storage provider capsule `target` (what `elastos run` takes; a directory only
    /// with `dev`) on the node's store and binds `provider` to it.
    static func startStorageProvider(_ target: String, dev: Bool, runtime: RuntimeNode, provider: CapsuleProvider) throws -> Session {
        try startServing(target, dev: dev, runtime: runtime, as: provider, what: "the storage provider") { () throws in
            // The store's directory must exist (0700) before it is bound into the sandbox.
            _ = try EncryptedStore(home: runtime.node.home)
            return EncryptedStore.directory(of: runtime.node.home)
        }
    }

    /// Resolves a native capsule, gives it the directory `prepare` makes as its `/data`, and
    /// launches it bound to `provider`, with no capability of its own and stdin from /dev/null.
    private static func startServing(_ target: String, dev: Bool, runtime: RuntimeNode, as provider: CapsuleProvider, what: String,
                                     prepare: () throws -> String) throws -> Session {
        var capsule = try resolver(runtime: runtime).resolve(absolute(target), dev: dev)
        guard capsule.type == "native" else { throw CLIError("\(capsule.name) is a \(capsule.type) capsule: \(what) runs on the native substrate") }
        do { capsule.dataDirectory = try prepare() } catch { throw CLIError("\(error)") }
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { if null >= 0 { close(null) } }
        do {
            return try runtime.launchProvider(capsule, as: provider, stdio: StdioDescriptors(input: null, output: 2, error: 2),
                                              policy: DeclaredCapabilityPolicy(allowDeclared: false))
        } catch {
            throw CLIError("cannot start \(what) capsule: \(error)")
        }
    }

    static func resolver(runtime: RuntimeNode) -> any CapsuleResolver {
        StoreResolver(store: CapsuleStore(node: runtime.node), nodeKey: runtime.node.key)
    }

    static func absolute(_ target: String) -> String {
        guard !target.hasPrefix("/"), FileManager.default.fileExists(atPath: target) else { return target }
        return FileManager.default.currentDirectoryPath + "/" + target
    }
}

/// Resolves `elastos run` targets through the capsule store, so what runs is always a verified,
/// content-addressed copy: a package file is checked and installed, a directory is signed with
/// the node key only under `--dev`, and a name or CID must already be installed.
struct StoreResolver: CapsuleResolver {
    let store: CapsuleStore
    let nodeKey: SigningKey

    func resolve(_ target: String, dev: Bool) throws -> LaunchableCapsule {
        let devKey = dev ? nodeKey : nil
        var isDir: ObjCBool = false
        let installed: InstalledCapsule
        do {
            if FileManager.default.fileExists(atPath: target, isDirectory: &isDir) {
                guard !isDir.boolValue || devKey != nil else {
                    throw CLIError("\(target) is an unsigned directory: pack and sign it ('elastos capsule sign'), or run it with --dev to sign it with this node's key")
                }
                installed = try store.install(path: target, devKey: devKey).capsule
            } else {
                installed = try store.find(target)
            }
            let directory = try store.materialize(installed.cid)
            let manifest = try CapsuleManifest(json: Array(FileManager.default.contents(atPath: directory + "/" + CapsuleManifest.fileName) ?? Data()))
            let declared = manifest.capabilities.map { DeclaredCapability(resource: $0.resource, actions: ActionSet($0.actions), reason: $0.reason) }
            return LaunchableCapsule(
                name: manifest.name, version: manifest.version, cid: installed.cid.description,
                publisher: installed.publisher.description, trust: try store.trustLevel(of: installed.publisher),
                type: manifest.type.rawValue, directory: directory, entrypoint: manifest.entrypoint, declared: declared,
                memoryLimitBytes: manifest.limits.memoryMB << 20, cpuMillis: UInt64(manifest.limits.cpuMillis),
                wallMillis: UInt64(manifest.limits.wallMillis), maxFuel: manifest.limits.maxFuel.map { UInt64($0) },
                role: manifest.role.rawValue)
        } catch let e as CLIError {
            throw e
        } catch {
            throw CLIError("cannot run \(target): \(error)")
        }
    }
}
