// Single-block UnixFS files in dag-pb, byte for byte as kubo writes them with default settings.
// Specs: https://github.com/ipfs/specs/blob/main/UNIXFS.md
//        https://ipld.io/specs/codecs/dag-pb/spec/
// A file that fits one chunk (kubo's default chunker is size-262144) becomes one dag-pb node
// with no links:
//   PBNode { Data (1): UnixFS Data { Type (1) = File (2), Data (2) = content, filesize (3) } }
// kubo leaves the UnixFS Data field out for empty content and always writes filesize.
// Larger files are split into chunks under a balanced DAG (UnixFSImporter.swift builds it, with
// these nodes as its leaves); fileCID refuses them rather than return a CID kubo would not produce.

/// Single-block UnixFS file nodes (dag-pb).
public enum UnixFS {
    /// The largest file that fits one block under kubo's default chunker (256 KiB).
    public static let maxSingleBlockFileSize = 262_144

    /// The largest block ``fileContent(ofSingleBlock:)`` reads: the 2 MiB bitswap block limit.
    public static let maxBlockSize = 2 * 1024 * 1024

    /// UnixFS Data.DataType values.
    enum DataType: UInt64 {
        case raw = 0, directory = 1, file = 2, metadata = 3, symlink = 4, hamtShard = 5
    }

    /// The dag-pb block bytes kubo writes for a file of `content` that fits one chunk.
    ///
    /// Meant for content up to ``maxSingleBlockFileSize`` bytes; longer content still gives a
    /// well-formed single node, but not the multi-block DAG kubo would build.
    public static func singleBlockFile(_ content: [UInt8]) -> [UInt8] {
        var data = ProtobufWriter()
        data.appendVarintField(1, DataType.file.rawValue)
        if !content.isEmpty {
            data.appendBytesField(2, content)
        }
        data.appendVarintField(3, UInt64(content.count))

        var node = ProtobufWriter()
        node.appendBytesField(1, data.bytes)
        return node.bytes
    }

    /// The CID kubo gives a file of `content` (dag-pb, sha2-256): v0 as `ipfs add` prints it,
    /// v1 the same block under a CIDv1 (`ipfs add --cid-version=1 --raw-leaves=false`).
    ///
    /// - Throws: ``MultiformatError/inputTooLarge(limit:)`` past ``maxSingleBlockFileSize``,
    ///   until the multi-block importer exists.
    public static func fileCID(_ content: [UInt8], version: CID.Version) throws(MultiformatError) -> CID {
        guard content.count <= maxSingleBlockFileSize else {
            throw .inputTooLarge(limit: maxSingleBlockFileSize)
        }
        let multihash = Multihash.sha256(of: singleBlockFile(content))
        return CID(unchecked: version, codec: .dagPB, multihash: multihash)
    }

    /// The file content of a single-block UnixFS file node (the inverse of
    /// ``singleBlockFile(_:)``).
    ///
    /// Strict: the node must have no links and only a Data field; the UnixFS message must be of
    /// type File with at most Type, Data and filesize, in field order, and filesize (when
    /// present) must equal the content length.
    /// - Throws: ``MultiformatError/inputTooLarge(limit:)`` past ``maxBlockSize``,
    ///   ``MultiformatError/malformedProtobuf(reason:)`` for bytes that are not a valid message,
    ///   ``MultiformatError/unsupportedUnixFS(reason:)`` for valid nodes of other kinds
    ///   (directories, multi-block files, metadata).
    public static func fileContent(ofSingleBlock block: [UInt8]) throws(MultiformatError) -> [UInt8] {
        guard block.count <= maxBlockSize else { throw .inputTooLarge(limit: maxBlockSize) }
        let unixfsData = try nodeData(block)

        var reader = ProtobufReader(unixfsData)
        var lastField: UInt64 = 0
        var type: UInt64?
        var content: [UInt8] = []
        var fileSize: UInt64?
        while let (field, wireType) = try reader.nextField() {
            guard field > lastField else {
                throw .malformedProtobuf(reason: "UnixFS field \(field) repeated or out of order")
            }
            lastField = field
            switch field {
            case 1:
                type = try reader.readVarint(field: field, wireType: wireType)
            case 2:
                content = try reader.readBytes(field: field, wireType: wireType)
            case 3:
                fileSize = try reader.readVarint(field: field, wireType: wireType)
            case 4:
                throw .unsupportedUnixFS(reason: "blocksizes present: this is the root of a multi-block file")
            case 5, 6:
                throw .unsupportedUnixFS(reason: "hashType/fanout present: this is a HAMT directory shard")
            case 7, 8:
                throw .unsupportedUnixFS(reason: "mode/mtime metadata is not read yet")
            default:
                throw .malformedProtobuf(reason: "unknown UnixFS field \(field)")
            }
        }
        guard let type else { throw .malformedProtobuf(reason: "UnixFS Type is missing") }
        guard type == DataType.file.rawValue else {
            let kind = DataType(rawValue: type).map { "\($0)" } ?? "unknown type \(type)"
            throw .unsupportedUnixFS(reason: "node is \(kind), not a file")
        }
        if let fileSize, fileSize != UInt64(content.count) {
            throw .unsupportedUnixFS(
                reason: "filesize \(fileSize) differs from the \(content.count) bytes in the block: part of a multi-block file")
        }
        return content
    }

