// Packing, the CARv1 package, and signatures: determinism, tamper detection, strictness.

#if canImport(Glibc)
import Glibc
#endif
import ElastosCapsule
import ElastosCore
import Foundation
import Testing

private func pack(_ dir: String, limits: CapsuleLimits = .default) throws(CapsuleError) -> CapsulePackage {
    try CapsulePackage(directory: dir, limits: limits)
}

/// The error a throwing body fails with (or nil).
private func failure(_ body: () throws -> Void) -> (any Error)? {
    do {
        try body()
        return nil
    } catch {
        return error
    }
}

/// Splits a CAR into (header, [(start of section, section bytes)]) for surgery in tests.
private func sections(_ car: [UInt8]) -> (header: [UInt8], sections: [[UInt8]]) {
    var offset = 0
    func varint() -> Int {
        var value = 0, shift = 0
        while true {
            let b = car[offset]; offset += 1
            value |= Int(b & 0x7F) << shift
            if b & 0x80 == 0 { return value }
            shift += 7
        }
    }
    let headerStart = offset
    let h = varint()
    offset += h
    let header = Array(car[headerStart..<offset])
    var out: [[UInt8]] = []
    while offset < car.count {
        let start = offset
        let n = varint()
        offset += n
        out.append(Array(car[start..<offset]))
    }
    return (header, out)
}

@Suite struct PackageTests {
    let scratch = Scratch()

    @Test func theSameDirectoryPackedTwiceGivesTheSameCIDAndTheSameBytes() throws {
        let dir = scratch.sub("app")
        try makeCapsule(at: dir, extraFiles: ["data/z.bin": randomBytes(seed: 1, 300_000), "data/a": []])
        let first = try pack(dir), second = try pack(dir)
        #expect(first.cid == second.cid)
        #expect(first.car == second.car)
        #expect(first.cid.description.hasPrefix("bafybei"))
        #expect(first.content.cidV0.description.hasPrefix("Qm"))
        #expect(first.content.cidV0.multihash == first.cid.multihash)

        // A copy with other modes and times is the same capsule.
        let copy = scratch.sub("copy")
        try writeFiles(try readFiles(under: dir), under: copy)
        chmod(copy + "/hello.wasm", 0o755)
        chmod(copy + "/data/z.bin", 0o600)
        var times = [timespec(tv_sec: 86_400, tv_nsec: 0), timespec(tv_sec: 86_400, tv_nsec: 0)]
        utimensat(AT_FDCWD, copy + "/assets/readme.txt", &times, 0)
        utimensat(AT_FDCWD, copy + "/data", &times, 0)
        let copied = try pack(copy)
        #expect(copied.cid == first.cid && copied.car == first.car)

        // Signing is deterministic too (Ed25519), so the signed package is as well.
        let key = SigningKey()
        #expect(first.signed(by: key).car == second.signed(by: key).car)
    }

    @Test func aPackageReadsBackToTheSameContentWithMultiBlockFilesAndNestedDirectories() throws {
        let dir = scratch.sub("big")
        var rng = SplitMix64(seed: 7)
        let mib = rng.bytes(1 << 20), k300 = rng.bytes(300 * 1024)
        try makeCapsule(at: dir, extraFiles: ["lib/a/b/c/mib.bin": mib, "lib/a/k300.bin": k300, "lib/a/b/empty": []])
        let package = try pack(dir).signed(by: SigningKey())
        let read = try CapsulePackage(car: package.car)
        #expect(read.cid == package.cid)
        #expect(read.car == package.car)
        #expect(try read.verify() == package.signature)
        let paths = read.content.files.map(\.path)
        #expect(paths == ["assets/readme.txt", "capsule.json", "hello.wasm", "lib/a/b/c/mib.bin", "lib/a/b/empty", "lib/a/k300.bin"])
        guard case .file(let back) = CapsuleContent.lookup("lib/a/b/c/mib.bin", in: read.content.tree) else {
            Issue.record("missing file"); return
        }
        #expect(back == mib)
        // 1 MiB is 4 leaves under one node, 300 KiB is 2 leaves under one node.
        // Six directories, three one-block files, the empty file, 4 + 1 and 2 + 1 blocks.
        #expect(read.content.dag.blocks.count == 6 + 3 + 1 + 5 + 3)
    }

