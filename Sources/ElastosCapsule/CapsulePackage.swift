// A capsule: a directory with capsule.json, its content address, and the package file.
//
// Identity: the capsule is the UnixFS directory kubo would build for it with `ipfs add -r`
// (UnixFSImporter), named as a CIDv1 dag-pb (`bafy…`, the same multihash as kubo's `Qm…`), so any
// IPFS node can serve it as it is. The package is a CARv1 of exactly that DAG:
//   roots  = [directory CID] (unsigned) or [directory CID, envelope CID] (signed)
//   blocks = the importer's blocks, depth-first from the root, each once, as CIDv1 dag-pb;
//            then the signature envelope (CIDv1 raw), if signed.
// One directory has exactly one package (per signature): reading a package rebuilds the tree,
// imports it again and insists on getting the same bytes back, so a package that differs in any
// way from the canonical one (a tampered block, a missing or extra block, another order, another
// header) is refused, and the CID it claims is never trusted.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
public import ElastosCore
import ElastosNode

/// Size limits for capsule content and packages.
public struct CapsuleLimits: Sendable {
    /// One file.
    public var maxFileSize = 256 << 20
    /// All files together.
    public var maxTotalSize = 512 << 20
    /// Files and directories, the root included.
    public var maxEntries = 10_000
    /// Directory nesting.
    public var maxDepth = 32
    /// One block in a package.
    public var maxBlockSize = 1 << 20
    /// Blocks in a package.
    public var maxBlocks = 100_000
    /// The package file: the content plus its DAG overhead.
    public var maxPackageSize: Int { maxTotalSize + (32 << 20) }

    public init() {}

    public static let `default` = CapsuleLimits()

    var export: UnixFSExportLimits {
        UnixFSExportLimits(maxTotalSize: maxTotalSize, maxFileSize: maxFileSize, maxEntries: maxEntries,
                           maxNodeVisits: maxBlocks * 2, maxDepth: maxDepth)
    }
}

/// A capsule's content: its tree, validated manifest and DAG, always computed from the bytes.
public struct CapsuleContent: Sendable {
    public let manifest: CapsuleManifest
    public let tree: UnixFSEntry
    /// The UnixFS DAG (CIDv0 inside, as kubo writes it).
    public let dag: UnixFSImport

    /// The capsule's identity: the directory as a CIDv1 dag-pb.
    public var cid: CID { Self.v1(dag.root) }
    /// kubo's spelling of the same directory (`Qm…`).
    public var cidV0: CID { dag.root }

    /// Validates a tree as a capsule (capsule.json at the root, a valid manifest, an entrypoint
    /// that is a file in the tree, names kubo can store) and imports it.
    public init(tree: UnixFSEntry, limits: CapsuleLimits = .default, origin: String = "the capsule") throws(CapsuleError) {
        guard case .directory(let entries) = tree else { throw .notADirectory(origin) }
        guard let manifestEntry = entries.first(where: { $0.name.utf8.elementsEqual(CapsuleManifest.fileName.utf8) }),
              case .file(let manifestBytes) = manifestEntry.entry else {
            throw .missingManifest(origin)
        }
        do { manifest = try CapsuleManifest(json: manifestBytes) } catch { throw .manifest(error) }
        guard case .file = Self.lookup(manifest.entrypoint, in: tree) else { throw .entrypointMissing(manifest.entrypoint) }
        try Self.checkLimits(tree, limits: limits)
        do { dag = try UnixFSImporter.importTree(tree) } catch { throw .unixfs(error) }
        self.tree = tree
    }

    /// The entry at a relative path (`a/b/c`), if any.
    public static func lookup(_ path: String, in tree: UnixFSEntry) -> UnixFSEntry? {
        var node = tree
        for part in path.split(separator: "/", omittingEmptySubsequences: false) {
            guard case .directory(let entries) = node,
                  let next = entries.first(where: { $0.name.utf8.elementsEqual(part.utf8) }) else { return nil }
            node = next.entry
        }
        return node
    }

