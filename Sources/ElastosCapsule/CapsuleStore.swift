// The local capsule store under the node home:
//
//   <home>/capsules/
//     blocks/<cid>     one file per block, named by its CIDv1 (dag-pb blocks and signature
//                      envelopes alike), shared between capsules
//     pins/<cid>       the block CIDs one installed capsule needs, one per line (for removal)
//     index.json       the installed capsules (name, version, type, role, cid, publisher,
//                      signature block, install time), rewritten atomically
//     run/<cid>/       materialized copies for running, re-extracted and re-verified each time
//     lock             flock, held while installing or removing
//
// Install verifies everything (every block's hash, the canonical DAG, the manifest, the
// signature) before it writes a byte; blocks and the pin file go first, the index last, so a
// crash leaves at worst unreferenced blocks, which the next removal collects. Trust is not
// stored: it is evaluated against the trust list each time, so removing a publisher from the
// list takes effect at once.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
public import ElastosCore
public import ElastosNode
import Foundation

/// One installed capsule.
public struct InstalledCapsule: Sendable, Equatable {
    public let cid: CID
    public let name: String
    public let version: String
    public let type: CapsuleManifest.Kind
    public let role: CapsuleManifest.Role
    public let publisher: DIDKey
    /// The signature envelope's block.
    public let signature: CID
    /// Unix seconds.
    public let installedAt: UInt64
    /// The publisher's trust level now (not stored; see ``CapsuleStore``).
    public internal(set) var trust: TrustLevel
}

/// The capsule store of one node home.
public struct CapsuleStore: Sendable {
    public let home: NodeHome
    /// This node's DID: capsules it signed are of trust level ``TrustLevel/node``.
    public let nodeDID: DIDKey
    public let limits: CapsuleLimits
    private let audit: any AuditSink
    private let clock: @Sendable () -> UInt64

    public var directory: String { home.path + "/capsules" }
    var blocksDirectory: String { directory + "/blocks" }
    var pinsDirectory: String { directory + "/pins" }
    var runDirectory: String { directory + "/run" }
    var indexFile: String { directory + "/index.json" }
    var lockFile: String { directory + "/lock" }

    /// Every state change and refused install is recorded in `audit`.
    public init(home: NodeHome, nodeDID: DIDKey, audit: any AuditSink, limits: CapsuleLimits = .default,
                clock: @escaping @Sendable () -> UInt64 = Node.systemClock) {
        self.home = home
        self.nodeDID = nodeDID
        self.audit = audit
        self.limits = limits
        self.clock = clock
    }

    /// The store of an open node, auditing to its log.
    public init(node: Node) {
        self.init(home: node.home, nodeDID: node.did, audit: node.audit)
    }

    // MARK: Trust

    /// How far `publisher` is trusted now.
    public func trustLevel(of publisher: DIDKey) throws(CapsuleError) -> TrustLevel {
        if publisher == nodeDID { return .node }
        return try TrustList(home: home).contains(publisher) ? .trusted : .untrusted
    }

    // MARK: Install

    /// What ``install(_:)`` did.
    public struct InstallResult: Sendable {
        public let capsule: InstalledCapsule
        /// The entry of the same name (same publisher) that this install replaced.
        public let replaced: InstalledCapsule?
        /// True if exactly this capsule was installed already.
        public let alreadyInstalled: Bool
    }

    /// Installs a package file or a directory. A directory is unsigned: it is refused unless
    /// `devKey` (the node key, `--dev`) is given to sign it. Every refusal is audited.
    @discardableResult
    public func install(path: String, devKey: SigningKey? = nil) throws(CapsuleError) -> InstallResult {
        let package: CapsulePackage
        do throws(CapsuleError) {
            if CapsuleFiles.isDirectory(path) {
                guard let devKey else { throw CapsuleError.notSigned("the directory \(path)") }
                package = try CapsulePackage(directory: path, limits: limits).signed(by: devKey)
            } else {
                package = try CapsulePackage(file: path, limits: limits)
            }
        } catch {
            refused(path, error)
            throw error
        }
        return try install(package, origin: path)
    }