    @Test func thePackageIsCARv1WithTheDirectoryAndTheEnvelopeAsRoots() throws {
        let dir = scratch.sub("car")
        try makeCapsule(at: dir)
        let signed = try pack(dir).signed(by: SigningKey())
        let (header, parts) = sections(signed.car)
        let cid = [0x00] + signed.cid.bytes
        let envelope = try #require(signed.signature)
        var expected: [UInt8] = [0xA2, 0x65] + Array("roots".utf8) + [0x82]
        expected += [0xD8, 0x2A, 0x58, UInt8(cid.count)] + cid
        expected += [0xD8, 0x2A, 0x58, UInt8(envelope.cid.bytes.count + 1), 0x00] + envelope.cid.bytes
        expected += [0x67] + Array("version".utf8) + [0x01]
        #expect(Array(header.dropFirst()) == expected && Int(header[0]) == expected.count)
        #expect(parts.count == signed.content.dag.blocks.count + 1)
        // The first block is the root directory, the last the envelope, as raw JSON.
        #expect(Array(parts[0].dropFirst(2).prefix(signed.cid.bytes.count)) == signed.cid.bytes)
        let text = String(decoding: envelope.envelope, as: UTF8.self)
        #expect(text == "{\"version\":1,\"capsule\":\"\(signed.cid)\",\"publisher\":\"\(envelope.publisher)\",\"signature\":\"\(Hex.encode(envelope.signature))\"}")
        #expect(parts.last.map { Array($0.suffix(envelope.envelope.count)) } == envelope.envelope)
        // The unsigned package has the directory as its only root.
        let unsigned = sections(try pack(dir).car)
        #expect(unsigned.header[1 + 7] == 0x81 && unsigned.sections.count == signed.content.dag.blocks.count)
        #expect(failure { try CapsulePackage(car: try pack(dir).car).verify() }.map { "\($0)" }?.contains("is not signed") == true)
    }

    @Test func aChangedFileOrManifestNoLongerMatchesItsSignature() throws {
        let dir = scratch.sub("tamper")
        try makeCapsule(at: dir)
        let key = SigningKey()
        let original = try pack(dir).signed(by: key)
        for file in ["hello.wasm", "capsule.json", "assets/readme.txt"] {
            let path = dir + "/" + file
            var content = try bytes(ofFile: path)
            let saved = content
            content[content.count / 2] ^= 0x01
            try Data(content).write(to: URL(fileURLWithPath: path))
            defer { try? Data(saved).write(to: URL(fileURLWithPath: path)) }
            // The attacker keeps the publisher's envelope on the changed content.
            guard let changed = try? pack(dir) else { continue }  // a broken capsule.json is refused anyway
            #expect(changed.cid != original.cid, "\(file)")
            let forged = CapsulePackage(content: changed.content, signature: original.signature)
            let reread = try CapsulePackage(car: forged.car)
            #expect(throws: CapsuleError.self) { try reread.verify() }
            guard case .signatureForOtherCapsule(let signed, let content)? = failure({ try reread.verify() }) as? CapsuleError else {
                Issue.record("\(file): expected signatureForOtherCapsule"); continue
            }
            #expect(signed == original.cid && content == changed.cid)
        }
    }

    @Test func aSignatureByAnotherKeyThanTheClaimedPublisherIsRefused() throws {
        let dir = scratch.sub("claims")
        try makeCapsule(at: dir)
        let package = try pack(dir)
        let alice = SigningKey(), bob = SigningKey()
        let bobs = package.signed(by: bob).signature!
        // An envelope naming Alice as publisher, carrying Bob's signature.
        let text = "{\"version\":1,\"capsule\":\"\(package.cid)\",\"publisher\":\"\(alice.publicKey.did)\",\"signature\":\"\(Hex.encode(bobs.signature))\"}"
        let claimed = try CapsuleSignature(envelope: Array(text.utf8))
        let forged = try CapsulePackage(car: CapsulePackage(content: package.content, signature: claimed).car)
        guard case .invalidSignature(let publisher)? = failure({ try forged.verify() }) as? CapsuleError else {
            Issue.record("expected invalidSignature"); return
        }
        #expect(publisher == alice.publicKey.did)
        // Bob's own package verifies, but not when Alice is the publisher expected.
        let real = package.signed(by: bob)
        #expect(try real.verify().publisher == bob.publicKey.did)
        #expect(try real.verify(expectedPublisher: bob.publicKey.did).publisher == bob.publicKey.did)
        guard case .unexpectedPublisher(let expected, let actual)? = failure({ try real.verify(expectedPublisher: alice.publicKey.did) }) as? CapsuleError else {
            Issue.record("expected unexpectedPublisher"); return
        }
        #expect(expected == alice.publicKey.did && actual == bob.publicKey.did)
        // A signature made in another domain over the same CID does not verify either.
        let otherDomain = bob.sign(package.cid.bytes, in: .operatorMessage)
        let wrongDomain = "{\"version\":1,\"capsule\":\"\(package.cid)\",\"publisher\":\"\(bob.publicKey.did)\",\"signature\":\"\(Hex.encode(otherDomain))\"}"
        let p = CapsulePackage(content: package.content, signature: try CapsuleSignature(envelope: Array(wrongDomain.utf8)))
        #expect(throws: CapsuleError.self) { try p.verify() }
    }

