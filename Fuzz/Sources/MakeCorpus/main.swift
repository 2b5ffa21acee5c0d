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
//   FuzzCapsuleFrame every request, reply and event kind (calls carrying real tokens, every
//                    error code), a stream of them, a 4096-byte URI, malformed frames of each kind
//                    the decoder names, and inputs for the encoding check
//   FuzzCapsuleManifest  the capsules/*/capsule.json files and their canonical JSON, variants
//                    (data capsules with a viewer name or CID, every limit, escapes), and inputs for
//                    the one-field mode
//   FuzzCapsulePackage  package files packed and signed as `elastos capsule pack`/`sign` write
//                    them (the real capsule.json files with small stand-in modules), a data capsule
//                    with nested directories and duplicate files, and built-tree descriptions

import ElastosCapsule
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

    // MARK: - Capsule frames

    let longURI = "localhost://storage/" + String(repeating: "a", count: 4096 - 20 - 3) + "✓"  // exactly 4096 bytes
    precondition(longURI.utf8.count == 4096)
    var frames: [(String, CapsuleFrame)] = [
        ("call-read", .request(id: 1, .call(uri: "localhost://storage/apps/notes/shared/todo.txt", action: .read, token: toReader.encoded, body: []))),
        ("call-write", .request(id: 2, .call(uri: "localhost://storage/apps/notes/a.txt", action: .write, token: plain.encoded, body: hello))),
        ("call-no-token", .request(id: 3, .call(uri: "elastos://peer/inbox", action: .message, token: [], body: [0x00, 0xFF, 0x7F]))),
        ("call-admin", .request(id: 0xFFFF_FFFF, .call(uri: "elastos://*", action: .admin, token: long.encoded, body: []))),
        ("request-capability", .request(id: 4, .requestCapability(uri: "localhost://storage/apps/notes/*", actions: ActionSet([.read, .write, .delete]), reason: "to keep your notes ✓"))),
        ("ping", .request(id: 5, .ping)),
        ("info", .request(id: 6, .info)),
        ("subscribe", .request(id: 7, .subscribe(uri: "localhost://events/notes/*", token: toReader.encoded))),
        ("unsubscribe", .request(id: 8, .unsubscribe(subscription: 3))),
        ("reply-token", .runtime(id: 4, .reply(body: toReader.encoded))),
        ("reply-empty", .runtime(id: 5, .reply(body: []))),
        ("reply-info", .runtime(id: 6, .reply(body: Array(#"{"session":"s-1","capsule":"hello","cid":"bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y","substrate":"wasm","protocol":1}"#.utf8)))),
        ("reply-subscription", .runtime(id: 7, .reply(body: [0, 0, 0, 3]))),
        ("event", .runtime(id: 0, .event(subscription: 3, uri: "localhost://events/notes/a.txt", body: Array("changed".utf8)))),
        ("call-long-uri", .request(id: 9, .call(uri: longURI, action: .read, token: [], body: []))),
    ]
    for code in CapsuleErrorCode.allCases {
        frames.append(("error-\(code)", .runtime(id: UInt32(code.rawValue), .error(code: code, message: "\(code): é \u{0} \"quoted\""))))
    }
    var stream: [UInt8] = []
    for (name, frame) in frames {
        let bytes = frame.encoded()
        precondition((try? CapsuleFrame.decode(bytes)) == frame)
        write("FuzzCapsuleFrame", name, bytes)
        // Every kind once (one error code), within fuzz.sh's 8 KiB -max_len.
        if !name.hasPrefix("error-") && name != "call-long-uri" || name == "error-denied" { stream += bytes }
    }
    write("FuzzCapsuleFrame", "stream-all-kinds", stream)
    let ping = CapsuleFrame.request(id: 5, .ping).encoded()
    func patched(_ b: [UInt8], _ at: Int, _ v: UInt8) -> [UInt8] { var b = b; b[at] = v; return b }
    let callRead = frames[0].1.encoded()
    let malformed: [(String, [UInt8])] = [
        ("bad-version", patched(ping, 4, 2)),
        ("unknown-kind", patched(ping, 5, 0x07)),
        ("trailing-byte", [0, 0, 0, 7] + ping.dropFirst(4) + [0]),
        ("truncated", Array(callRead.dropLast())),
        ("too-short", [0, 0, 0, 5, 1, 3, 0, 0, 0]),
        ("too-large", [0, 0x10, 0, 1, 1, 3, 0, 0, 0, 1]),
        ("bad-utf8-uri", CapsuleFrame.request(id: 1, .subscribe(uri: "ab", token: [])).encoded().enumerated().map { $0.offset == 12 ? 0xC3 : $0.element }),
        ("bad-action", patched(CapsuleFrame.request(id: 1, .call(uri: "", action: .read, token: [], body: [])).encoded(), 12, 6)),
        ("bad-mask", patched(CapsuleFrame.request(id: 1, .requestCapability(uri: "", actions: ActionSet([.read]), reason: "")).encoded(), 12, 0x40)),
        ("bad-error-code", patched(CapsuleFrame.runtime(id: 1, .error(code: .denied, message: "")).encoded(), 11, 7)),
        ("blob-past-end", patched(CapsuleFrame.runtime(id: 1, .reply(body: [1, 2])).encoded(), 13, 3)),
        ("stream-with-bad-frame", ping + patched(ping, 5, 0x07) + [0, 0, 0, 2, 1, 3] + callRead + [0, 0, 0]),
        ("stream-then-too-large", ping + [0xFF, 0xFF, 0xFF, 0xFF] + ping),
        // For the encoding check: parts split at 0xFF, long lossy text to cut at 4096 bytes.
        ("encode-parts", Array("localhost://storage/x".utf8) + [0xFF] + Array("reason ✓".utf8) + [0xFF] + toReader.encoded),
        ("encode-long-text", Array(String(repeating: "é✓😀", count: 600).utf8) + [0xFF] + [UInt8](repeating: 0x80, count: 1500)),
    ]
    for (name, bytes) in malformed { write("FuzzCapsuleFrame", name, bytes) }

    // MARK: - Capsule manifests

    let capsulesDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../capsules").standardizedFileURL
    var manifests: [(String, [UInt8])] = []
    for name in try fm.contentsOfDirectory(atPath: capsulesDir.path).sorted() {
        let path = capsulesDir.appendingPathComponent(name).appendingPathComponent("capsule.json").path
        guard let data = fm.contents(atPath: path) else { continue }
        manifests.append((name, [UInt8](data)))
    }
    let capsuleCount = manifests.count
    precondition(capsuleCount >= 3, "expected capsules/*/capsule.json")
    let viewerCID = try! UnixFS.fileCID(hello, version: .v1)
    let variants: [(String, String)] = [
        ("data-viewer-name", #"{"schema":"elastos.capsule/v1","name":"photos","version":"2.0.0-rc.1+build.7","type":"data","role":"viewer","entrypoint":"album/index.json","viewer":"gallery"}"#),
        ("data-viewer-cid", #"{"schema":"elastos.capsule/v1","name":"doc","version":"1.0.0","type":"data","role":"app","entrypoint":"doc.md","viewer":"\#(viewerCID)"}"#),
        ("data-viewer-cidv0", #"{"schema":"elastos.capsule/v1","name":"doc","version":"1.0.0","type":"data","role":"app","entrypoint":"doc.md","viewer":"\#(try! UnixFS.fileCID(hello, version: .v0))"}"#),
        ("every-limit", #"{"schema":"elastos.capsule/v1","name":"agent-7","version":"10.20.30","type":"native","role":"agent","entrypoint":"bin/agent","limits":{"memory_mb":4096,"cpu_ms":86400000,"wall_ms":1,"max_fuel":9007199254740991}}"#),
        ("every-action", #"{"schema":"elastos.capsule/v1","name":"shell","version":"0.0.1","type":"microvm","role":"shell","entrypoint":"vm/image","capabilities":[{"resource":"elastos://*","actions":["admin","read","write","execute","message","delete"],"reason":"it is the shell"},{"resource":"localhost://storage/apps/shell/*","actions":["read"],"reason":"its own files"}]}"#),
        ("escapes", "{\"schema\":\"elastos.capsule\\/v1\",\"name\":\"esc\",\"version\":\"1.0.0\",\"type\":\"wasm\",\"role\":\"provider\",\"description\":\"slash\\/ newline\\n quote\\\" \\u00e9 \\ud83d\\ude00\",\"entrypoint\":\"m\\u00e9in\u{7F}.wasm\"}"),
        ("whitespace", "\n{ \"schema\" : \"elastos.capsule/v1\" ,\r\n\t\"name\":\"ws\", \"version\":\"1.0.0\", \"type\":\"wasm\", \"role\":\"app\", \"entrypoint\":\"a.wasm\", \"capabilities\" : [ ] , \"limits\" : { } }\n"),
        ("duplicate-key", #"{"schema":"elastos.capsule/v1","name":"a","name":"b","version":"1.0.0","type":"wasm","role":"app","entrypoint":"a.wasm"}"#),
        ("bool-as-number", #"{"schema":"elastos.capsule/v1","name":"a","version":"1.0.0","type":"wasm","role":"app","entrypoint":"a.wasm","limits":{"memory_mb":true}}"#),
    ]
    for (name, text) in variants { manifests.append((name, Array(text.utf8))) }
    for (name, bytes) in manifests {
        write("FuzzCapsuleManifest", name + ".json", bytes)
        do {
            let m = try CapsuleManifest(json: bytes)
            write("FuzzCapsuleManifest", name + "-canonical.json", text: m.canonicalJSON)
        } catch {
            guard name == "duplicate-key" || name == "bool-as-number" else { fatalError("manifest seed \(name) does not parse: \(error)") }
        }
    }
    // One-field mode: the first byte picks the field (see FuzzCapsuleManifest's Field; +0x80
    // escapes everything), the rest is its value.
    let fieldSeeds: [(UInt8, String)] = [
        (0, "hello"), (1, "1.2.3-beta.1+build.5"), (2, "Greets \"you\"\nand é ✓"), (0x83, "bin/app ✓.wasm"),
        (4, "gallery"), (0x84, viewerCID.description), (5, "localhost://storage/apps/x/*"), (6, "to read your notes"),
        (7, "delete"), (8, "4096"), (9, "9007199254740991"), (10, "native"), (11, "provider"),
        (12, #"[{"resource":"elastos://*","actions":["read","admin"],"reason":"why"}]"#),
        (13, #"{"memory_mb":1,"cpu_ms":1,"wall_ms":86400000,"max_fuel":1}"#),
    ]
    for (i, (selector, text)) in fieldSeeds.enumerated() { write("FuzzCapsuleManifest", "field-\(i)", [selector] + Array(text.utf8)) }

    // MARK: - Capsule packages

    // A minimal wasm module stands in for each capsule's real one (those are ~200 KB, far over
    // fuzz.sh's 8 KiB -max_len).
    let module: [UInt8] = [0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00]
    let publisher = seed(0x05)
    var packages: [(String, [UInt8])] = []
    let packDir = NSTemporaryDirectory() + "elastos-makecorpus-capsules-\(getpid())"
    for (name, manifestBytes) in manifests.prefix(capsuleCount) {
        // As `elastos capsule pack` and `elastos capsule sign --out` do: a directory on disk.
        let dir = packDir + "/" + name
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(manifestBytes).write(to: URL(fileURLWithPath: dir + "/capsule.json"))
        let manifest = try CapsuleManifest(json: manifestBytes)
        try Data(module + Array(name.utf8)).write(to: URL(fileURLWithPath: dir + "/" + manifest.entrypoint))
        let unsigned = try CapsulePackage(directory: dir)
        packages.append((name + ".car", unsigned.car))
        packages.append((name + "-signed.car", unsigned.signed(by: publisher).car))
    }
    try? fm.removeItem(atPath: packDir)
    func file(_ name: String, _ bytes: [UInt8]) -> UnixFSDirectoryEntry { UnixFSDirectoryEntry(name: name, entry: .file(bytes)) }
    func dir(_ name: String, _ entries: [UnixFSDirectoryEntry]) -> UnixFSDirectoryEntry { UnixFSDirectoryEntry(name: name, entry: .directory(entries)) }
    let dataManifest = Array(variants[0].1.utf8)
    let dataTree = UnixFSEntry.directory([
        file("capsule.json", dataManifest),
        dir("album", [file("index.json", Array(#"{"photos":["a.jpg","b.jpg"]}"#.utf8)), file("a.jpg", hello), file("b.jpg", hello),
                      dir("empty", []), file("none", [])]),
        file("README é.md", Array("# Photos\n".utf8)),
    ])
    let dataPackage = CapsulePackage(content: try CapsuleContent(tree: dataTree))
    packages.append(("data-nested.car", dataPackage.car))
    packages.append(("data-nested-signed.car", dataPackage.signed(by: publisher).car))
    // Built-tree descriptions (FuzzCapsulePackage's third way): flags, then ops.
    // ab (xyz), c.d (empty); entrypoint ab.
    packages.append(("built-flat", [0x00, 0x04, 0x61, 0x62, 0x03, 0x78, 0x79, 0x7A, 0x08, 0x63, 0x2E, 0x64, 0x00]))
    // di/pq (abc), di/rs (a copy of pq), zz (q); signed.
    packages.append(("built-nested-signed", [0x01, 0x05, 0x64, 0x69, 0x04, 0x70, 0x71, 0x03, 0x61, 0x62, 0x63, 0x07, 0x72, 0x73,
                                             0x02, 0x78, 0x04, 0x7A, 0x7A, 0x01, 0x71]))
    // A data capsule: md (hi), viewer hello.
    packages.append(("built-data", [0x18, 0x04, 0x6D, 0x64, 0x02, 0x68, 0x69]))
    // ab (test) with capsule.json from the input.
    packages.append(("built-manifest", [0x02, 0x04, 0x61, 0x62, 0x04, 0x74, 0x65, 0x73, 0x74, 0xFE]
                     + Array(#"{"schema":"elastos.capsule/v1","name":"m","version":"1.0.0","type":"wasm","role":"app","entrypoint":"ab"}"#.utf8)))
    // Signed, with a 2-chunk big.bin; and with a 3-chunk one.
    packages.append(("built-big-file", [0xA5, 0x04, 0x61, 0x62, 0x01, 0x7A]))  // 6 bytes: chunks differ
    packages.append(("built-big-file-3", [0xE4, 0x04, 0x61, 0x62, 0x00]))
    packages.append(("built-big-file-dedup", [0xE4, 0x04, 0x61, 0x62, 0x00, 0x00, 0x00, 0x00]))  // 8 divides the chunk size
    for (name, bytes) in packages {
        if name.hasSuffix(".car") {
            do { _ = try CapsulePackage(car: bytes) } catch { fatalError("package seed \(name) does not read: \(error)") }
        }
        write("FuzzCapsulePackage", name, bytes)
    }

    precondition(stream.count <= 8192)
    let manifestFiles = try fm.contentsOfDirectory(atPath: outRoot + "/FuzzCapsuleManifest").count
    print("wrote \(tokens.count) tokens, \(resources.count) resources, \(identifiers.count) identifiers, \(lineCount) audit lines, \(unixfs.count) UnixFS blocks, \(frames.count + malformed.count + 1) frames, \(manifestFiles) manifests, \(packages.count) packages to \(outRoot)/")
}