    /// Installs a package after checking its signature. Nothing is written unless it is valid.
    @discardableResult
    public func install(_ package: CapsulePackage, origin: String? = nil) throws(CapsuleError) -> InstallResult {
        let what = origin ?? package.cid.description
        let signature: CapsuleSignature
        do { signature = try package.verify() } catch {
            refused(what, error)
            throw error
        }
        let lock: Int32
        do {
            try prepare()
            lock = try CapsuleFiles.lockExclusively(lockFile)
        } catch {
            throw .io(error)
        }
        defer { close(lock) }

        var index = try loadIndex()
        let manifest = package.content.manifest
        let trust = try trustLevel(of: signature.publisher)
        if var existing = index.first(where: { $0.cid == package.cid }) {
            existing.trust = try trustLevel(of: existing.publisher)
            if existing.publisher == signature.publisher {
                return InstallResult(capsule: existing, replaced: nil, alreadyInstalled: true)
            }
        }
        let sameName = index.filter { $0.name == manifest.name }
        if let other = sameName.first(where: { $0.publisher != signature.publisher }) {
            let error = CapsuleError.nameTaken(name: manifest.name, publisher: other.publisher, installed: other.cid)
            refused(what, error)
            throw error
        }

        // Blocks, then the pin list, then the index: the index entry is the commit point.
        do {
            var pins: [String] = []
            for block in package.content.dag.blocks {
                let cid = CapsuleContent.v1(block.cid)
                try CapsuleFiles.writeAtomically(block.bytes, to: blockPath(cid), syncDirectory: false)
                pins.append(cid.description)
            }
            try CapsuleFiles.writeAtomically(signature.envelope, to: blockPath(signature.cid), syncDirectory: false)
            pins.append(signature.cid.description)
            try CapsuleFiles.syncDirectory(blocksDirectory)
            try CapsuleFiles.writeAtomically(Array((pins.joined(separator: "\n") + "\n").utf8), to: pinPath(package.cid))
        } catch {
            throw .io(error)
        }
        let entry = InstalledCapsule(cid: package.cid, name: manifest.name, version: manifest.version, type: manifest.type,
                                     role: manifest.role, publisher: signature.publisher, signature: signature.cid,
                                     installedAt: clock(), trust: trust)
        // One capsule per name: a new version from the same publisher replaces the old one.
        index.removeAll { $0.name == manifest.name || $0.cid == package.cid }
        index.append(entry)
        try saveIndex(index)
        for old in sameName where old.cid != package.cid { unpin(old.cid) }
        collectGarbage(index)

        let replaced = sameName.first { $0.cid != package.cid }
        let warning = trust == .untrusted ? "; publisher not on the trust list: runs only with a warning, nothing is granted automatically" : ""
        audit.record(AuditEvent(
            event: "capsule.installed", subject: signature.publisher.description, resource: package.cid.description,
            decision: .info,
            reason: "\(manifest.name) \(manifest.version) (\(manifest.type.rawValue), \(manifest.role.rawValue)), trust \(trust)"
                + (replaced.map { ", replacing \($0.version) \($0.cid)" } ?? "") + warning))
        return InstallResult(capsule: entry, replaced: replaced, alreadyInstalled: false)
    }

    private func refused(_ what: String, _ error: CapsuleError) {
        audit.record(AuditEvent(event: "capsule.install.refused", subject: "operator", resource: what,
                                decision: .deny, reason: error.description))
    }

    // MARK: Query and remove

    /// The installed capsules, sorted by name, with their current trust level.
    public func list() throws(CapsuleError) -> [InstalledCapsule] {
        var out: [InstalledCapsule] = []
        let trustList = try TrustList(home: home)
        for var entry in try loadIndex() {
            entry.trust = entry.publisher == nodeDID ? .node : trustList.contains(entry.publisher) ? .trusted : .untrusted
            out.append(entry)
        }
        return out.sorted { ($0.name, $0.cid.description) < ($1.name, $1.cid.description) }
    }

    /// The installed capsule with this CID (any spelling, `Qm…` included) or name.
    public func find(_ nameOrCID: String) throws(CapsuleError) -> InstalledCapsule {
        let all = try list()
        if let cid = try? CID(string: nameOrCID), cid.codec == .dagPB {
            let v1 = CapsuleContent.v1(cid)
            if let hit = all.first(where: { $0.cid == v1 }) { return hit }
        }
        let named = all.filter { $0.name == nameOrCID }
        if named.count > 1 { throw .ambiguous(name: nameOrCID, cids: named.map(\.cid)) }
        guard let hit = named.first else { throw .notInstalled(nameOrCID) }
        return hit
    }

