// A UnixFS importer that builds, byte for byte, the DAG kubo 0.22 builds for `ipfs add -r` with
// its default settings (CIDv0, no raw leaves, the size-262144 chunker, the balanced layout), and
// the inverse walk that turns such a DAG back into a tree.
//
// Specs: UnixFS           https://github.com/ipfs/specs/blob/main/UNIXFS.md
//        dag-pb           https://ipld.io/specs/codecs/dag-pb/spec/
//        protobuf wire    https://protobuf.dev/programming-guides/encoding/
// Behaviour matched: boxo/ipld/unixfs/importer/balanced (Layout, fillNodeRec), boxo/ipld/unixfs
// importer/helpers (NewLeafNode, FSNodeOverDag), boxo/ipld/merkledag (ProtoNode encoding and
// link sizes) and boxo/ipld/unixfs/io (BasicDirectory, HAMTShardingSize) as kubo 0.22 uses them.
//
// The messages involved (proto2):
//   PBNode { repeated PBLink Links = 2; optional bytes Data = 1; }
//       canonical dag-pb writes every Link before Data, whatever the field numbers say.
//   PBLink { optional bytes Hash = 1; optional string Name = 2; optional uint64 Tsize = 3; }
//       kubo always writes Name, as "" inside files.
//   UnixFS Data { required DataType Type = 1; optional bytes Data = 2; optional uint64 filesize = 3;
//                 repeated uint64 blocksizes = 4 (not packed); hashType = 5; fanout = 6; … }
//
// What kubo builds:
// - a file is cut into 262,144-byte chunks; each chunk is a leaf, a dag-pb node whose Data is
//   UnixFS {Type=File, Data=chunk, filesize=len} (UnixFS.singleBlockFile). An empty file is one
//   such leaf without Data. A file of one chunk is that leaf alone.
// - more chunks go under a balanced tree of internal nodes with at most 174 links each:
//   UnixFS {Type=File, filesize=sum, blocksizes=[each child's file bytes]} and links with
//   Name "" and Tsize = the child's cumulative size. The tree grows from the left: depth d holds
//   174^d chunks, and the last child of a deeper node is an internal node even if it has one leaf.
// - a directory is UnixFS {Type=Directory} (bytes 08 01) with one link per entry, sorted bytewise
//   by name, Tsize = the entry's cumulative size. kubo switches to a HAMT shard once the sum of
//   (name length + CID length) of a directory's links reaches 256 KiB; that layout is not built
//   here, so such a directory is refused rather than given a CID kubo would not give it.
// - a node's cumulative size (Tsize) is its block's length plus its links' Tsize.

/// An in-memory file tree for ``UnixFSImporter``.
public indirect enum UnixFSEntry: Sendable {
    /// A regular file's content.
    case file([UInt8])
    /// A directory's entries, in any order (the importer sorts them bytewise by name).
    case directory([UnixFSDirectoryEntry])
}

/// One named entry of a directory.
public struct UnixFSDirectoryEntry: Sendable {
    /// The entry name: 1–255 bytes of UTF-8, no `/` or NUL, not `.` or `..`.
    public var name: String
    public var entry: UnixFSEntry

    public init(name: String, entry: UnixFSEntry) {
        self.name = name
        self.entry = entry
    }
}

/// A block: the bytes and the CID naming them.
public struct UnixFSBlock: Sendable, Hashable {
    public let cid: CID
    public let bytes: [UInt8]

    public init(cid: CID, bytes: [UInt8]) {
        self.cid = cid
        self.bytes = bytes
    }
}

/// What an import produced.
public struct UnixFSImport: Sendable {
    /// The root, as kubo prints it (CIDv0).
    public let root: CID
    /// The root's cumulative size: its block plus every block below it, counted once per link.
    public let cumulativeSize: UInt64
    /// Every block once, depth-first from the root in link order, each at its first occurrence
    /// (the order `ipfs dag export` writes). Identical blocks (equal chunks, equal files) appear once.
    public let blocks: [UnixFSBlock]
}