    @Test func everyBlockOfThePackageIsCheckedAgainstItsCID() throws {
        let dir = scratch.sub("blocks")
        try makeCapsule(at: dir, extraFiles: ["big.bin": randomBytes(seed: 3, 700_000)])
        let car = try pack(dir).signed(by: SigningKey()).car
        let (header, parts) = sections(car)
        for i in parts.indices {
            var tampered = parts
            tampered[i][tampered[i].count - 1] ^= 0x80  // the last byte is always block data
            let bytes = header + tampered.flatMap { $0 }
            let error = failure { _ = try CapsulePackage(car: bytes) }
            guard case .blockHashMismatch(let index, _)? = error as? CapsuleError else {
                Issue.record("block \(i): \(String(describing: error))"); continue
            }
            #expect(index == i)
        }
    }

    @Test func missingExtraDuplicateReorderedAndTrailingBlocksAreRefused() throws {
        let dir = scratch.sub("shape")
        try makeCapsule(at: dir, extraFiles: ["big.bin": randomBytes(seed: 4, 600_000)])
        let car = try pack(dir).car
        let (header, parts) = sections(car)
        func attempt(_ p: [[UInt8]], _ h: [UInt8]? = nil, trailing: [UInt8] = []) -> String {
            let error = failure { _ = try CapsulePackage(car: (h ?? header) + p.flatMap { $0 } + trailing) }
            return error.map { "\($0)" } ?? "accepted"
        }
        #expect(attempt(Array(parts.dropLast())).contains("is missing from the package"))
        #expect(attempt(parts + [parts[1]]).contains("appears twice"))
        var swapped = parts
        swapped.swapAt(1, 2)
        #expect(attempt(swapped).contains("canonical order"))
        // A well-formed block that belongs to nothing.
        let stray = try pack({ () throws -> String in
            let d = scratch.sub("stray"); try makeCapsule(at: d, name: "stray"); return d
        }()).car
        let strayRoot = sections(stray).sections[0]
        #expect(attempt(parts + [strayRoot]).contains("not part of the capsule"))
        #expect(attempt(parts, trailing: [0x00]).contains("not a CID") || attempt(parts, trailing: [0x00]).contains("CAR"))
        #expect(attempt(parts, trailing: [0x05, 0x01]).contains("runs past the end"))
        #expect(attempt(parts, trailing: Array("garbage".utf8)).contains("not a capsule package") )
        // Truncated anywhere.
        #expect(failure { _ = try CapsulePackage(car: Array(car.dropLast(10))) } != nil)
        #expect(failure { _ = try CapsulePackage(car: []) }.map { "\($0)" }?.contains("empty") == true)
        // A header claiming another root than the content's is refused; the content decides.
        var other = header
        other[other.count - 20] ^= 0x01
        #expect(attempt(parts, other).contains("block") || attempt(parts, other).contains("root") || attempt(parts, other).contains("header"))
        // Non-canonical header: version 2.
        var v2 = header
        v2[v2.count - 1] = 0x02
        #expect(attempt(parts, v2).contains("canonical DAG-CBOR"))
        // Sections named by CIDv0 instead of CIDv1.
        var v0 = parts
        let lengthBytes = (v0[0].firstIndex { $0 < 0x80 } ?? 0) + 1
        let body = Array(v0[0].dropFirst(lengthBytes))  // 01 70 12 20 ‖ digest ‖ block
        v0[0] = Varint.encode(UInt64(body.count - 2)) + Array(body.dropFirst(2))
        #expect(attempt(v0).contains("CIDv1"))
    }

    @Test func everySingleByteChangeOfASmallSignedPackageIsRefused() throws {
        let dir = scratch.sub("bytes")
        try writeFiles(["capsule.json": Array(manifestJSON(name: "t", entrypoint: "m").utf8), "m": [1, 2, 3]], under: dir)
        let car = try pack(dir).signed(by: SigningKey()).car
        #expect(car.count < 1200)
        var accepted: [Int] = []
        for i in car.indices {
            for flip: UInt8 in [0x01, 0x80] {
                var bytes = car
                bytes[i] ^= flip
                if let package = try? CapsulePackage(car: bytes), (try? package.verify()) != nil { accepted.append(i) }
            }
        }
        #expect(accepted.isEmpty, "accepted changes at \(accepted)")
    }