    /// Every file with its relative path and size, sorted bytewise by path.
    public var files: [(path: String, size: Int)] {
        var out: [(String, Int)] = []
        func walk(_ e: UnixFSEntry, _ prefix: String) {
            switch e {
            case .file(let bytes): out.append((prefix, bytes.count))
            case .directory(let entries):
                for child in entries.sorted(by: { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }) {
                    walk(child.entry, prefix.isEmpty ? child.name : prefix + "/" + child.name)
                }
            }
        }
        walk(tree, "")
        return out
    }

    /// Total bytes of all files.
    public var contentSize: Int { files.reduce(0) { $0 + $1.size } }

    static func checkLimits(_ tree: UnixFSEntry, limits: CapsuleLimits) throws(CapsuleError) {
        var entries = 0
        var total = 0
        func walk(_ e: UnixFSEntry, _ path: String, _ depth: Int) throws(CapsuleError) {
            entries += 1
            guard entries <= limits.maxEntries else { throw .tooManyEntries(limit: limits.maxEntries) }
            switch e {
            case .file(let bytes):
                guard bytes.count <= limits.maxFileSize else {
                    throw .fileTooLarge(path: path, size: bytes.count, limit: limits.maxFileSize)
                }
                total += bytes.count
                guard total <= limits.maxTotalSize else { throw .contentTooLarge(limit: limits.maxTotalSize) }
            case .directory(let children):
                guard depth < limits.maxDepth else { throw .tooDeep(path: path, limit: limits.maxDepth) }
                for child in children {
                    try walk(child.entry, path.isEmpty ? child.name : path + "/" + child.name, depth + 1)
                }
            }
        }
        try walk(tree, "", 0)
    }

    static func v1(_ cid: CID) -> CID {
        // A dag-pb sha2-256 multihash is valid under either version.
        (try? CID(version: .v1, codec: .dagPB, multihash: cid.multihash)) ?? cid
    }
}

/// A capsule with its signature, if it has one: what a package file holds.
public struct CapsulePackage: Sendable {
    public let content: CapsuleContent
    public let signature: CapsuleSignature?

    public init(content: CapsuleContent, signature: CapsuleSignature? = nil) {
        self.content = content
        self.signature = signature
    }

    /// Packs a directory (unsigned): regular files and directories only, read without following
    /// symlinks; modes and times are ignored.
    public init(directory path: String, limits: CapsuleLimits = .default) throws(CapsuleError) {
        let tree = try CapsuleFiles.readTree(path, limits: limits)
        self.init(content: try CapsuleContent(tree: tree, limits: limits, origin: path))
    }