/// Why a tree cannot be imported the way kubo would import it.
public enum UnixFSImportError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A name kubo cannot or would not store as a directory entry.
    case invalidName(path: String, reason: String)
    /// Two entries of one directory have the same name (as bytes).
    case duplicateName(path: String)
    /// The directory is large enough that kubo would store it as a HAMT shard.
    case directoryNeedsSharding(path: String, estimatedSize: Int)
    /// Directories nest deeper than the importer's limit.
    case tooDeep(path: String, limit: Int)

    public var description: String {
        switch self {
        case .invalidName(let path, let reason):
            return "'\(path)': \(reason)"
        case .duplicateName(let path):
            return "'\(path)' appears twice in its directory"
        case .directoryNeedsSharding(let path, let size):
            return "directory '\(path)' has too many or too long entries (\(size) bytes of links, the limit is \(UnixFSImporter.shardingThreshold - 1)): kubo would shard it; split it into subdirectories"
        case .tooDeep(let path, let limit):
            return "'\(path)' is nested more than \(limit) directories deep"
        }
    }
}

/// Builds kubo's UnixFS DAG (CIDv0, dag-pb leaves, balanced layout) for an in-memory tree.
public enum UnixFSImporter {
    /// kubo's default chunk size (`size-262144`).
    public static let chunkSize = 262_144
    /// Links per internal file node in the balanced layout (boxo `DefaultLinksPerBlock`).
    public static let maxLinks = 174
    /// kubo 0.22's `Internal.UnixFSShardingSizeThreshold` default: a directory whose link
    /// estimate reaches this many bytes becomes a HAMT shard.
    public static let shardingThreshold = 256 * 1024
    /// The deepest directory nesting accepted.
    public static let maxDepth = 64
    /// The longest entry name, in bytes (the usual file-system limit).
    public static let maxNameLength = 255

    /// The DAG of one file.
    public static func importFile(_ content: [UInt8]) -> UnixFSImport {
        var builder = DAGBuilder()
        let root = builder.file(content)
        return builder.finish(root)
    }

    /// The DAG of a tree: a file, or a directory and everything in it.
    public static func importTree(_ entry: UnixFSEntry) throws(UnixFSImportError) -> UnixFSImport {
        var builder = DAGBuilder()
        let root = try builder.entry(entry, path: "", depth: 0)
        return builder.finish(root)
    }

    /// Checks a directory entry name: what a UnixFS link name must be to extract as one path
    /// component on any POSIX file system. Nil if it is fine, else the reason.
    public static func nameProblem(_ name: String) -> String? {
        let bytes = name.utf8
        if bytes.isEmpty { return "empty name" }
        if bytes.count > maxNameLength { return "name is \(bytes.count) bytes long, the limit is \(maxNameLength)" }
        if name == "." || name == ".." { return "'.' and '..' cannot be entry names" }
        if bytes.contains(UInt8(ascii: "/")) { return "name contains '/'" }
        if bytes.contains(0) { return "name contains NUL" }
        return nil
    }

    /// The bytewise order kubo sorts directory links in.
    static func precedes(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }
}

/// A built node: where its block is, and what a parent's link to it carries.
private struct BuiltNode {
    var index: Int
    var cid: CID
    var cumulativeSize: UInt64
    var fileSize: UInt64
}

private struct DAGBuilder {
    /// Blocks in build order (children before parents), with the indexes of their children.
    var blocks: [(block: UnixFSBlock, children: [Int])] = []

    mutating func add(_ bytes: [UInt8], children: [BuiltNode], fileSize: UInt64) -> BuiltNode {
        let cid = CID(unchecked: .v0, codec: .dagPB, multihash: .sha256(of: bytes))
        let size = children.reduce(UInt64(bytes.count)) { $0 + $1.cumulativeSize }
        blocks.append((UnixFSBlock(cid: cid, bytes: bytes), children.map(\.index)))
        return BuiltNode(index: blocks.count - 1, cid: cid, cumulativeSize: size, fileSize: fileSize)
    }