    @Test func onlyRegularFilesAndDirectoriesWithCleanNamesArePacked() throws {
        let base = scratch.sub("kinds")
        try makeCapsule(at: base)
        func refusal(_ setUp: (String) throws -> Void) throws -> String {
            let dir = scratch.sub("k-" + UUID().uuidString)
            try makeCapsule(at: dir)
            try setUp(dir)
            return failure { _ = try pack(dir) }.map { "\($0)" } ?? "accepted"
        }
        #expect(try refusal { try FileManager.default.createSymbolicLink(atPath: $0 + "/link", withDestinationPath: "hello.wasm") }
            .contains("link is a symbolic link"))
        #expect(try refusal { try FileManager.default.createSymbolicLink(atPath: $0 + "/assets/up", withDestinationPath: "/etc") }
            .contains("is a symbolic link"))
        #expect(try refusal { mkfifo($0 + "/fifo", 0o600) }.contains("is a FIFO"))
        #expect(try refusal { dir in
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let path = Array((dir + "/s").utf8)
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                for (i, b) in path.enumerated() where i < raw.count - 1 { raw[i] = b }
            }
            _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
            close(fd)
        }.contains("is a socket"))
        #expect(try refusal { dir in
            let name = Array((dir + "/bad-").utf8) + [0xFF, 0xFE, 0x00]
            let fd = name.withUnsafeBufferPointer { open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_CREAT | O_WRONLY, 0o600) }
            close(fd)
        }.contains("not valid UTF-8"))
        // The root itself must hold a capsule.json, and the entrypoint must be a file in it.
        #expect(try refusal { try FileManager.default.removeItem(atPath: $0 + "/capsule.json") }.contains("has no capsule.json"))
        #expect(try refusal { try FileManager.default.removeItem(atPath: $0 + "/hello.wasm") }.contains("entrypoint: \"hello.wasm\" is not a regular file"))
        #expect(try refusal { try FileManager.default.removeItem(atPath: $0 + "/hello.wasm"); try FileManager.default.createDirectory(atPath: $0 + "/hello.wasm", withIntermediateDirectories: false) }
            .contains("is not a regular file"))
        #expect(failure { _ = try pack(base + "/hello.wasm") }.map { "\($0)" }?.contains("is not a directory") == true)
        #expect(failure { _ = try pack(base + "/nope") }.map { "\($0)" }?.contains("cannot open directory") == true)
    }

    @Test func sizeAndCountLimitsAreEnforcedWhilePacking() throws {
        let dir = scratch.sub("limits")
        try makeCapsule(at: dir, extraFiles: ["a.bin": [UInt8](repeating: 1, count: 5000), "b.bin": [UInt8](repeating: 2, count: 5000)])
        var limits = CapsuleLimits()
        limits.maxFileSize = 4096
        #expect(failure { _ = try pack(dir, limits: limits) }.map { "\($0)" }?.contains("a.bin is 5000 bytes; a capsule file may be at most 4096") == true)
        limits = CapsuleLimits()
        limits.maxTotalSize = 8000
        #expect(failure { _ = try pack(dir, limits: limits) }.map { "\($0)" }?.contains("add up to more than 8000 bytes") == true)
        limits = CapsuleLimits()
        limits.maxEntries = 4
        #expect(failure { _ = try pack(dir, limits: limits) }.map { "\($0)" }?.contains("more than 4 files and directories") == true)
        limits = CapsuleLimits()
        limits.maxDepth = 3
        try writeFiles(["x/y/z/w": [1]], under: dir)
        #expect(failure { _ = try pack(dir, limits: limits) }.map { "\($0)" }?.contains("nested more than 3") == true)
        // The reader has the same limits.
        try FileManager.default.removeItem(atPath: dir + "/x")
        let car = try pack(dir).car
        limits = CapsuleLimits()
        limits.maxFileSize = 4096
        #expect(failure { _ = try CapsulePackage(car: car, limits: limits) }.map { "\($0)" }?.contains("4096") == true)
        limits = CapsuleLimits()
        limits.maxBlocks = 3
        #expect(failure { _ = try CapsulePackage(car: car, limits: limits) }.map { "\($0)" }?.contains("more than 3 blocks") == true)
    }

    @Test func envelopesHaveOneEncoding() throws {
        let key = SigningKey()
        let cid = try pack({ () throws -> String in let d = scratch.sub("env"); try makeCapsule(at: d); return d }()).cid
        let good = CapsuleSignature.sign(cid, with: key)
        #expect(try CapsuleSignature(envelope: good.envelope) == good)
        let text = String(decoding: good.envelope, as: UTF8.self)
        for variant in [text.replacingOccurrences(of: ",", with: ", "),
                        text.replacingOccurrences(of: "\"version\":1", with: "\"version\":2"),
                        text.replacingOccurrences(of: Hex.encode(good.signature), with: Hex.encode(good.signature).uppercased()),
                        text.replacingOccurrences(of: "\(cid)", with: cid.string(in: .base58btc)),
                        text.replacingOccurrences(of: "{\"version\":1,", with: "{\"version\":1,\"extra\":0,"),
                        text + " ", "[]", ""] {
            #expect(throws: CapsuleError.self, "\(variant)") { try CapsuleSignature(envelope: Array(variant.utf8)) }
        }
    }
}