    /// Reads a package file's bytes, verifying every block, that the DAG is complete and
    /// canonical, and that the root it names is the root of its content. Does not check the
    /// signature: ``verify(expectedPublisher:)`` does.
    public init(car bytes: [UInt8], limits: CapsuleLimits = .default) throws(CapsuleError) {
        let (roots, sections) = try CARv1.decode(bytes, limits: limits)
        let stated = roots[0]
        guard stated.version == .v1, stated.codec == .dagPB, stated.multihash.code == .sha2_256 else {
            throw .malformedPackage("the first root must be the capsule's CIDv1 dag-pb, found \(stated)")
        }
        var dagSections = sections[...]
        var signature: CapsuleSignature?
        if roots.count == 2 {
            let envelopeCID = roots[1]
            guard envelopeCID.codec == .raw, let last = sections.last, last.cid == envelopeCID else {
                throw .malformedPackage("the second root must be the signature envelope (raw), stored as the last block")
            }
            signature = try CapsuleSignature(envelope: last.bytes)
            dagSections = sections.dropLast()
        }
        var blocks: [Multihash: [UInt8]] = [:]
        for section in dagSections {
            guard section.cid.codec == .dagPB else { throw .unexpectedBlock(section.cid) }
            guard blocks.updateValue(section.bytes, forKey: section.cid.multihash) == nil else {
                throw .duplicateBlock(section.cid)
            }
        }
        let tree: UnixFSEntry
        do {
            tree = try UnixFSExporter.tree(root: stated, limits: limits.export) { blocks[$0.multihash] }
        } catch {
            switch error {
            case .missingBlock(let cid): throw .missingBlock(CapsuleContent.v1(cid))
            case .malformedNode, .limitExceeded: throw .malformedDAG(error.description)
            }
        }
        let content = try CapsuleContent(tree: tree, limits: limits, origin: "the package")
        guard content.cid == stated else { throw .rootMismatch(stated: stated, computed: content.cid) }
        let canonical = content.dag.blocks
        if canonical.count != dagSections.count {
            let used = Set(canonical.map(\.cid.multihash))
            if let extra = dagSections.first(where: { !used.contains($0.cid.multihash) }) { throw .unexpectedBlock(extra.cid) }
        }
        guard zip(canonical, dagSections).allSatisfy({ $0.cid.multihash == $1.cid.multihash }),
              canonical.count == dagSections.count else {
            throw .nonCanonicalPackage("the blocks are not in the canonical order (depth-first from the root)")
        }
        let result = CapsulePackage(content: content, signature: signature)
        // The whole file must be what this package encodes to (the header's form included).
        guard result.car == bytes else { throw .nonCanonicalPackage("the file differs from the canonical encoding") }
        self = result
    }

    /// The capsule's identity (CIDv1 dag-pb of its directory).
    public var cid: CID { content.cid }

    /// This package signed by `key` (replacing any earlier signature).
    public func signed(by key: SigningKey) -> CapsulePackage {
        CapsulePackage(content: content, signature: CapsuleSignature.sign(content.cid, with: key))
    }

    /// The package file (CARv1).
    public var car: [UInt8] {
        var roots = [content.cid]
        var sections = content.dag.blocks.map { CARv1.Section(cid: CapsuleContent.v1($0.cid), bytes: $0.bytes) }
        if let signature {
            roots.append(signature.cid)
            sections.append(CARv1.Section(cid: signature.cid, bytes: signature.envelope))
        }
        return CARv1.encode(roots: roots, sections: sections)
    }

    /// Checks the signature: present, made for this content's CID (recomputed, never taken
    /// from the package), valid for the publisher it names, and by `expectedPublisher` if given.
    @discardableResult
    public func verify(expectedPublisher: DIDKey? = nil) throws(CapsuleError) -> CapsuleSignature {
        guard let signature else { throw .notSigned("the capsule \(content.cid)") }
        guard signature.capsule == content.cid else {
            throw .signatureForOtherCapsule(signed: signature.capsule, content: content.cid)
        }
        guard signature.isValid else { throw .invalidSignature(publisher: signature.publisher) }
        if let expectedPublisher, expectedPublisher != signature.publisher {
            throw .unexpectedPublisher(expected: expectedPublisher, actual: signature.publisher)
        }
        return signature
    }

    /// Reads a package file from disk (at most ``CapsuleLimits/maxPackageSize`` bytes).
    public init(file path: String, limits: CapsuleLimits = .default) throws(CapsuleError) {
        guard let bytes = try CapsuleFiles.readFile(path, limit: limits.maxPackageSize) else {
            throw .io(FileError("open", path, code: ENOENT))
        }
        try self.init(car: bytes, limits: limits)
    }

    /// A directory (packed, unsigned) or a package file, whichever `path` is.
    public init(path: String, limits: CapsuleLimits = .default) throws(CapsuleError) {
        if CapsuleFiles.isDirectory(path) {
            try self.init(directory: path, limits: limits)
        } else {
            try self.init(file: path, limits: limits)
        }
    }

    /// Writes the package file atomically (mode 0644: packages are public).
    public func write(to path: String) throws(CapsuleError) {
        do { try CapsuleFiles.writeAtomically(car, to: path, mode: 0o644) } catch { throw .io(error) }
    }
}