    // MARK: Files

    mutating func file(_ content: [UInt8]) -> BuiltNode {
        var chunks = ChunkCursor(content: content)
        // Layout(): an empty file is one empty leaf; otherwise the first chunk is the root until
        // more data makes it the first child of a root one level deeper.
        var root = leaf(&chunks)
        var depth = 1
        while !chunks.done {
            root = fill(&chunks, depth: depth, first: root)
            depth += 1
        }
        return root
    }

    mutating func leaf(_ chunks: inout ChunkCursor) -> BuiltNode {
        let chunk = chunks.next()
        return add(UnixFS.singleBlockFile(chunk), children: [], fileSize: UInt64(chunk.count))
    }

    /// fillNodeRec(): an internal node of `depth`, filled while there is room and data.
    mutating func fill(_ chunks: inout ChunkCursor, depth: Int, first: BuiltNode? = nil) -> BuiltNode {
        var children: [BuiltNode] = first.map { [$0] } ?? []
        while children.count < UnixFSImporter.maxLinks && !chunks.done {
            children.append(depth == 1 ? leaf(&chunks) : fill(&chunks, depth: depth - 1))
        }
        var data = ProtobufWriter()
        data.appendVarintField(1, UnixFS.DataType.file.rawValue)
        let total = children.reduce(UInt64(0)) { $0 + $1.fileSize }
        data.appendVarintField(3, total)
        for child in children { data.appendVarintField(4, child.fileSize) }
        let bytes = DagPB.encode(links: children.map { ("", $0) }, data: data.bytes)
        return add(bytes, children: children, fileSize: total)
    }

    // MARK: Directories

    mutating func entry(_ entry: UnixFSEntry, path: String, depth: Int) throws(UnixFSImportError) -> BuiltNode {
        switch entry {
        case .file(let content):
            return file(content)
        case .directory(let entries):
            guard depth < UnixFSImporter.maxDepth else { throw .tooDeep(path: path, limit: UnixFSImporter.maxDepth) }
            let sorted = entries.sorted { UnixFSImporter.precedes($0.name, $1.name) }
            var links: [(String, BuiltNode)] = []
            links.reserveCapacity(sorted.count)
            var estimate = 0
            for (i, child) in sorted.enumerated() {
                let childPath = path.isEmpty ? child.name : path + "/" + child.name
                if let problem = UnixFSImporter.nameProblem(child.name) {
                    throw .invalidName(path: childPath, reason: problem)
                }
                if i > 0 && sorted[i - 1].name.utf8.elementsEqual(child.name.utf8) {
                    throw .duplicateName(path: childPath)
                }
                let node = try self.entry(child.entry, path: childPath, depth: depth + 1)
                estimate += child.name.utf8.count + node.cid.bytes.count
                links.append((child.name, node))
            }
            guard estimate < UnixFSImporter.shardingThreshold else {
                throw .directoryNeedsSharding(path: path.isEmpty ? "." : path, estimatedSize: estimate)
            }
            var data = ProtobufWriter()
            data.appendVarintField(1, UnixFS.DataType.directory.rawValue)
            return add(DagPB.encode(links: links, data: data.bytes), children: links.map(\.1), fileSize: 0)
        }
    }

    // MARK: Output

    /// The blocks depth-first from the root, each once.
    func finish(_ root: BuiltNode) -> UnixFSImport {
        var seen = Set<CID>()
        var ordered: [UnixFSBlock] = []
        ordered.reserveCapacity(blocks.count)
        var stack = [root.index]
        while let index = stack.popLast() {
            let (block, children) = blocks[index]
            guard seen.insert(block.cid).inserted else { continue }
            ordered.append(block)
            stack.append(contentsOf: children.reversed())
        }
        return UnixFSImport(root: root.cid, cumulativeSize: root.cumulativeSize, blocks: ordered)
    }
}