    /// Removes an installed capsule and the blocks no other capsule uses.
    @discardableResult
    public func remove(_ nameOrCID: String) throws(CapsuleError) -> InstalledCapsule {
        let lock: Int32
        do {
            try prepare()
            lock = try CapsuleFiles.lockExclusively(lockFile)
        } catch {
            throw .io(error)
        }
        defer { close(lock) }
        let entry = try find(nameOrCID)
        var index = try loadIndex()
        index.removeAll { $0.cid == entry.cid }
        try saveIndex(index)
        unpin(entry.cid)
        collectGarbage(index)
        CapsuleFiles.removeTree(runDirectory + "/" + entry.cid.description)
        audit.record(AuditEvent(event: "capsule.removed", subject: "operator", resource: entry.cid.description,
                                decision: .info, reason: "\(entry.name) \(entry.version) by \(entry.publisher)"))
        return entry
    }

    // MARK: Reading back

    /// An installed capsule's package, rebuilt from the stored blocks with every hash, the
    /// canonical DAG, the manifest and the signature checked again.
    public func package(_ cid: CID) throws(CapsuleError) -> CapsulePackage {
        let v1 = CapsuleContent.v1(cid)
        guard let entry = try loadIndex().first(where: { $0.cid == v1 }) else { throw .notInstalled(cid.description) }
        var damage: CapsuleError?
        let tree: UnixFSEntry
        do throws(UnixFSExportError) {
            tree = try UnixFSExporter.tree(root: v1, limits: limits.export) { link in
                let cid = CapsuleContent.v1(link)
                do throws(CapsuleError) {
                    guard let bytes = try CapsuleFiles.readFile(blockPath(cid), limit: limits.maxBlockSize) else { return nil }
                    guard Multihash.sha256(of: bytes) == cid.multihash else {
                        damage = .storeCorrupt(path: blockPath(cid), reason: "the block does not match its CID")
                        return nil
                    }
                    return bytes
                } catch {
                    damage = error
                    return nil
                }
            }
        } catch {
            if let damage { throw damage }
            throw .storeCorrupt(path: blocksDirectory, reason: error.description)
        }
        let content = try CapsuleContent(tree: tree, limits: limits, origin: "stored capsule \(v1)")
        guard content.cid == v1 else { throw .storeCorrupt(path: blocksDirectory, reason: "the blocks of \(v1) rebuild as \(content.cid)") }
        guard let envelope = try CapsuleFiles.readFile(blockPath(entry.signature), limit: CapsuleSignature.maxEnvelopeSize),
              Multihash.sha256(of: envelope) == entry.signature.multihash else {
            throw .storeCorrupt(path: blockPath(entry.signature), reason: "the signature block is missing or damaged")
        }
        let package = CapsulePackage(content: content, signature: try CapsuleSignature(envelope: envelope))
        let signature = try package.verify()
        guard signature.publisher == entry.publisher else {
            throw .storeCorrupt(path: indexFile, reason: "\(v1) is recorded as signed by \(entry.publisher), but its signature is by \(signature.publisher)")
        }
        return package
    }

