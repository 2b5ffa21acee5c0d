// Writes the seed corpora under Corpus/<Target>/ (from Fuzz/, after a build:
// `.build/release/MakeCorpus Corpus`). Everything is deterministic: fixed Ed25519 seeds, fixed
// token ids and a fixed clock, so re-running it rewrites the same files.
//
//   FuzzTokenBinary  wire bytes of root tokens (plain, every option, scheme wildcard, runtime
//                    delegation) and delegation chains of 2, 3 (runtime → alice → bob → capsule)
//                    and 8 links
//   FuzzTokenText    the same tokens' text forms (a few with surrounding whitespace)
//   FuzzResource     URIs and patterns, some `pattern\nuri` pairs
//   FuzzIdentifiers  did:key, PeerIDs (base58, base36, base32), CIDs from the test vectors in
//                    every base, binary CIDs, multibase strings
//   FuzzAuditLine    lines written by a real ElastosNode AuditLog (allowed, denied, issued,
//                    checkpoint), line bodies without their hash, and structured field records
//   FuzzUnixFS       kubo single-block files and the other spellings and kinds of node

import ElastosCore
import ElastosNode
import Foundation

// The Fuzz package is only ever built with `--sanitize=fuzzer`, which compiles executables as
// libraries and links libFuzzer's main into each. So this generator is a libFuzzer binary too:
// libFuzzer calls LLVMFuzzerInitialize first, and that writes the corpus and exits.
//   swift build -c release --sanitize=fuzzer --sanitize=address && .build/release/MakeCorpus Corpus
@_cdecl("LLVMFuzzerInitialize")
public func makeCorpus(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> CInt {
    let args = (0..<Int(argc.pointee)).compactMap { argv.pointee[$0].map { String(cString: $0) } }
    let out = args.dropFirst().first { !$0.hasPrefix("-") } ?? "Corpus"
    do {
        try generate(into: out)
    } catch {
        print("MakeCorpus: \(error)")
        fflush(nil)
        _exit(1)
    }
    // _exit: no libFuzzer run, and no exit-time leak report for the audit log's threads.
    fflush(nil)
    _exit(0)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func makeCorpusIsNotAFuzzTarget(_ start: UnsafeRawPointer, _ count: Int) -> CInt { 0 }

func generate(into outRoot: String) throws {
    let fm = FileManager.default

    func write(_ target: String, _ name: String, _ bytes: [UInt8]) {
        let dir = outRoot + "/" + target
        try! fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try! Data(bytes).write(to: URL(fileURLWithPath: dir + "/" + name))
    }
    func write(_ target: String, _ name: String, text: String) { write(target, name, Array(text.utf8)) }

    func seed(_ byte: UInt8) -> SigningKey { try! SigningKey(seed: [UInt8](repeating: byte, count: 32)) }
    func id(_ n: Int) -> TokenID { TokenID(hex: String(repeating: String(format: "%02x", n), count: 16))! }
    func pattern(_ s: String) -> ResourcePattern { try! ResourcePattern(s) }

    let now: UInt64 = 1_750_000_000
    let runtime = seed(0x01), alice = seed(0x02), bob = seed(0x03)
    let issuer = TokenIssuer(key: runtime)

    // MARK: - Tokens

    var tokens: [(String, CapabilityToken)] = []
    let plain = try! issuer.issue(Grant(holder: "notes-capsule", resource: pattern("localhost://storage/apps/notes/a.txt"),
                                        actions: ActionSet([.read])), epoch: 0, now: now, id: id(1))
    tokens.append(("root-read", plain))
    let full = try! issuer.issue(Grant(holder: alice.publicKey.did.description, resource: pattern("localhost://storage/apps/notes/*"),
                                       actions: ActionSet([.read, .write, .delete]), expiry: now + 3600, notBefore: now - 60,
                                       maxUses: 100, maxClassification: .confidential, delegationDepth: 7),
                                 epoch: 3, now: now, id: id(2))
    tokens.append(("root-all-options", full))
    tokens.append(("root-scheme-wildcard", try! issuer.issue(Grant(
        holder: "admin", resource: pattern("elastos://*"), actions: ActionSet(Action.allCases), maxClassification: .secret),
        epoch: 1, now: now, id: id(3))))
    tokens.append(("runtime-delegation", try! issuer.delegate(full, Grant(
        holder: "helper", resource: pattern("localhost://storage/apps/notes/b.txt"), actions: ActionSet([.read])), now: now + 1, id: id(4))))

    // runtime → alice (depth 2) → bob (depth 1) → capsule "reader" (depth 0), as in DelegationTests.
    let toAlice = try! issuer.issue(Grant(holder: alice.publicKey.did.description, resource: pattern("localhost://storage/apps/notes/*"),
                                          actions: ActionSet([.read, .write, .delete]), expiry: now + 3600, maxUses: 100,
                                          maxClassification: .confidential, delegationDepth: 2), epoch: 0, now: now, id: id(5))
    let toBob = try! TokenIssuer(key: alice).delegate(toAlice, Grant(
        holder: bob.publicKey.did.description, resource: pattern("localhost://storage/apps/notes/shared/*"),
        actions: ActionSet([.read, .write]), expiry: now + 1800, maxUses: 10, maxClassification: .internal, delegationDepth: 1),
        now: now, id: id(6))
    let toReader = try! TokenIssuer(key: bob).delegate(toBob, Grant(
        holder: "reader", resource: pattern("localhost://storage/apps/notes/shared/todo.txt"), actions: ActionSet([.read]),
        expiry: now + 600, maxUses: 3), now: now, id: id(7))
    tokens.append(("chain-2", toBob))
    tokens.append(("chain-3", toReader))

    // Eight links, the longest chain: each holder a did:key that signs the next link.
    let keys = (0..<8).map { seed(0x10 + UInt8($0)) }
    var long = try! issuer.issue(Grant(holder: keys[0].publicKey.did.description, resource: pattern("localhost://storage/deep/*"),
                                       actions: ActionSet([.read, .write]), delegationDepth: 7), epoch: 0, now: now, id: id(8))
    for i in 1..<8 {
        long = try! TokenIssuer(key: keys[i - 1]).delegate(long, Grant(
            holder: keys[i].publicKey.did.description, resource: pattern("localhost://storage/deep/" + (1...i).map { "d\($0)" }.joined(separator: "/") + "/*"),
            actions: ActionSet([.read]), delegationDepth: UInt8(7 - i)), now: now + UInt64(i), id: id(8 + i))
    }
    tokens.append(("chain-8", long))

    for (name, token) in tokens {
        precondition((try? CapabilityToken(encoded: token.encoded)) == token)
        write("FuzzTokenBinary", name + ".bin", token.encoded)
        write("FuzzTokenText", name + ".txt", text: token.text)
    }
    write("FuzzTokenText", "chain-3-whitespace.txt", text: "  " + toReader.text + "\n")
    write("FuzzTokenText", "root-read-newlines.txt", text: "\n\n" + plain.text + "\n")

    // MARK: - Resources

    let resources = [
        "localhost://storage/apps/notes/a.txt",
        "LocalHost://storage/./apps//notes/../notes/%7Euser/%2Fslash%2f",
        "elastos://bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y/dir/file",
        "localhost://storage/apps/*",
        "elastos://*",
        "a+b.c-d://host:8080/@user/!$&'()+,;=",
        "localhost://storage/apps/*\nlocalhost://storage/apps/notes/x",
        "localhost://storage/apps/notes/*\nlocalhost://storage/apps/*",
        "localhost://storage/apps\nlocalhost://storage/apps/",
        "elastos://*\nelastos://peer/x",
        "s://a/b/%2E%2E/c\ns://a/c",
    ]
    for (i, r) in resources.enumerated() { write("FuzzResource", "resource-\(i)", text: r) }

    // MARK: - Identifiers

    let vectorsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../Tests/ElastosCoreTests/Vectors").standardizedFileURL
    func vectors(_ name: String) -> [String: Any] {
        let data = try! Data(contentsOf: vectorsDir.appendingPathComponent(name + ".json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }
    let identity = vectors("identity")["seed_00_to_1f"] as! [String: String]
    var identifiers: [(String, [UInt8])] = []
    for key in ["did_key", "libp2p_peer_id", "libp2p_peer_id_cidv1_base36", "libp2p_peer_id_cidv1_base32"] {
        identifiers.append((key, Array(identity[key]!.utf8)))
    }
    identifiers.append(("did-key-runtime", Array(runtime.publicKey.did.description.utf8)))
    identifiers.append(("peer-id-cid-base58", Array(PeerID(publicKey: runtime.publicKey).cid.string(in: .base58btc).utf8)))
    for (i, file) in (vectors("content")["files"] as! [[String: String]]).enumerated() {
        for key in ["cidv0_dagpb", "cidv1_dagpb", "cidv1_raw"] {
            let cid = try! CID(string: file[key]!)
            identifiers.append(("\(key)-\(i)", Array(file[key]!.utf8)))
            identifiers.append(("\(key)-\(i).bin", cid.bytes))
            if cid.version == .v1 {
                identifiers.append(("\(key)-\(i)-base58", Array(cid.string(in: .base58btc).utf8)))
                identifiers.append(("\(key)-\(i)-base36", Array(cid.string(in: .base36Lower).utf8)))
            }
        }
    }
    identifiers.append(("multibase-base32", Array(Multibase.encode(Array("hello world".utf8), as: .base32Lower).utf8)))
    identifiers.append(("multibase-base58-zeros", Array(Multibase.encode([0, 0, 1, 2, 3], as: .base58btc).utf8)))
    identifiers.append(("multibase-base36-zeros", Array(Multibase.encode([0, 0xFF, 0xEE], as: .base36Lower).utf8)))
    identifiers.append(("cid-identity.bin", try! CID(version: .v1, codec: .raw, multihash: .identity(Array("inline".utf8))).bytes))
    for (name, bytes) in identifiers { write("FuzzIdentifiers", name, bytes) }

    // MARK: - Audit lines

    let auditDir = NSTemporaryDirectory() + "elastos-makecorpus-\(getpid())"
    try? fm.removeItem(atPath: auditDir)
    let clockMillis: @Sendable () -> Int64 = { 1_750_000_000_123 }
    do {
        let log = try AuditLog(directory: auditDir, key: runtime, clock: clockMillis)
        log.record(AuditEvent(event: "token.issued", subject: "reader", resource: "localhost://storage/apps/notes/*",
                              action: "read,write", decision: .info, reason: "issued by operator", token: id(1).description))
        let verifier = CapabilityVerifier(runtimeKey: runtime.publicKey, ledger: InMemoryLedger(), audit: log, clock: { now + 10 })
        let request = CapabilityRequest(caller: "reader", action: .read, resource: try! ResourceURI("localhost://storage/apps/notes/shared/todo.txt"))
        _ = verifier.authorize(toReader.encoded, for: request)  // allowed
        _ = verifier.authorize(toReader.encoded, for: CapabilityRequest(caller: "reader", action: .write, resource: request.resource))
        _ = verifier.authorize(Array(toReader.encoded.dropLast()), for: request)  // malformed
        _ = verifier.authorize(toReader.encoded, for: CapabilityRequest(caller: "intruder", action: .read, resource: request.resource))
        log.record(AuditEvent(event: "capsule.log", subject: "notes-capsule", decision: .info,
                              reason: "quote \" backslash \\ newline \n tab \t nul \u{0} del \u{7F} unicode é ✓ \u{2028}"))
        try log.checkpoint()
        try log.close()
    }
    var lineCount = 0
    for file in try! fm.contentsOfDirectory(atPath: auditDir).sorted() where file.hasSuffix(".jsonl") {
        let bytes = [UInt8](try! Data(contentsOf: URL(fileURLWithPath: auditDir + "/" + file)))
        for line in bytes.split(separator: 0x0A) {
            lineCount += 1
            let l = Array(line)
            guard case .success(let record) = AuditLine.parse(l) else { fatalError("AuditLog wrote an unparsable line") }
            write("FuzzAuditLine", "line-\(lineCount)-\(record.event)", l)
            // The body without `,"hash":"…"}`: the sealed mode appends the right hash.
            write("FuzzAuditLine", "body-\(lineCount)-\(record.event)", Array(l.dropLast(2 + 64 + 9)))
        }
    }
    try? fm.removeItem(atPath: auditDir)
    precondition(lineCount >= 6, "expected the audit log to hold the corpus events")
    func structuredRecord(seq: UInt64, millis: UInt64, decision: UInt8, flags: UInt8, fields: [String]) -> [UInt8] {
        var b: [UInt8] = []
        for v in [seq, millis] { for s in stride(from: 56, through: 0, by: -8) { b.append(UInt8(truncatingIfNeeded: v >> UInt64(s))) } }
        b += [decision, flags]
        for (i, f) in fields.enumerated() { if i > 0 { b.append(0xFF) }; b += Array(f.utf8) }
        return b
    }
    write("FuzzAuditLine", "structured-1", structuredRecord(seq: 1, millis: 1_750_000_000_123, decision: 0, flags: 1, fields: [
        "capability.allowed", "reader", "localhost://storage/a", "read", "all checks passed", id(1).description]))
    write("FuzzAuditLine", "structured-checkpoint", structuredRecord(seq: UInt64.max, millis: 0, decision: 2, flags: 6, fields: [
        AuditRecord.checkpointEvent, runtime.publicKey.did.description, "", "", "", "", String(repeating: "s", count: 64)]))
    write("FuzzAuditLine", "structured-escapes", structuredRecord(seq: 42, millis: 253_402_300_799_999, decision: 1, flags: 3, fields: [
        "x\"y", "\\", "\n\r\t\u{0}\u{1F}\u{7F}", "é✓\u{2028}\u{FEFF}", "\u{10FFFF}", "tok", "sig"]))

    // MARK: - UnixFS

    let hello = Array("hello world\n".utf8)
    let unixfs: [(String, [UInt8])] = [
        ("empty", UnixFS.singleBlockFile([])),
        ("hello", UnixFS.singleBlockFile(hello)),
        ("kilobyte", UnixFS.singleBlockFile((0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) })),
        ("no-filesize", [0x0A, 0x10, 0x08, 0x02, 0x12, 0x0C] + hello),
        ("empty-data-field", [0x0A, 0x06, 0x08, 0x02, 0x12, 0x00, 0x18, 0x00]),
        ("directory", [0x0A, 0x02, 0x08, 0x01]),
        ("with-link", [0x12, 0x00, 0x0A, 0x04, 0x08, 0x02, 0x18, 0x00]),
        ("multi-block-root", [0x0A, 0x08, 0x08, 0x02, 0x18, 0x80, 0x80, 0x10, 0x20, 0x00]),
        ("wrong-filesize", [0x0A, 0x04, 0x08, 0x02, 0x18, 0x05]),
    ]
    for (name, bytes) in unixfs { write("FuzzUnixFS", name, bytes) }

    print("wrote \(tokens.count) tokens, \(resources.count) resources, \(identifiers.count) identifiers, \(lineCount) audit lines, \(unixfs.count) UnixFS blocks to \(outRoot)/")
}