/// kubo's `size-262144` splitter over an in-memory file.
private struct ChunkCursor {
    let content: [UInt8]
    var offset = 0

    var done: Bool { offset >= content.count }

    mutating func next() -> [UInt8] {
        let end = min(offset + UnixFSImporter.chunkSize, content.count)
        defer { offset = end }
        return Array(content[offset..<end])
    }
}

/// dag-pb nodes in canonical form.
enum DagPB {
    /// PBNode with `links` (Hash, Name, Tsize each) written before `data`.
    fileprivate static func encode(links: [(String, BuiltNode)], data: [UInt8]) -> [UInt8] {
        var node = ProtobufWriter()
        for (name, child) in links {
            var link = ProtobufWriter()
            link.appendBytesField(1, child.cid.bytes)
            link.appendBytesField(2, Array(name.utf8))
            link.appendVarintField(3, child.cumulativeSize)
            node.appendBytesField(2, link.bytes)
        }
        node.appendBytesField(1, data)
        return node.bytes
    }

    /// A decoded PBLink.
    struct Link {
        var hash: CID
        var name: String?
        var tsize: UInt64?
    }

    /// Decodes a PBNode strictly: Links first, then at most one Data, nothing else; each link
    /// with a Hash that is a CID, then an optional Name (UTF-8) and Tsize, in that order.
    static func decode(_ block: [UInt8]) throws(MultiformatError) -> (links: [Link], data: [UInt8]?) {
        var reader = ProtobufReader(block)
        var links: [Link] = []
        var data: [UInt8]?
        while let (field, wireType) = try reader.nextField() {
            switch field {
            case 2:
                guard data == nil else { throw .malformedProtobuf(reason: "dag-pb Links after Data") }
                links.append(try decodeLink(try reader.readBytes(field: field, wireType: wireType)))
            case 1:
                guard data == nil else { throw .malformedProtobuf(reason: "dag-pb Data appears twice") }
                data = try reader.readBytes(field: field, wireType: wireType)
            default:
                throw .malformedProtobuf(reason: "dag-pb allows only Links (2) and Data (1), found field \(field)")
            }
        }
        return (links, data)
    }

    private static func decodeLink(_ bytes: [UInt8]) throws(MultiformatError) -> Link {
        var reader = ProtobufReader(bytes)
        var last: UInt64 = 0
        var hash: CID?
        var name: String?
        var tsize: UInt64?
        while let (field, wireType) = try reader.nextField() {
            guard field > last else { throw .malformedProtobuf(reason: "PBLink field \(field) repeated or out of order") }
            last = field
            switch field {
            case 1:
                hash = try CID(bytes: try reader.readBytes(field: field, wireType: wireType))
            case 2:
                let raw = try reader.readBytes(field: field, wireType: wireType)
                guard let text = String(validating: raw, as: UTF8.self) else {
                    throw .malformedProtobuf(reason: "PBLink Name is not valid UTF-8")
                }
                name = text
            case 3:
                tsize = try reader.readVarint(field: field, wireType: wireType)
            default:
                throw .malformedProtobuf(reason: "unknown PBLink field \(field)")
            }
        }
        guard let hash else { throw .malformedProtobuf(reason: "PBLink without Hash") }
        return Link(hash: hash, name: name, tsize: tsize)
    }
}

// MARK: - Export

/// Why a DAG could not be read back into a tree.
public enum UnixFSExportError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A block the DAG links to is not available.
    case missingBlock(CID)
    /// A block is not a dag-pb UnixFS node of a kind the importer builds.
    case malformedNode(CID, reason: String)
    /// The tree would exceed a limit (its size, entry count, node count or depth).
    case limitExceeded(String)

    public var description: String {
        switch self {
        case .missingBlock(let cid): return "block \(cid) is missing"
        case .malformedNode(let cid, let reason): return "block \(cid) is not a UnixFS node this runtime reads: \(reason)"
        case .limitExceeded(let what): return "the DAG is too large: \(what)"
        }
    }
}

