// `elastos capsule …` end to end, through the real binary.

import ElastosCapsule
import ElastosCore
import Foundation
import Testing

@Suite(.serialized) struct CapsuleCLITests {
    let dir = TempDir()
    var cli: CLI { CLI(home: dir.path + "/home") }

    /// A capsule directory with a manifest, a module and a nested multi-block file.
    func capsule(_ name: String = "app", manifest: String? = nil) throws -> String {
        let root = dir.path + "/" + name
        let files: [String: [UInt8]] = [
            "capsule.json": Array((manifest ?? """
                {"schema":"elastos.capsule/v1","name":"hello","version":"1.0.0","type":"wasm","role":"app",
                 "entrypoint":"hello.wasm","capabilities":[{"resource":"localhost://storage/apps/hello/*",
                 "actions":["read","write"],"reason":"keeps its notes"}]}
                """).utf8),
            "hello.wasm": Array("\0asm".utf8),
            "data/nested/blob.bin": (0..<400_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) },
        ]
        for (rel, content) in files {
            let path = root + "/" + rel
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(content).write(to: URL(fileURLWithPath: path))
        }
        return root
    }

    func did(of home: String) throws -> String {
        let out = try CLI(home: home).run(["identity", "--json"]).stdout
        let object = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: String]
        return try #require(object?["did"])
    }

    func storeIsEmpty() -> Bool {
        let blocks = (try? FileManager.default.contentsOfDirectory(atPath: dir.path + "/home/capsules/blocks")) ?? []
        let index = (try? String(contentsOfFile: dir.path + "/home/capsules/index.json", encoding: .utf8)) ?? ""
        return blocks.isEmpty && !index.contains("\"cid\"")
    }

    @Test func theSameDirectoryPackedTwiceGivesTheSameCIDAndPackage() throws {
        let app = try capsule()
        let a = try cli.run(["capsule", "pack", app, "--out", dir.path + "/a.car"])
        let b = try cli.run(["capsule", "pack", app, "--out", dir.path + "/b.car"])
        #expect(a.status == 0 && b.status == 0, "\(a.stderr)")
        #expect(a.stdout == b.stdout && a.stdout.hasPrefix("bafybei"))
        #expect(FileManager.default.contentsEqual(atPath: dir.path + "/a.car", andPath: dir.path + "/b.car"))
        // A copy with different modes and times packs to the same CID.
        let copy = dir.path + "/copy"
        try FileManager.default.copyItem(atPath: app, toPath: copy)
        chmod(copy + "/hello.wasm", 0o755)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1000)], ofItemAtPath: copy + "/data")
        #expect(try cli.run(["capsule", "pack", copy]).stdout == a.stdout)
    }

    @Test func signVerifyInstallListAndRemoveAreAudited() throws {
        let app = try capsule()
        let publisherHome = dir.path + "/publisher"
        let publisher = try did(of: publisherHome)
        let package = dir.path + "/hello.car"
        let signed = try cli.run(["capsule", "sign", app, "--key", publisherHome + "/identity/node.key", "--out", package])
        #expect(signed.status == 0, "\(signed.stderr)")
        let cid = signed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

        let verify = try cli.run(["capsule", "verify", package, "--publisher", publisher, "--json"])
        #expect(verify.status == 0, "\(verify.stderr)")
        let v = try JSONSerialization.jsonObject(with: Data(verify.stdout.utf8)) as? [String: Any]
        #expect(v?["cid"] as? String == cid && v?["trust"] as? String == "untrusted" && v?["valid"] as? Bool == true)
        #expect(verify.stderr.contains("warning:") && verify.stderr.contains("granted nothing automatically"))

        let inspect = try cli.run(["capsule", "inspect", package, "--json"])
        let i = try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any]
        #expect((i?["manifest"] as? [String: Any])?["name"] as? String == "hello")
        #expect(((i?["signature"] as? [String: Any])?["valid"]) as? Bool == true)
        #expect((i?["files"] as? [[String: Any]])?.count == 3)

        let install = try cli.run(["capsule", "install", package])
        #expect(install.status == 0 && install.stdout.contains("installed hello 1.0.0 \(cid) (untrusted)"), "\(install.stderr)")
        #expect(install.stderr.contains("warning:"))
        #expect(try cli.run(["capsule", "trust", "add", publisher]).status == 0)
        let list = try cli.run(["capsule", "list", "--json"])
        let l = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]
        #expect(l?.count == 1 && l?.first?["trust"] as? String == "trusted" && l?.first?["cid"] as? String == cid)
        #expect(try cli.run(["capsule", "trust", "list"]).stdout.contains(publisher))
        #expect(try cli.run(["capsule", "trust", "remove", publisher]).status == 0)
        #expect(try cli.run(["capsule", "list"]).stdout.contains("hello 1.0.0 wasm/app untrusted \(cid)"))

        let remove = try cli.run(["capsule", "remove", cid])
        #expect(remove.status == 0 && remove.stdout.contains("removed hello"), "\(remove.stderr)")
        #expect(try cli.run(["capsule", "list"]).stdout.contains("no capsules installed"))
        #expect(storeIsEmpty())

        let tail = try cli.run(["audit", "tail", "-n", "50", "--json"]).stdout
        for event in ["capsule.installed", "trust.publisher.added", "trust.publisher.removed", "capsule.removed"] {
            #expect(tail.contains("\"event\":\"\(event)\""), "\(event)")
        }
        #expect(try cli.run(["audit", "verify"]).status == 0)
    }

    @Test func aTamperedPackageIsRefusedBeforeAnythingIsStored() throws {
        let app = try capsule()
        let package = dir.path + "/signed.car"
        #expect(try cli.run(["capsule", "sign", app, "--out", package]).status == 0)
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: package)))
        // One byte in the manifest's block, in the nested file's blocks, in the header.
        let manifestAt = try #require(find(Array("keeps its notes".utf8), in: original))
        for offset in [manifestAt, original.count / 2, original.count - 400, 6] {
            var bytes = original
            bytes[offset] ^= 0x01
            let bad = dir.path + "/bad-\(offset).car"
            try Data(bytes).write(to: URL(fileURLWithPath: bad))
            let verify = try cli.run(["capsule", "verify", bad])
            #expect(verify.status != 0 && verify.stdout.isEmpty, "offset \(offset)")
            #expect(verify.stderr.split(separator: "\n").count == 1, "\(verify.stderr)")
            let install = try cli.run(["capsule", "install", bad])
            #expect(install.status != 0 && install.stderr.contains("Error:"), "offset \(offset)")
            #expect(storeIsEmpty())
        }
        let tail = try cli.run(["audit", "tail", "-n", "20"]).stdout
        #expect(tail.contains("capsule.install.refused"))
        // An unsigned package and an unsigned directory are refused too.
        let unsigned = dir.path + "/unsigned.car"
        #expect(try cli.run(["capsule", "pack", app, "--out", unsigned]).status == 0)
        #expect(try cli.run(["capsule", "install", unsigned]).stderr.contains("is not signed"))
        #expect(try cli.run(["capsule", "install", app]).stderr.contains("is not signed"))
        #expect(try cli.run(["capsule", "verify", app]).status != 0)
        #expect(storeIsEmpty())
    }

    @Test func aPackageSignedByAnotherKeyThanClaimedIsRefused() throws {
        let app = try capsule()
        let alice = dir.path + "/alice", bob = dir.path + "/bob"
        let aliceDID = try did(of: alice), bobDID = try did(of: bob)
        let package = dir.path + "/bob.car"
        #expect(try cli.run(["capsule", "sign", app, "--key", bob + "/identity/node.key", "--out", package]).status == 0)
        // Verifying against the publisher one expected fails.
        let wrong = try cli.run(["capsule", "verify", package, "--publisher", aliceDID])
        #expect(wrong.status != 0 && wrong.stderr.contains("not by the expected publisher \(aliceDID)"), "\(wrong.stderr)")
        // An envelope rewritten to claim Alice, with Bob's signature, is refused everywhere.
        let real = try CapsulePackage(file: package)
        let bobs = try #require(real.signature)
        #expect(bobs.publisher.description == bobDID)
        let claim = "{\"version\":1,\"capsule\":\"\(real.cid)\",\"publisher\":\"\(aliceDID)\",\"signature\":\"\(Hex.encode(bobs.signature))\"}"
        let forged = CapsulePackage(content: real.content, signature: try CapsuleSignature(envelope: Array(claim.utf8)))
        let forgedPath = dir.path + "/forged.car"
        try forged.write(to: forgedPath)
        let v = try cli.run(["capsule", "verify", forgedPath])
        #expect(v.status != 0 && v.stderr.contains("does not verify against the claimed publisher \(aliceDID)"), "\(v.stderr)")
        #expect(try cli.run(["capsule", "install", forgedPath]).status != 0)
        #expect(try cli.run(["capsule", "inspect", forgedPath]).stdout.contains("INVALID"))
        #expect(storeIsEmpty())
    }

    @Test func devInstallsADirectorySignedByTheNodeKey() throws {
        let app = try capsule()
        let r = try cli.run(["capsule", "install", app, "--dev"])
        #expect(r.status == 0 && r.stdout.contains("(node)"), "\(r.stderr)")
        let again = try cli.run(["capsule", "install", app, "--dev"])
        #expect(again.stdout.contains("already installed"))
        let package = dir.path + "/p.car"
        #expect(try cli.run(["capsule", "sign", app, "--out", package]).status == 0)
        #expect(try cli.run(["capsule", "install", package, "--dev"]).stderr.contains("--dev signs a capsule directory"))
        #expect(try cli.run(["capsule", "remove", "hello"]).status == 0)
        #expect(try cli.run(["capsule", "remove", "hello"]).stderr.contains("no installed capsule"))
    }

    @Test func manifestAndContentErrorsAreOneLineNamingTheField() throws {
        let app = try capsule("bad", manifest: """
            {"schema":"elastos.capsule/v1","name":"hello","version":"1.0.0","type":"wasm","role":"app","entrypoint":"hello.wasm",
             "capabilities":[{"resource":"elastos://did/*","actions":["read"],"reason":"a"},
                             {"resource":"elastos://peer/*","actions":["fly"],"reason":"b"}]}
            """)
        let r = try cli.run(["capsule", "pack", app])
        #expect(r.status != 0 && r.stderr.contains("capsule.json: capabilities[1].actions[0]: unknown action 'fly'"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1)
        try FileManager.default.createSymbolicLink(atPath: app + "/link", withDestinationPath: "/etc/passwd")
        #expect(try cli.run(["capsule", "inspect", app]).stderr.contains("is a symbolic link"))
        #expect(try cli.run(["capsule", "trust", "add", "did:key:nope"]).stderr.contains("not a did:key") ||
                (try cli.run(["capsule", "trust", "add", "did:key:nope"]).status != 0))
    }

    @Test func helpIsAvailableForEveryCapsuleCommand() throws {
        for cmd in [["capsule"], ["capsule", "pack"], ["capsule", "sign"], ["capsule", "verify"], ["capsule", "inspect"],
                    ["capsule", "install"], ["capsule", "list"], ["capsule", "remove"], ["capsule", "trust"],
                    ["capsule", "trust", "add"], ["capsule", "trust", "remove"], ["capsule", "trust", "list"]] {
            let r = try CLI.exec(CLI.binary, cmd + ["--help"])
            #expect(r.status == 0 && r.stdout.contains("USAGE"), "\(cmd)")
        }
    }
}

private func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard haystack.count >= needle.count else { return nil }
    return (0...(haystack.count - needle.count)).first { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
}
