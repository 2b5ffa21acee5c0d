// libFuzzer target: single-block UnixFS file nodes (UnixFS.fileContent(ofSingleBlock:)).
//
// Properties:
//  * a block that reads as a file is one of the few spellings the strict reader allows for its
//    content — PBNode{Data: UnixFS{Type=File, [Data=content], [filesize=len]}} with minimal
//    varints, fields in order, Data optional only for empty content — and writing the content
//    as kubo does (singleBlockFile) reads back to the same content, with the CID fileCID gives;
//  * any input taken as file content: singleBlockFile(input) reads back to exactly the input;
//  * the input wrapped as the dag-pb Data field (so it is parsed as the inner UnixFS message)
//    either fails or gives content that round-trips the same way.

import ElastosCore
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzUnixFS(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = fuzzBytes(start, count)

    if let content = try? UnixFS.fileContent(ofSingleBlock: input) {
        checkFile(content, block: input, input: input)
    }

    // The input as content.
    let block = UnixFS.singleBlockFile(input)
    switch Result(catching: { () throws(MultiformatError) in try UnixFS.fileContent(ofSingleBlock: block) }) {
    case .success(let back): expect(back == input, "singleBlockFile(input) reads back as \(hex(back))", input: input)
    case .failure(let e): propertyFailed("singleBlockFile(input) does not read: \(e)", input: input)
    }

    // The input as the UnixFS Data message inside a dag-pb node.
    let wrapped = [0x0A] + Varint.encode(UInt64(input.count)) + input
    if let content = try? UnixFS.fileContent(ofSingleBlock: wrapped) {
        checkFile(content, block: wrapped, input: input)
    }
    return 0
}

func checkFile(_ content: [UInt8], block: [UInt8], input: [UInt8]) {
    expect(content.count <= block.count, "\(content.count) bytes of content from a \(block.count)-byte block", input: input)
    let spellings = acceptedSpellings(of: content)
    expect(spellings.contains(block), "block \(hex(block)) reads as \(content.count) bytes of content but is none of its \(spellings.count) valid spellings", input: input)
    let canonical = UnixFS.singleBlockFile(content)
    expect(spellings.first == canonical, "singleBlockFile is not the canonical spelling", input: input)
    switch Result(catching: { () throws(MultiformatError) in try UnixFS.fileContent(ofSingleBlock: canonical) }) {
    case .success(let back): expect(back == content, "the canonical block of the content reads back as \(hex(back))", input: input)
    case .failure(let e): propertyFailed("the canonical block \(hex(canonical)) of the content does not read: \(e)", input: input)
    }
    if content.count <= UnixFS.maxSingleBlockFileSize {
        let cid = try! UnixFS.fileCID(content, version: .v1)
        expect(cid.multihash == Multihash.sha256(of: canonical) && cid.codec == .dagPB, "fileCID is not the hash of the canonical block", input: input)
    }
}

/// Every block the strict reader should accept for `content`, kubo's own first.
func acceptedSpellings(of content: [UInt8]) -> [[UInt8]] {
    let type: [UInt8] = [0x08, 0x02]
    let data: [UInt8] = [0x12] + Varint.encode(UInt64(content.count)) + content
    let size: [UInt8] = [0x18] + Varint.encode(UInt64(content.count))
    var inners: [[UInt8]] = content.isEmpty
        ? [type + size, type, type + data + size, type + data]
        : [type + data + size, type + data]
    inners = inners.map { [0x0A] + Varint.encode(UInt64($0.count)) + $0 }
    return inners
}