/// Bounds on what ``UnixFSExporter`` reads, so hostile DAGs cannot exhaust memory or time.
public struct UnixFSExportLimits: Sendable {
    /// Total file bytes.
    public var maxTotalSize: Int
    /// Bytes of one file.
    public var maxFileSize: Int
    /// Files and directories, the root included.
    public var maxEntries: Int
    /// Node visits (a DAG may link one block many times; every visit counts).
    public var maxNodeVisits: Int
    /// Directory nesting.
    public var maxDepth: Int

    public init(maxTotalSize: Int, maxFileSize: Int, maxEntries: Int, maxNodeVisits: Int, maxDepth: Int = UnixFSImporter.maxDepth) {
        self.maxTotalSize = maxTotalSize
        self.maxFileSize = maxFileSize
        self.maxEntries = maxEntries
        self.maxNodeVisits = maxNodeVisits
        self.maxDepth = maxDepth
    }
}

/// Reads a UnixFS DAG back into a tree: directories, and files reassembled from their chunks.
///
/// The walk checks structure (types, blocksizes against children, filesize against content,
/// names) within ``UnixFSExportLimits``, but not canonical form: to know a DAG is exactly the
/// one kubo builds, import the tree again and compare roots (``CapsulePackage`` does).
public enum UnixFSExporter {
    /// The tree under `root`; `block` returns a block's bytes, already checked against its CID,
    /// or nil if it is absent.
    public static func tree(root: CID, limits: UnixFSExportLimits,
                            block: (CID) -> [UInt8]?) throws(UnixFSExportError) -> UnixFSEntry {
        try withoutActuallyEscaping(block) { block throws(UnixFSExportError) in
            var walk = Walk(limits: limits, block: block)
            return try walk.entry(root, depth: 0)
        }
    }

    private struct Walk {
        let limits: UnixFSExportLimits
        let block: (CID) -> [UInt8]?
        var total = 0
        var entries = 0
        var visits = 0

        mutating func node(_ cid: CID) throws(UnixFSExportError) -> (links: [DagPB.Link], unixfs: UnixFSData) {
            visits += 1
            guard visits <= limits.maxNodeVisits else { throw .limitExceeded("more than \(limits.maxNodeVisits) node visits") }
            guard cid.codec == .dagPB, cid.multihash.code == .sha2_256 else {
                throw .malformedNode(cid, reason: "not a dag-pb sha2-256 block")
            }
            guard let bytes = block(cid) else { throw .missingBlock(cid) }
            do throws(MultiformatError) {
                let (links, data) = try DagPB.decode(bytes)
                guard let data else { throw MultiformatError.unsupportedUnixFS(reason: "dag-pb node has no Data") }
                return (links, try UnixFSData(data))
            } catch {
                throw .malformedNode(cid, reason: error.description)
            }
        }

        mutating func entry(_ cid: CID, depth: Int) throws(UnixFSExportError) -> UnixFSEntry {
            entries += 1
            guard entries <= limits.maxEntries else { throw .limitExceeded("more than \(limits.maxEntries) files and directories") }
            let (links, unixfs) = try node(cid)
            switch unixfs.type {
            case UnixFS.DataType.directory.rawValue:
                guard depth < limits.maxDepth else { throw .limitExceeded("directories nested more than \(limits.maxDepth) deep") }
                guard unixfs.data == nil, unixfs.fileSize == nil, unixfs.blockSizes.isEmpty else {
                    throw .malformedNode(cid, reason: "a directory node carries file fields")
                }
                var children: [UnixFSDirectoryEntry] = []
                for link in links {
                    guard let name = link.name else { throw .malformedNode(cid, reason: "a directory link has no name") }
                    if let problem = UnixFSImporter.nameProblem(name) {
                        throw .malformedNode(cid, reason: "entry name \(problem)")
                    }
                    children.append(UnixFSDirectoryEntry(name: name, entry: try entry(link.hash, depth: depth + 1)))
                }
                return .directory(children)
            case UnixFS.DataType.file.rawValue:
                var content: [UInt8] = []
                try file(cid, links: links, unixfs: unixfs, into: &content, fileStart: 0)
                return .file(content)
            default:
                let kind = UnixFS.DataType(rawValue: unixfs.type).map { "\($0)" } ?? "type \(unixfs.type)"
                throw .malformedNode(cid, reason: "a \(kind) node, only files and plain directories are read")
            }
        }

