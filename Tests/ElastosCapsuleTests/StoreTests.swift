// The capsule store and the trust list: verify before storing, trust levels, removal, and
// materializing with re-verification.

import ElastosCapsule
import ElastosCore
import ElastosNode
import Foundation
import Synchronization
import Testing

@Suite struct StoreTests {
    let scratch = Scratch()
    let nodeKey = SigningKey()
    let audit = RecordingAuditSink()
    var home: NodeHome { NodeHome(path: scratch.sub("home")) }
    var store: CapsuleStore { CapsuleStore(home: home, nodeDID: nodeKey.publicKey.did, audit: audit, clock: { 1_800_000_000 }) }

    /// Everything under <home>/capsules except the lock file.
    func storedFiles() -> [String] {
        let dir = home.path + "/capsules"
        let all = (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String]) ?? []
        return all.filter { $0 != "lock" && $0 != "blocks" && $0 != "pins" }.sorted()
    }

    func signedPackage(name: String = "hello", by key: SigningKey, extra: [String: [UInt8]] = [:]) throws -> (String, CapsulePackage) {
        let dir = scratch.sub("src-\(name)-\(UUID().uuidString)")
        try makeCapsule(at: dir, name: name, extraFiles: extra)
        let package = try CapsulePackage(directory: dir).signed(by: key)
        let file = dir + ".car"
        try package.write(to: file)
        return (file, package)
    }

    @Test func aValidPackageIsInstalledListedMaterializedAndRemoved() throws {
        let publisher = SigningKey()
        let big = randomBytes(seed: 11, 1 << 20)
        let (file, package) = try signedPackage(by: publisher, extra: ["lib/big.bin": big, "lib/deep/er/x": [7]])
        let result = try store.install(path: file)
        #expect(!result.alreadyInstalled && result.replaced == nil)
        #expect(result.capsule.cid == package.cid && result.capsule.name == "hello" && result.capsule.version == "1.0.0")
        #expect(result.capsule.trust == .untrusted && result.capsule.installedAt == 1_800_000_000)
        #expect(audit.names == ["capsule.installed"])
        #expect(audit.all[0].reason.contains("not on the trust list"))
        #expect(try store.list().map(\.cid) == [package.cid])
        #expect(try store.install(path: file).alreadyInstalled)

        let path = try store.materialize(package.cid)
        #expect(path == home.path + "/capsules/run/\(package.cid)")
        let src = file.replacingOccurrences(of: ".car", with: "")
        #expect(try readFiles(under: path) == (try readFiles(under: src)))
        // Read-only copies; materializing again keeps a copy that still hashes to the CID.
        #expect((try FileManager.default.attributesOfItem(atPath: path + "/hello.wasm")[.posixPermissions] as? NSNumber)?.intValue == 0o400)
        let inode = try FileManager.default.attributesOfItem(atPath: path + "/hello.wasm")[.systemFileNumber] as? NSNumber
        #expect(try store.materialize(package.cid) == path)
        #expect(try FileManager.default.attributesOfItem(atPath: path + "/hello.wasm")[.systemFileNumber] as? NSNumber == inode)
        // Launches at once (each materializes): all succeed and leave one good copy.
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            if (try? store.materialize(package.cid)) != path { failures.withLock { $0 += 1 } }
        }
        #expect(failures.withLock { $0 } == 0)
        #expect(try readFiles(under: path) == (try readFiles(under: src)))
        // A copy changed on disk no longer hashes to the CID and is replaced.
        chmod(path, 0o700); chmod(path + "/hello.wasm", 0o600)
        try Data("tampered".utf8).write(to: URL(fileURLWithPath: path + "/hello.wasm"))
        #expect(try store.materialize(package.cid) == path)
        #expect(try readFiles(under: path) == (try readFiles(under: src)))

        // The same capsule by CIDv0, by name.
        #expect(try store.find(package.content.cidV0.description).cid == package.cid)
        #expect(try store.find("hello").cid == package.cid)
        let removed = try store.remove("hello")
        #expect(removed.cid == package.cid)
        #expect(try store.list().isEmpty)
        #expect(storedFiles().filter { !$0.hasPrefix("run") }.allSatisfy { $0 == "index.json" }, "\(storedFiles())")
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(audit.names.suffix(1) == ["capsule.removed"])
        #expect(throws: CapsuleError.self) { try store.remove("hello") }
    }

    @Test func tamperedUnsignedOrForgedPackagesAreRefusedAndNothingIsStored() throws {
        let publisher = SigningKey()
        let (file, package) = try signedPackage(by: publisher, extra: ["big.bin": randomBytes(seed: 5, 400_000)])
        let car = package.car
        // One byte in each block, one in the header.
        let offsets = [5, car.count / 3, car.count / 2, car.count - 300, car.count - 1]
        for offset in offsets {
            var bytes = car
            bytes[offset] ^= 0x04
            let bad = scratch.sub("bad-\(offset).car")
            try Data(bytes).write(to: URL(fileURLWithPath: bad))
            #expect(throws: CapsuleError.self, "offset \(offset)") { try store.install(path: bad) }
        }
        // Unsigned: a package without an envelope, or a directory without --dev.
        let unsigned = scratch.sub("unsigned.car")
        try CapsulePackage(content: package.content).write(to: unsigned)
        #expect(throws: CapsuleError.self) { try store.install(path: unsigned) }
        #expect(throws: CapsuleError.self) { try store.install(path: file.replacingOccurrences(of: ".car", with: "")) }
        // Claims Alice, signed by Bob.
        let alice = SigningKey()
        let bobs = package.signature!
        let text = "{\"version\":1,\"capsule\":\"\(package.cid)\",\"publisher\":\"\(alice.publicKey.did)\",\"signature\":\"\(Hex.encode(bobs.signature))\"}"
        let forged = CapsulePackage(content: package.content, signature: try CapsuleSignature(envelope: Array(text.utf8)))
        let forgedFile = scratch.sub("forged.car")
        try forged.write(to: forgedFile)
        #expect(throws: CapsuleError.self) { try store.install(path: forgedFile) }
        #expect(throws: CapsuleError.self) { try store.install(forged) }

        #expect(storedFiles().isEmpty, "\(storedFiles())")
        #expect(try store.list().isEmpty)
        #expect(audit.all.count == offsets.count + 4)
        #expect(audit.all.allSatisfy { $0.event == "capsule.install.refused" && $0.decision == .deny })
        #expect(audit.all.last?.reason.contains("does not verify against the claimed publisher \(alice.publicKey.did)") == true)
    }

    @Test func trustLevelsFollowTheTrustListAndTheNodeKey() throws {
        let publisher = SigningKey()
        let (file, _) = try signedPackage(by: publisher)
        #expect(try store.install(path: file).capsule.trust == .untrusted)
        var list = try TrustList(home: home)
        #expect(try list.add(publisher.publicKey.did))
        #expect(try !list.add(publisher.publicKey.did))
        #expect(try store.list().first?.trust == .trusted)
        let text = try String(contentsOfFile: TrustList.path(in: home), encoding: .utf8)
        #expect(text.hasPrefix("#") && text.contains(publisher.publicKey.did.description + "\n"))
        #expect(try list.remove(publisher.publicKey.did))
        #expect(try store.list().first?.trust == .untrusted)
        #expect(try TrustList(home: home).publishers.isEmpty)

        // --dev: a directory signed by the node key.
        let dir = scratch.sub("devcap")
        try makeCapsule(at: dir, name: "dev-tool")
        let dev = try store.install(path: dir, devKey: nodeKey)
        #expect(dev.capsule.trust == .node && dev.capsule.publisher == nodeKey.publicKey.did)

        // A damaged trust list is an error, never silently ignored.
        try "# ok\ndid:key:z6MkNOPE\n".write(toFile: TrustList.path(in: home), atomically: true, encoding: .utf8)
        #expect {
            try TrustList(home: home)
        } throws: { "\($0)".contains("publishers:2:") }
        #expect(throws: CapsuleError.self) { try store.list() }
    }

    @Test func aNameBelongsToOnePublisherAndNewVersionsReplaceOldOnes() throws {
        let alice = SigningKey(), mallory = SigningKey()
        let (first, v1) = try signedPackage(by: alice)
        try store.install(path: first)
        // Same name, another publisher: refused.
        let (evil, _) = try signedPackage(by: mallory, extra: ["x": [1]])
        #expect {
            try store.install(path: evil)
        } throws: { "\($0)".contains("from another publisher") }
        // Same name, same publisher, new content: replaces, and the old blocks go.
        let dir = scratch.sub("v2")
        try makeCapsule(at: dir, extraFiles: ["capsule.json": Array(manifestJSON().replacingOccurrences(of: "1.0.0", with: "1.1.0").utf8)])
        let v2 = try CapsulePackage(directory: dir).signed(by: alice)
        let result = try store.install(v2)
        #expect(result.replaced?.cid == v1.cid && result.capsule.version == "1.1.0")
        #expect(try store.list().map(\.cid) == [v2.cid])
        let blocks = try FileManager.default.contentsOfDirectory(atPath: home.path + "/capsules/blocks").sorted()
        let expected = (v2.content.dag.blocks.map { CapsuleContent.v1OfDAG($0.cid).description } + [v2.signature!.cid.description]).sorted()
        #expect(blocks == expected)
        #expect(throws: CapsuleError.self) { try store.materialize(v1.cid) }
        _ = try store.materialize(v2.cid)
    }

    @Test func storedBlocksAreVerifiedAgainWhenMaterialized() throws {
        let (file, package) = try signedPackage(by: SigningKey(), extra: ["data.bin": randomBytes(seed: 9, 500_000)])
        try store.install(path: file)
        let blocksDir = home.path + "/capsules/blocks"
        // Damage one stored leaf.
        let leaf = CapsuleContent.v1OfDAG(package.content.dag.blocks[package.content.dag.blocks.count / 2].cid)
        let path = blocksDir + "/\(leaf)"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: path))
        #expect {
            try store.materialize(package.cid)
        } throws: { "\($0)".contains("does not match its CID") }
        // Remove it instead.
        try FileManager.default.removeItem(atPath: path)
        #expect(throws: CapsuleError.self) { try store.materialize(package.cid) }
        #expect(!FileManager.default.fileExists(atPath: home.path + "/capsules/run/\(package.cid)"))
        // A swapped signature block is caught too.
        let (file2, package2) = try signedPackage(name: "other", by: SigningKey())
        try store.install(path: file2)
        let sig = blocksDir + "/\(package2.signature!.cid)"
        try Data(CapsuleSignature.sign(package2.cid, with: SigningKey()).envelope).write(to: URL(fileURLWithPath: sig))
        #expect(throws: CapsuleError.self) { try store.materialize(package2.cid) }
    }

    @Test func aNativeEntrypointIsMaterializedExecutable() throws {
        let dir = scratch.sub("native")
        try writeFiles(["capsule.json": Array(manifestJSON(name: "tool", type: "native", entrypoint: "bin/tool").utf8),
                        "bin/tool": Array("#!/bin/sh\necho hi\n".utf8), "bin/other": [1]], under: dir)
        let result = try store.install(path: dir, devKey: nodeKey)
        let path = try store.materialize(result.capsule.cid)
        #expect(FileManager.default.isExecutableFile(atPath: path + "/bin/tool"))
        #expect(!FileManager.default.isExecutableFile(atPath: path + "/bin/other"))
    }
}

extension CapsuleContent {
    /// The CIDv1 a store names a DAG block by.
    static func v1OfDAG(_ cid: CID) -> CID {
        (try? CID(version: .v1, codec: .dagPB, multihash: cid.multihash)) ?? cid
    }
}