    /// Extracts an installed capsule, re-verified, into `<home>/capsules/run/<cid>/` (files
    /// read-only; a native entrypoint executable) and returns that path. Any earlier copy is
    /// replaced, so what runs is always what was verified.
    public func materialize(_ cid: CID) throws(CapsuleError) -> String {
        let package = try package(cid)
        let v1 = package.cid
        let target = runDirectory + "/" + v1.description
        let temp = runDirectory + "/.tmp-\(v1)-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        do { try CapsuleFiles.makeDirectory(runDirectory) } catch { throw .io(error) }
        // One materialization at a time (two launches of one capsule raced to rename over each
        // other), and a copy already in place is kept if it still hashes to the capsule's CID:
        // replacing it would pull the files from under instances that are running from it.
        let lockFD = open(runDirectory + "/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else { throw .io(FileError("open lock", runDirectory + "/.lock")) }
        defer { close(lockFD) }
        while flock(lockFD, LOCK_EX) != 0 {
            guard errno == EINTR else { throw .io(FileError("lock", runDirectory + "/.lock")) }
        }
        var existing = stat()
        if lstat(target, &existing) == 0, existing.st_mode & S_IFMT == S_IFDIR,
           let copy = try? CapsulePackage(directory: target), copy.cid == v1 {
            return target
        }
        let manifest = package.content.manifest
        let executable: Set<String> = [.native, .microvm].contains(manifest.type) ? [manifest.entrypoint] : []
        do {
            try CapsuleFiles.writeTree(package.content.tree, to: temp, executable: executable)
        } catch {
            CapsuleFiles.removeTree(temp)
            throw error
        }
        var st = stat()
        if lstat(target, &st) == 0 {
            let old = runDirectory + "/.old-\(v1)-\(getpid())-\(UInt32.random(in: 0 ... .max))"
            if rename(target, old) == 0 { CapsuleFiles.removeTree(old) } else { CapsuleFiles.removeTree(target) }
        }
        guard rename(temp, target) == 0 else {
            let error = FileError("rename into place", target)
            CapsuleFiles.removeTree(temp)
            throw .io(error)
        }
        return target
    }

    // MARK: Files

    func blockPath(_ cid: CID) -> String { blocksDirectory + "/" + cid.description }
    func pinPath(_ cid: CID) -> String { pinsDirectory + "/" + cid.description }

    private func prepare() throws(FileError) {
        for d in [home.path, directory, blocksDirectory, pinsDirectory] { try CapsuleFiles.makeDirectory(d) }
    }

    private func unpin(_ cid: CID) {
        unlink(pinPath(cid))
    }

    /// Deletes every block no remaining capsule pins. If any pin list cannot be read, nothing
    /// is deleted.
    private func collectGarbage(_ index: [InstalledCapsule]) {
        var keep = Set<String>()
        for entry in index {
            guard let bytes = try? CapsuleFiles.readFile(pinPath(entry.cid), limit: 64 << 20) else { return }
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") { keep.insert(String(line)) }
        }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: blocksDirectory) else { return }
        for name in names where !keep.contains(name) && !name.hasPrefix(".") {
            unlink(blocksDirectory + "/" + name)
        }
    }

    // MARK: Index

    func loadIndex() throws(CapsuleError) -> [InstalledCapsule] {
        guard let bytes = try CapsuleFiles.readFile(indexFile, limit: 16 << 20) else { return [] }
        let corrupt = { (reason: String) in CapsuleError.storeCorrupt(path: indexFile, reason: reason) }
        let root: JSONValue
        do { root = try StrictJSON.parse(bytes) } catch { throw corrupt("not JSON: \(error)") }
        guard case .object(let top) = root, top.map(\.key) == ["version", "capsules"], top[0].value.integer == 1,
              case .array(let items) = top[1].value else {
            throw corrupt("expected {\"version\":1,\"capsules\":[…]}")
        }
        var out: [InstalledCapsule] = []
        for (i, item) in items.enumerated() {
            guard case .object(let fields) = item,
                  fields.map(\.key) == ["cid", "name", "version", "type", "role", "publisher", "signature", "installed_at"],
                  case .string(let cidText) = fields[0].value, let cid = try? CID(string: cidText),
                  case .string(let name) = fields[1].value,
                  case .string(let version) = fields[2].value,
                  case .string(let typeText) = fields[3].value, let type = CapsuleManifest.Kind(rawValue: typeText),
                  case .string(let roleText) = fields[4].value, let role = CapsuleManifest.Role(rawValue: roleText),
                  case .string(let publisherText) = fields[5].value, let publisher = try? DIDKey(publisherText),
                  case .string(let signatureText) = fields[6].value, let signature = try? CID(string: signatureText),
                  let installedAt = fields[7].value.integer, installedAt >= 0 else {
                throw corrupt("entry \(i) is malformed")
            }
            out.append(InstalledCapsule(cid: cid, name: name, version: version, type: type, role: role, publisher: publisher,
                                        signature: signature, installedAt: UInt64(installedAt), trust: .untrusted))
        }
        return out
    }

    private func saveIndex(_ index: [InstalledCapsule]) throws(CapsuleError) {
        let entries = index.sorted { ($0.name, $0.cid.description) < ($1.name, $1.cid.description) }.map { e in
            "{\"cid\":\"\(e.cid)\",\"name\":\(StrictJSON.quote(e.name)),\"version\":\(StrictJSON.quote(e.version)),"
                + "\"type\":\"\(e.type.rawValue)\",\"role\":\"\(e.role.rawValue)\",\"publisher\":\"\(e.publisher)\","
                + "\"signature\":\"\(e.signature)\",\"installed_at\":\(e.installedAt)}"
        }
        let text = "{\"version\":1,\"capsules\":[\n" + entries.joined(separator: ",\n") + "\n]}\n"
        do { try CapsuleFiles.writeAtomically(Array(text.utf8), to: indexFile) } catch { throw .io(error) }
    }
}