        /// Appends the file bytes under a file node, checking each blocksize and the filesize.
        mutating func file(_ cid: CID, links: [DagPB.Link], unixfs: UnixFSData,
                           into content: inout [UInt8], fileStart: Int) throws(UnixFSExportError) {
            guard unixfs.type == UnixFS.DataType.file.rawValue else {
                throw .malformedNode(cid, reason: "a file links to a node that is not a file")
            }
            guard unixfs.blockSizes.count == links.count else {
                throw .malformedNode(cid, reason: "\(links.count) links but \(unixfs.blockSizes.count) blocksizes")
            }
            let start = content.count
            if let data = unixfs.data { try append(data, to: &content, fileStart: fileStart) }
            for (link, size) in zip(links, unixfs.blockSizes) {
                guard link.name == nil || link.name == "" else {
                    throw .malformedNode(cid, reason: "a file's link has a name")
                }
                let before = content.count
                let (childLinks, childData) = try node(link.hash)
                try file(link.hash, links: childLinks, unixfs: childData, into: &content, fileStart: fileStart)
                guard UInt64(content.count - before) == size else {
                    throw .malformedNode(cid, reason: "blocksize \(size) differs from the child's \(content.count - before) bytes")
                }
            }
            if let declared = unixfs.fileSize, declared != UInt64(content.count - start) {
                throw .malformedNode(cid, reason: "filesize \(declared) differs from the \(content.count - start) bytes below it")
            }
        }

        mutating func append(_ data: [UInt8], to content: inout [UInt8], fileStart: Int) throws(UnixFSExportError) {
            guard content.count - fileStart + data.count <= limits.maxFileSize else {
                throw .limitExceeded("a file is larger than \(limits.maxFileSize) bytes")
            }
            total += data.count
            guard total <= limits.maxTotalSize else { throw .limitExceeded("more than \(limits.maxTotalSize) bytes of files") }
            content.append(contentsOf: data)
        }
    }
}

/// A decoded UnixFS Data message (fields 1–4; HAMT and metadata fields are refused).
private struct UnixFSData {
    var type: UInt64
    var data: [UInt8]?
    var fileSize: UInt64?
    var blockSizes: [UInt64] = []

    init(_ bytes: [UInt8]) throws(MultiformatError) {
        var reader = ProtobufReader(bytes)
        var last: UInt64 = 0
        var type: UInt64?
        while let (field, wireType) = try reader.nextField() {
            guard field > last || (field == 4 && last == 4) else {
                throw .malformedProtobuf(reason: "UnixFS field \(field) repeated or out of order")
            }
            last = field
            switch field {
            case 1: type = try reader.readVarint(field: field, wireType: wireType)
            case 2: data = try reader.readBytes(field: field, wireType: wireType)
            case 3: fileSize = try reader.readVarint(field: field, wireType: wireType)
            case 4: blockSizes.append(try reader.readVarint(field: field, wireType: wireType))
            case 5, 6: throw .unsupportedUnixFS(reason: "hashType/fanout present: a HAMT directory shard")
            case 7, 8: throw .unsupportedUnixFS(reason: "mode/mtime metadata is not part of capsule content")
            default: throw .malformedProtobuf(reason: "unknown UnixFS field \(field)")
            }
        }
        guard let type else { throw .malformedProtobuf(reason: "UnixFS Type is missing") }
        self.type = type
    }
}
