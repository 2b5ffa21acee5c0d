// libFuzzer target: capsule package files (CapsulePackage(car:limits:): CARv1, the UnixFS DAG
// under it, capsule.json, the signature envelope), with small limits so each input is cheap.
//
// Each input is tried three ways:
//  1. raw: `CapsulePackage(car: input)`;
//  2. rehashed: the input read loosely as a CAR whose sections' CIDs are then made true again —
//     every block re-hashed, bottom-up, with the new digests written wherever a dag-pb block,
//     the header or (as base32 text) the signature envelope named the old ones — so mutations
//     inside blocks get past the hash checks to the DAG, UnixFS, manifest and canonical-form
//     checks behind them;
//  3. built: a capsule tree described by the input (files, directories, names from an alphabet
//     with odd characters, duplicate contents, now and then a file of 2–3 chunks, a template or
//     fuzzed capsule.json, optionally signed) packed with CapsulePackage; within the limits it
//     must read back.
// Whenever a package is accepted:
//  * its `car` is exactly the bytes read (one package per content and signature), it reads
//    again to the same CID, tree, manifest and signature, and (up to 64 KiB, like the last
//    check) the bytes with one byte more or less are refused;
//  * its CID is a CIDv1 dag-pb sha2-256 with the multihash of `cidV0`, and importing its tree
//    again gives the same CID and the same blocks;
//  * capsule.json in the tree parses to its manifest, and the entrypoint is a file in the tree;
//    `files` names every file once with its size; files, total size and entries are within the
//    limits;
//  * a signature's envelope parses to itself and names its CID; `verify` answers by the rules
//    (not signed / for another capsule / invalid / unexpected publisher / valid), and a package
//    signed here verifies; the package unsigned reads back with the same CID, and an unsigned
//    one signed by a fixed key reads back with the same CID and verifies.
// A built tree that reads back gives exactly the tree that was packed. Every error's description
// is rendered.

import ElastosCapsule
import ElastosCore
import FuzzSupport

let limits: CapsuleLimits = {
    var l = CapsuleLimits()
    l.maxFileSize = 600_000
    l.maxTotalSize = 1_000_000
    l.maxEntries = 32
    l.maxDepth = 6
    l.maxBlockSize = 300_000
    l.maxBlocks = 96
    return l
}()
let fuzzKey = try! SigningKey(seed: [UInt8](repeating: 0x42, count: 32))
let otherKey = try! SigningKey(seed: [UInt8](repeating: 0x43, count: 32))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCapsulePackage(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = fuzzBytes(start, count)

    // 1. Raw.
    if let p = read(input) { checkAccepted(p, car: input, input: input) }

    // 2. Rehashed.
    if let fixed = rehashed(input), fixed != input, let p = read(fixed) {
        checkAccepted(p, car: fixed, input: input)
    }

    // 3. Built.
    checkBuilt(input)
    return 0
}

func read(_ car: [UInt8]) -> CapsulePackage? {
    do throws(CapsuleError) {
        return try CapsulePackage(car: car, limits: limits)
    } catch {
        _ = error.description
        return nil
    }
}

// MARK: - Accepted packages

