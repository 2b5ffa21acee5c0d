// libFuzzer target: audit log lines (AuditLine.parse, and AuditLine.encode feeding it).
//
// Each input is tried three ways:
//  1. raw: `AuditLine.parse(input)`;
//  2. sealed: the input as a line body, with the correct `,"hash":"<sha256>"}` appended, so the
//     fuzzer reaches the JSON decoding behind the hash check. A sealed line may only fail as
//     `notJSON`, never `missingHash`/`hashMismatch`;
//  3. encoded: fields cut from the input (see `structured`) written by `AuditLine.encode`, which
//     must parse back to exactly those fields, stay on one line, and carry the hash encode returned.
// Whenever a line parses: `hash` is 64 lowercase hex digits and is the line's own hash (the
// SHA-256 the parser checked, which the chain verifier then trusts as the next record's `prev`),
// and a line that starts like the writer's (`{"seq":N,`) has `seq == N`.

import ElastosCore
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAuditLine(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = fuzzBytes(start, count)

    // 1. Raw.
    if case .success(let record) = AuditLine.parse(input) {
        checkParsed(record, line: input, input: input)
    }

    // 2. Sealed (a record needs at least one byte before its hash field).
    if !input.isEmpty {
        let sealed = seal(input)
        switch AuditLine.parse(sealed) {
        case .success(let record): checkParsed(record, line: sealed, input: input)
        // notCanonical: a JSON object the writer would never produce, e.g. one that repeats a
        // key (the duplicate-"hash" rewrite this target found), refused since 0fd0c5d.
        case .failure(.notJSON), .failure(.notCanonical): break
        case .failure(let e): propertyFailed("a line with a correct hash suffix was refused as \(e)", input: input)
        }
    }

    // 3. Encoded.
    if let s = structured(input) {
        let (line, hash) = AuditLine.encode(seq: s.seq, timeMillis: s.millis, event: s.event, signature: s.sig, prev: s.prev)
        expect(!line.contains(0x0A) && !line.contains(0x0D), "encoded record is not one line: \(lossyText(line).debugDescription)", input: input)
        switch AuditLine.parse(line) {
        case .failure(let e):
            propertyFailed("encoded record does not parse (\(e)): \(lossyText(line).debugDescription)", input: input)
        case .success(let r):
            checkParsed(r, line: line, input: input)
            let e = s.event
            expect(r.seq == s.seq && r.time == RFC3339.format(millis: s.millis) && r.event == e.event && r.subject == e.subject
                   && r.resource == e.resource && r.action == e.action && r.decision == e.decision && r.reason == e.reason
                   && r.token == e.token && r.sig == s.sig.map { hex($0) } && r.prev == s.prev && r.hash == hash,
                   "encoded record parses to different fields: \(r) from \(lossyText(line).debugDescription)", input: input)
            expect(r.isCheckpoint == (e.event == AuditRecord.checkpointEvent), "isCheckpoint of \(e.event.debugDescription)", input: input)
        }
    }
    return 0
}

func sha256Hex(_ bytes: some Sequence<UInt8>) -> String { hex(Multihash.sha256(of: Array(bytes)).digest) }

func seal(_ body: [UInt8]) -> [UInt8] {
    body + Array(",\"hash\":\"\(sha256Hex(body))\"}".utf8)
}

func checkParsed(_ r: AuditRecord, line: [UInt8], input: [UInt8]) {
    let hexDigits = Array("0123456789abcdef".utf8)
    expect(r.hash.utf8.count == 64 && r.hash.utf8.allSatisfy(hexDigits.contains),
           "parsed hash \(r.hash.debugDescription) is not 64 lowercase hex digits", input: input)
    // parse() verified that the line's last 64 hex digits are the SHA-256 of what precedes the
    // marker; the record must carry that hash, not some other "hash" the JSON also holds.
    let markerStart = line.count - 2 - 64 - Array(",\"hash\":\"".utf8).count
    let own = sha256Hex(line[0..<markerStart])
    expect(r.hash == own, "parsed hash \(r.hash) is not the line's own hash \(own): \(lossyText(line).debugDescription)", input: input)
    if let n = leadingSeq(line) {
        expect(r.seq == n, "line starts {\"seq\":\(n), but parses as seq \(r.seq)", input: input)
    }
}

/// N for a line that starts `{"seq":N,` as the writer's do (nil otherwise, or if N overflows).
func leadingSeq(_ line: [UInt8]) -> UInt64? {
    let prefix = Array("{\"seq\":".utf8)
    guard line.starts(with: prefix) else { return nil }
    var v: UInt64 = 0
    var digits = 0
    for c in line.dropFirst(prefix.count) {
        if c == UInt8(ascii: ",") { return digits > 0 ? v : nil }
        guard c >= 0x30 && c <= 0x39 else { return nil }
        let (m, o1) = v.multipliedReportingOverflow(by: 10)
        let (a, o2) = m.addingReportingOverflow(UInt64(c - 0x30))
        if o1 || o2 { return nil }
        v = a
        digits += 1
    }
    return nil
}

struct Structured {
    var seq: UInt64
    var millis: Int64
    var event: AuditEvent
    var sig: [UInt8]?
    var prev: String
}

/// Fields for AuditLine.encode: seq:u64 ‖ millis:u64 ‖ decision:u8 ‖ flags:u8 ‖ text fields
/// separated by 0xFF (never part of UTF-8): event, subject, resource, action, reason, token,
/// signature bytes. Times are kept within years 1970–9999, where RFC 3339 has four-digit years.
func structured(_ b: [UInt8]) -> Structured? {
    guard b.count >= 18 else { return nil }
    func u64(_ at: Int) -> UInt64 { b[at..<at + 8].reduce(0) { $0 << 8 | UInt64($1) } }
    let seq = u64(0)
    let millis = Int64(u64(8) % 253_402_300_800_000)
    let decision = AuditDecision.allCases[Int(b[16]) % AuditDecision.allCases.count]
    let flags = b[17]
    let f = b[18...].split(separator: 0xFF, maxSplits: 6, omittingEmptySubsequences: false).map { lossyText($0) }
    func field(_ i: Int) -> String { i < f.count ? f[i] : "" }
    let event = AuditEvent(event: field(0), subject: field(1), resource: field(2), action: field(3), decision: decision,
                           reason: field(4), token: flags & 1 != 0 ? field(5) : nil)
    let sig: [UInt8]? = flags & 2 != 0 ? Array(field(6).utf8) : nil
    let prev = flags & 4 != 0 ? AuditRecord.genesis : sha256Hex(b)
    return Structured(seq: seq, millis: millis, event: event, sig: sig, prev: prev)
}