    /// The Data field of a dag-pb PBNode with no links.
    static func nodeData(_ block: [UInt8]) throws(MultiformatError) -> [UInt8] {
        var reader = ProtobufReader(block)
        var data: [UInt8]?
        while let (field, wireType) = try reader.nextField() {
            switch field {
            case 1:
                guard data == nil else { throw .malformedProtobuf(reason: "dag-pb Data appears twice") }
                data = try reader.readBytes(field: field, wireType: wireType)
            case 2:
                // dag-pb puts Links before Data; either way a link means more than one block.
                throw .unsupportedUnixFS(reason: "node has links: a directory or multi-block file")
            default:
                throw .malformedProtobuf(reason: "dag-pb allows only Links (2) and Data (1), found field \(field)")
            }
        }
        guard let data else { throw .unsupportedUnixFS(reason: "dag-pb node has no Data: not a UnixFS node") }
        return data
    }
}

/// The protobuf subset the UnixFS messages need: varint (wire type 0) and length-delimited
/// (wire type 2) fields.
/// Spec: https://protobuf.dev/programming-guides/encoding/
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    mutating func appendVarintField(_ field: UInt64, _ value: UInt64) {
        Varint.append(field << 3 | 0, to: &bytes)
        Varint.append(value, to: &bytes)
    }

    mutating func appendBytesField(_ field: UInt64, _ value: [UInt8]) {
        Varint.append(field << 3 | 2, to: &bytes)
        Varint.append(UInt64(value.count), to: &bytes)
        bytes.append(contentsOf: value)
    }
}

/// A bounds-checked reader for the same subset. Varints must be minimal (as protobuf encoders
/// write them), which also keeps them within 63 bits.
struct ProtobufReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The next field's number and wire type, or nil at the end of the message.
    mutating func nextField() throws(MultiformatError) -> (field: UInt64, wireType: UInt64)? {
        guard offset < bytes.count else { return nil }
        let key = try varint()
        let field = key >> 3
        guard field != 0 else { throw .malformedProtobuf(reason: "field number 0") }
        return (field, key & 0x7)
    }

    mutating func readVarint(field: UInt64, wireType: UInt64) throws(MultiformatError) -> UInt64 {
        guard wireType == 0 else {
            throw .malformedProtobuf(reason: "field \(field) has wire type \(wireType), expected varint (0)")
        }
        return try varint()
    }

    mutating func readBytes(field: UInt64, wireType: UInt64) throws(MultiformatError) -> [UInt8] {
        guard wireType == 2 else {
            throw .malformedProtobuf(reason: "field \(field) has wire type \(wireType), expected length-delimited (2)")
        }
        let length = try varint()
        guard length <= UInt64(bytes.count - offset) else { throw .truncated }
        let end = offset + Int(length)
        let value = Array(bytes[offset..<end])
        offset = end
        return value
    }

    private mutating func varint() throws(MultiformatError) -> UInt64 {
        do {
            return try Varint.decode(bytes, offset: &offset)
        } catch .varintTruncated {
            throw .truncated
        } catch {
            throw .malformedProtobuf(reason: "bad varint: \(error)")
        }
    }
}