func sameTree(_ a: UnixFSEntry, _ b: UnixFSEntry) -> Bool {
    switch (a, b) {
    case (.file(let x), .file(let y)):
        return x == y
    case (.directory(let x), .directory(let y)):
        guard x.count == y.count else { return false }
        let order: (UnixFSDirectoryEntry, UnixFSDirectoryEntry) -> Bool = { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        return zip(x.sorted(by: order), y.sorted(by: order)).allSatisfy { $0.name.utf8.elementsEqual($1.name.utf8) && sameTree($0.entry, $1.entry) }
    default:
        return false
    }
}

func entryCount(_ e: UnixFSEntry) -> Int {
    switch e {
    case .file: 1
    case .directory(let children): 1 + children.reduce(0) { $0 + entryCount($1.entry) }
    }
}

/// `validSignature`: the package was signed here, so its signature must verify.
func checkAccepted(_ p: CapsulePackage, car: [UInt8], input: [UInt8], validSignature: Bool = false) {
    let content = p.content
    expect(p.car == car, "an accepted package encodes to \(p.car.count) other bytes than the \(car.count) read", input: input)
    expect(p.cid.version == .v1 && p.cid.codec == .dagPB && p.cid.multihash.code == .sha2_256
           && content.cidV0.version == .v0 && content.cidV0.multihash == p.cid.multihash,
           "package CID \(p.cid) / \(content.cidV0) is not the directory's CIDv1 dag-pb", input: input)

    // Reads again to the same package.
    switch Result(catching: { () throws(CapsuleError) in try CapsulePackage(car: p.car, limits: limits) }) {
    case .failure(let e): propertyFailed("an accepted package's own encoding is refused: \(e)", input: input)
    case .success(let again):
        expect(again.cid == p.cid && sameTree(again.content.tree, content.tree) && again.signature == p.signature
               && again.content.manifest == content.manifest && again.content.manifest.canonicalJSON == content.manifest.canonicalJSON,
               "the package reads back as another package (\(again.cid), was \(p.cid))", input: input)
    }
    // The checks that read the whole package again are left out for packages with big files.
    let thorough = car.count <= 65_536
    if thorough {
        expect(read(car + [0x00]) == nil, "the package with a 0x00 appended is accepted", input: input)
        expect(read(Array(car.dropLast())) == nil, "the package without its last byte is accepted", input: input)
    }

    // The tree imports to the same DAG.
    switch Result(catching: { () throws(CapsuleError) in try CapsuleContent(tree: content.tree, limits: limits) }) {
    case .failure(let e): propertyFailed("the tree of an accepted package is refused as content: \(e)", input: input)
    case .success(let again):
        expect(again.cid == p.cid && again.dag.blocks == content.dag.blocks && again.dag.root == content.dag.root,
               "the tree imports to \(again.cid) with \(again.dag.blocks.count) blocks, the package is \(p.cid) with \(content.dag.blocks.count)", input: input)
    }

    // Manifest, entrypoint, limits.
    guard case .file(let manifestBytes)? = CapsuleContent.lookup(CapsuleManifest.fileName, in: content.tree) else {
        propertyFailed("an accepted package has no capsule.json file", input: input)
    }
    switch Result(catching: { () throws(ManifestError) in try CapsuleManifest(json: manifestBytes) }) {
    case .failure(let e): propertyFailed("the package's capsule.json is refused: \(e)", input: input)
    case .success(let m): expect(m == content.manifest && m.canonicalJSON == content.manifest.canonicalJSON, "capsule.json parses to another manifest", input: input)
    }
    guard case .file? = CapsuleContent.lookup(content.manifest.entrypoint, in: content.tree) else {
        propertyFailed("entrypoint \(content.manifest.entrypoint.debugDescription) is not a file in the package", input: input)
    }
    let files = content.files
    expect(files.allSatisfy { $0.size <= limits.maxFileSize } && content.contentSize <= limits.maxTotalSize
           && entryCount(content.tree) <= limits.maxEntries,
           "the package is over its limits: \(files.count) files, \(content.contentSize) bytes, \(entryCount(content.tree)) entries", input: input)
    // (The list is depth-first with each directory's names in byte order, which is not the byte
    // order of whole paths that its doc comment promises: "a-c" sorts before "a/b". Only display
    // uses the order, so it is not checked; the paths and sizes are.)
    var walked: [[UInt8]: Int] = [:]
    func walk(_ e: UnixFSEntry, _ prefix: [UInt8]) {
        switch e {
        case .file(let bytes): walked[prefix] = bytes.count
        case .directory(let children):
            for c in children { walk(c.entry, prefix.isEmpty ? Array(c.name.utf8) : prefix + [0x2F] + Array(c.name.utf8)) }
        }
    }
    walk(content.tree, [])
    expect(files.count == walked.count && files.allSatisfy { walked[Array($0.path.utf8)] == $0.size },
           "files lists \(files.map { "\($0.path) \($0.size)" }), the tree has \(walked.count) files", input: input)

    // The signature.
    if let s = p.signature {
        expect((try? CapsuleSignature(envelope: s.envelope)) == s, "the signature's envelope does not parse to itself", input: input)
        expect(s.cid == CID.rawFile(s.envelope), "the signature's CID is not its envelope's raw CID", input: input)
        let verdict = Result(catching: { () throws(CapsuleError) in try p.verify() })
        switch verdict {
        case .success(let v):
            expect(v == s && s.capsule == p.cid, "verify accepts a signature for \(s.capsule)", input: input)
            let other = s.publisher == otherKey.publicKey.did ? fuzzKey.publicKey.did : otherKey.publicKey.did
            if case .failure(.unexpectedPublisher) = Result(catching: { () throws(CapsuleError) in try p.verify(expectedPublisher: other) }) {} else {
                propertyFailed("verify does not refuse another expected publisher", input: input)
            }
        case .failure(.signatureForOtherCapsule(let signed, let c)):
            expect(signed == s.capsule && c == p.cid && s.capsule != p.cid, "signatureForOtherCapsule(\(signed), \(c)) for a signature of \(s.capsule)", input: input)
        case .failure(.invalidSignature(let publisher)):
            expect(s.capsule == p.cid && !s.isValid && publisher == s.publisher, "invalidSignature for a signature that is valid or for another capsule", input: input)
        case .failure(let e):
            propertyFailed("verify answers \(e) for a signed package", input: input)
        }
        if validSignature, case .failure(let e) = verdict { propertyFailed("a package signed here does not verify: \(e)", input: input) }
    } else {
        if case .failure(.notSigned) = Result(catching: { () throws(CapsuleError) in try p.verify() }) {} else {
            propertyFailed("verify does not say an unsigned package is not signed", input: input)
        }
    }

    // Unsigned, and signed by a fixed key.
    guard thorough else { return }
    let unsigned = CapsulePackage(content: content)
    if p.signature == nil { expect(unsigned.car == p.car, "the unsigned package of the content encodes differently", input: input) }
    switch Result(catching: { () throws(CapsuleError) in try CapsulePackage(car: unsigned.car, limits: limits) }) {
    case .success(let u): expect(u.cid == p.cid && u.signature == nil, "the package unsigned reads back as \(u.cid)", input: input)
    case .failure(let e): propertyFailed("the package unsigned is refused: \(e)", input: input)
    }
    // Signing costs, so only unsigned packages are signed here.
    guard p.signature == nil else { return }
    let resigned = p.signed(by: fuzzKey)
    switch Result(catching: { () throws(CapsuleError) in try CapsulePackage(car: resigned.car, limits: limits) }) {
    case .success(let r):
        expect(r.cid == p.cid && r.signature == resigned.signature, "the package signed again reads back as \(r.cid)", input: input)
        expect((try? r.verify(expectedPublisher: fuzzKey.publicKey.did)) != nil, "the package signed again does not verify", input: input)
    case .failure(let e): propertyFailed("the package signed by another key is refused: \(e)", input: input)
    }
}

// MARK: - Rehashing

struct LooseSection {
    var codec: UInt64
    /// Where the CID's sha2-256 digest is, if the CID has one.
    var digest: Range<Int>?
    var block: Range<Int>
}

/// The input's header and sections, read only as far as lengths and CID prefixes.
func looseCAR(_ b: [UInt8]) -> (header: Range<Int>, sections: [LooseSection])? {
    var offset = 0
    guard let headerLength = try? Varint.decode(b, offset: &offset), headerLength <= UInt64(b.count - offset) else { return nil }
    let header = offset..<(offset + Int(headerLength))
    offset = header.upperBound
    var sections: [LooseSection] = []
    while offset < b.count {
        guard let length = try? Varint.decode(b, offset: &offset), length <= UInt64(b.count - offset) else { return nil }
        let end = offset + Int(length)
        var o = offset
        var section = LooseSection(codec: 0, digest: nil, block: end..<end)
        if (try? Varint.decode(b, offset: &o)) == 1, let codec = try? Varint.decode(b, offset: &o),
           let code = try? Varint.decode(b, offset: &o), let size = try? Varint.decode(b, offset: &o),
           code == 0x12, size == 32, o + 32 <= end {
            section = LooseSection(codec: codec, digest: o..<(o + 32), block: (o + 32)..<end)
        }
        sections.append(section)
        offset = end
    }
    return (header, sections)
}

/// Replaces each `12 20 ‖ old digest` in `bytes` whose digest `replacement` maps.
func substituteDigests(_ bytes: inout [UInt8], _ replacement: ([UInt8]) -> [UInt8]?) {
    guard bytes.count >= 34 else { return }
    var p = 0
    while p + 34 <= bytes.count {
        if bytes[p] == 0x12, bytes[p + 1] == 0x20, let new = replacement(Array(bytes[(p + 2)..<(p + 34)])) {
            bytes.replaceSubrange((p + 2)..<(p + 34), with: new)
            p += 34
        } else {
            p += 1
        }
    }
}

func replaceAll(_ bytes: inout [UInt8], _ old: [UInt8], _ new: [UInt8]) {
    guard !old.isEmpty, old.count == new.count, bytes.count >= old.count else { return }
    var p = 0
    while p + old.count <= bytes.count {
        if bytes[p] == old[0], bytes[p..<(p + old.count)].elementsEqual(old) {
            bytes.replaceSubrange(p..<(p + old.count), with: new)
            p += old.count
        } else {
            p += 1
        }
    }
}

/// The input with every section's CID made true again (see the header comment).
func rehashed(_ input: [UInt8]) -> [UInt8]? {
    guard let loose = looseCAR(input), !loose.sections.isEmpty else { return nil }
    let header = loose.header, sections = loose.sections
    let dagPB: UInt64 = 0x70, raw: UInt64 = 0x55
    var index: [[UInt8]: Int] = [:]
    for (i, s) in sections.enumerated() {
        if let d = s.digest, index[Array(input[d])] == nil { index[Array(input[d])] = i }
    }
    var blocks = sections.map { Array(input[$0.block]) }
    var newDigest: [[UInt8]?] = Array(repeating: nil, count: sections.count)
    var inProgress = Set<Int>()

    // dag-pb blocks bottom-up (a cycle, possible with made-up CIDs, keeps its old digest).
    func fix(_ i: Int) -> [UInt8] {
        if let d = newDigest[i] { return d }
        guard let range = sections[i].digest else { return [] }
        if inProgress.contains(i) { return Array(input[range]) }
        inProgress.insert(i)
        if sections[i].codec == dagPB {
            // A copy: fix(j) writes blocks[j] while this one is being rewritten.
            var block = blocks[i]
            substituteDigests(&block) { old in index[old].map { j in j == i ? old : fix(j) } }
            blocks[i] = block
        }
        let d = Multihash.sha256(of: blocks[i]).digest
        newDigest[i] = d
        inProgress.remove(i)
        return d
    }
    for i in sections.indices where sections[i].digest != nil && sections[i].codec != raw { _ = fix(i) }
    // Raw blocks (the envelope): base32 CIDv1 dag-pb text of changed digests, then the hash.
    var texts: [([UInt8], [UInt8])] = []
    for (i, s) in sections.enumerated() {
        guard let range = s.digest, s.codec == dagPB, let new = newDigest[i], new != Array(input[range]),
              let oldMH = try? Multihash(code: .sha2_256, digest: Array(input[range])),
              let newMH = try? Multihash(code: .sha2_256, digest: new),
              let oldCID = try? CID(version: .v1, codec: .dagPB, multihash: oldMH),
              let newCID = try? CID(version: .v1, codec: .dagPB, multihash: newMH) else { continue }
        texts.append((Array(oldCID.description.utf8), Array(newCID.description.utf8)))
    }
    for i in sections.indices where sections[i].digest != nil && sections[i].codec == raw {
        for (old, new) in texts { replaceAll(&blocks[i], old, new) }
        newDigest[i] = Multihash.sha256(of: blocks[i]).digest
    }

    var out = input
    for (i, s) in sections.enumerated() {
        guard let range = s.digest, let d = newDigest[i] else { continue }
        out.replaceSubrange(range, with: d)
        out.replaceSubrange(s.block, with: blocks[i])
    }
    var head = Array(input[header])
    substituteDigests(&head) { old in index[old].flatMap { newDigest[$0] } }
    out.replaceSubrange(header, with: head)
    return out
}

// MARK: - Built trees

/// Name characters for other bytes: mostly ordinary, some a file system or Unicode makes interesting
/// (precomposed and decomposed é, a Kelvin sign, '/', NUL, a space, dots).
let alphabet: [String] = "abcdefghijklmnopqrstuvwxyz0123456789".map(String.init)
    + ["-", "_", ".", ".", " ", "~", "A", "Z", "é", "e\u{301}", "\u{212A}", "K", "ø", "😀", "/", "\u{0}",
       "\\", ":", "\u{7F}", "\u{FEFF}", "\u{2028}", "%", "#", ".."]

/// a–z, 0–9, '-', '.' and '_' stand for themselves; other bytes pick from the alphabet.
func nameCharacter(_ b: UInt8) -> String {
    if (0x61...0x7A).contains(b) || (0x30...0x39).contains(b) || b == 0x2D || b == 0x2E || b == 0x5F {
        return String(UnicodeScalar(b))
    }
    return alphabet[Int(b) % alphabet.count]
}

struct Cursor {
    let bytes: [UInt8]
    var offset: Int
    mutating func next() -> UInt8? {
        guard offset < bytes.count else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }
    mutating func take(_ n: Int) -> [UInt8] {
        let end = min(bytes.count, offset + n)
        defer { offset = end }
        return Array(bytes[offset..<end])
    }
}

/// A mutable directory while building.
final class Dir {
    var entries: [UnixFSDirectoryEntry] = []
    var subdirs: [(name: String, dir: Dir)] = []
    var tree: UnixFSEntry {
        .directory(entries + subdirs.map { UnixFSDirectoryEntry(name: $0.name, entry: $0.dir.tree) })
    }
}

/// The tree an input describes (see `fuzzCapsulePackage`'s third way). Layout:
///   flags ‖ op* ‖ [0xFE ‖ capsule.json]
/// flags: bit 0 signed, bit 1 capsule.json is the bytes after 0xFE, bits 3–4 the template's
/// type; flags 0xA4/0xA5 add a file of two chunks and 0xE4/0xE5 one of three (rare on purpose:
/// such an input takes a hundred times longer than the others).
/// op: low 2 bits 0 file, 1 enter a new directory, 2 leave it, 3 file with the previous file's
/// content; bits 2–4 the name's length - 1, the name's characters from the next bytes; a file's
/// length from the next byte, its content from the bytes after.
func built(_ input: [UInt8]) -> (tree: UnixFSEntry, signed: Bool)? {
    guard let flags = input.first else { return nil }
    let split = input.firstIndex(of: 0xFE) ?? input.count
    var c = Cursor(bytes: Array(input[..<split]), offset: 1)
    let root = Dir()
    var stack = [(path: "", dir: root)]
    var firstFile: String?
    var previous: [UInt8] = []
    var ops = 0
    while let op = c.next(), ops < 48 {
        ops += 1
        let name = c.take(Int(op >> 2 & 7) + 1).map(nameCharacter).joined()
        let here = stack[stack.count - 1]
        let path = here.path.isEmpty ? name : here.path + "/" + name
        switch op & 3 {
        case 0, 3:
            let content = op & 3 == 0 ? c.take(Int(c.next() ?? 0)) : previous
            here.dir.entries.append(UnixFSDirectoryEntry(name: name, entry: .file(content)))
            previous = content
            if firstFile == nil { firstFile = path }
        case 1:
            let dir = Dir()
            here.dir.subdirs.append((name, dir))
            stack.append((path, dir))
        default:
            if stack.count > 1 { stack.removeLast() }
        }
    }
    let bigChunks = flags & 0xFE == 0xA4 ? 2 : flags & 0xFE == 0xE4 ? 3 : 0
    if bigChunks > 0 {
        // The input repeated: equal chunks (deduplicated) when its length divides the chunk size.
        let size = UnixFSImporter.chunkSize * (bigChunks - 1) + input.count
        var big: [UInt8] = []
        big.reserveCapacity(size)
        while big.count < size { big += input.prefix(size - big.count) }
        root.entries.append(UnixFSDirectoryEntry(name: "big.bin", entry: .file(big)))
    }
    let manifest: [UInt8]
    if flags & 0x02 != 0, split < input.count {
        manifest = Array(input[(split + 1)...])
    } else {
        if firstFile == nil {
            root.entries.append(UnixFSDirectoryEntry(name: "main.wasm", entry: .file([0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00])))
            firstFile = "main.wasm"
        }
        let type = ["wasm", "native", "microvm", "data"][Int(flags >> 3 & 3)]
        let viewer = type == "data" ? ",\"viewer\":\"hello\"" : ""
        var quoted = ""
        for scalar in firstFile!.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            default: if scalar.value < 0x20 { quoted += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16) } else { quoted.unicodeScalars.append(scalar) }
            }
        }
        manifest = Array(("{\"schema\":\"elastos.capsule/v1\",\"name\":\"fuzz-capsule\",\"version\":\"1.0.0\",\"type\":\"\(type)\","
                          + "\"role\":\"app\",\"entrypoint\":\"\(quoted)\"\(viewer)}").utf8)
    }
    root.entries.append(UnixFSDirectoryEntry(name: CapsuleManifest.fileName, entry: .file(manifest)))
    return (root.tree, flags & 0x01 != 0)
}

func checkBuilt(_ input: [UInt8]) {
    guard let b = built(input) else { return }
    let tree = b.tree, signed = b.signed
    let content: CapsuleContent
    do throws(CapsuleError) {
        content = try CapsuleContent(tree: tree, limits: limits)
    } catch {
        _ = error.description
        return
    }
    var package = CapsulePackage(content: content)
    if signed { package = package.signed(by: fuzzKey) }
    let car = package.car
    // Within these limits a tree that is valid content always fits a package: at most 32
    // entries and one file of up to 3 chunks make ≤ 37 blocks and ≤ 37 node visits.
    switch Result(catching: { () throws(CapsuleError) in try CapsulePackage(car: car, limits: limits) }) {
    case .failure(let e):
        propertyFailed("a package built from valid content (\(content.cid), \(content.dag.blocks.count) blocks) is refused: \(e)", input: input)
    case .success(let p):
        expect(p.cid == content.cid && sameTree(p.content.tree, tree) && p.signature == package.signature,
               "a built package reads back as another (\(p.cid), was \(content.cid))", input: input)
        checkAccepted(p, car: car, input: input, validSignature: signed)
    }
}
