import ElastosCore
@testable import ElastosNode

import Foundation
import Synchronization
import Testing

@Suite struct AuditLogTests {
    let t = TempHome()
    let key = SigningKey()
    var dir: String { t.path + "/audit" }

    func event(_ i: Int) -> AuditEvent {
        AuditEvent(event: "capability.allowed", subject: "capsule-\(i)", resource: "localhost://storage/apps/x/\(i)",
                   action: "read", decision: .allow, reason: "all checks passed", token: String(repeating: "a", count: 32))
    }

    /// Writes `n` events (checkpoint every `every`) and closes the log.
    func write(_ n: Int, every: UInt64 = 10, segmentLimit: Int = 8 << 20) throws {
        var o = AuditLog.Options()
        o.checkpointEvery = every
        o.segmentLimit = segmentLimit
        let log = try AuditLog(directory: dir, key: key, options: o)
        for i in 0..<n { log.record(event(i)) }
        try log.close()
    }

    var segment1: String { dir + "/00000001.jsonl" }
    func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
    }
    func save(_ lines: [String], _ path: String) throws {
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)
    }
    func verify() -> Result<AuditSummary, AuditVerificationError> { AuditLog.verify(directory: dir, key: key.publicKey) }

    @Test func intactLogVerifiesWithCheckpoints() throws {
        try write(25)
        let s = try verify().get()
        // 25 events + a checkpoint after each 10 + the final one at close.
        #expect(s.records == 28)
        #expect(s.checkpoints == 3)
        #expect(s.uncheckpointed == 0)
        #expect(mode(segment1) == 0o600)
        // Appending after a reopen continues the same chain.
        try write(5)
        #expect(try verify().get().records == 34)
    }

    @Test func editingAnyFieldOfAnyRecordIsCaught() throws {
        try write(12)
        let original = try lines(segment1)
        for i in original.indices {
            var l = original
            l[i] = l[i].replacingOccurrences(of: "\"decision\":\"allow\"", with: "\"decision\":\"deny\"")
                .replacingOccurrences(of: "\"decision\":\"info\"", with: "\"decision\":\"deny\"")
            try save(l, segment1)
            guard case .failure(let e) = verify() else { Issue.record("edit of record \(i + 1) not caught"); continue }
            #expect(e == .recordAltered(seq: UInt64(i + 1), AuditLocation(file: segment1, line: i + 1)))
        }
    }

    @Test func editWithARecomputedHashIsCaughtAtTheNextRecord() throws {
        try write(5)
        var l = try lines(segment1)
        // Rewrite record 2 completely, with a correct self-hash: record 3 no longer follows it.
        let r2 = try AuditLine.parse(Array(l[1].utf8)).get()
        let forged = AuditLine.encode(seq: 2, timeMillis: 0, event: AuditEvent(event: "x", subject: "y", decision: .deny), prev: r2.prev)
        l[1] = String(decoding: forged.line, as: UTF8.self)
        try save(l, segment1)
        #expect(verify().failureValue == .chainBroken(seq: 3, AuditLocation(file: segment1, line: 3)))
    }

    /// Found by the FuzzAuditLine fuzzer: a repeated "hash" key (JSON decoders keep the first)
    /// let a rewritten record keep its old hash in the chain.
    @Test func rewrittenRecordWithARepeatedKeyIsCaught() throws {
        try write(3)
        var l = try lines(segment1)
        let r = try AuditLine.parse(Array(l[1].utf8)).get()
        var forged = l[1].replacingOccurrences(of: "\"decision\":\"allow\"", with: "\"decision\":\"deny\"")
            .replacingOccurrences(of: "{\"seq\":2,", with: "{\"seq\":2,\"hash\":\"\(r.hash)\",")
        let cut = forged.range(of: ",\"hash\":\"", options: .backwards)!.lowerBound
        forged = String(forged[..<cut])
        forged += ",\"hash\":\"\(Hex.encode(Multihash.sha256(of: Array(forged.utf8)).digest))\"}"
        l[1] = forged
        try save(l, segment1)
        #expect(verify().failureValue == .recordAltered(seq: 2, AuditLocation(file: segment1, line: 2)))
    }

    @Test func deletingARecordIsCaught() throws {
        try write(8)
        var l = try lines(segment1)
        l.remove(at: 3)
        try save(l, segment1)
        #expect(verify().failureValue == .recordMissing(expectedSeq: 4, foundSeq: 5, AuditLocation(file: segment1, line: 4)))
    }

    @Test func swappingRecordsIsCaught() throws {
        try write(8)
        var l = try lines(segment1)
        l.swapAt(2, 3)
        try save(l, segment1)
        #expect(verify().failureValue == .recordMissing(expectedSeq: 3, foundSeq: 4, AuditLocation(file: segment1, line: 3)))
    }

    @Test func truncatingTheLogIsCaughtAgainstTheSignedCheckpoint() throws {
        try write(30)
        let l = try lines(segment1)
        for keep in [0, 1, 10, l.count - 1] {
            try save(Array(l.prefix(keep)), segment1)
            if keep == 0 { try "".write(toFile: segment1, atomically: false, encoding: .utf8) }
            guard case .failure(let e) = verify() else { Issue.record("truncation to \(keep) not caught"); continue }
            if case .truncated(let last, _, _) = e { #expect(last == UInt64(keep)) } else { Issue.record("\(e)") }
        }
        // Cutting mid-line is caught too.
        try (l.joined(separator: "\n") + "\n").dropLast(20).write(toFile: segment1, atomically: false, encoding: .utf8)
        #expect(verify().failureValue != nil)
    }

    @Test func forgedCheckpointIsCaught() throws {
        try write(12)
        var l = try lines(segment1)
        let idx = try #require(l.firstIndex { $0.contains("audit.checkpoint") })
        let r = try AuditLine.parse(Array(l[idx].utf8)).get()
        // Re-sign the checkpoint with some other key, keeping the chain itself consistent.
        let other = SigningKey()
        let sig = other.sign(AuditLine.checkpointMessage(seq: r.seq, prev: r.prev), in: .auditCheckpoint)
        let ev = AuditEvent(event: r.event, subject: r.subject, resource: r.resource, action: r.action, decision: r.decision, reason: r.reason)
        let forged = AuditLine.encode(seq: r.seq, timeMillis: 0, event: ev, signature: sig, prev: r.prev)
        l[idx] = String(decoding: forged.line, as: UTF8.self)
        try save(Array(l.prefix(idx + 1)), segment1)
        try? FileManager.default.removeItem(atPath: dir + "/checkpoint")
        #expect(verify().failureValue == .forgedCheckpoint(seq: r.seq, AuditLocation(file: segment1, line: idx + 1)))
        // A forged anchor file is refused as well.
        try write(1)
        let anchor = "{\"seq\":1,\"prev\":\"\(AuditRecord.genesis)\",\"sig\":\"\(Hex.encode(other.sign(AuditLine.checkpointMessage(seq: 1, prev: AuditRecord.genesis), in: .auditCheckpoint)))\"}\n"
        try anchor.write(toFile: dir + "/checkpoint", atomically: false, encoding: .utf8)
        #expect(verify().failureValue != nil)
    }

    @Test func rotationKeepsOneChainAcrossSegments() throws {
        try write(200, every: 1000, segmentLimit: 4096)
        let segments = try AuditLog.segments(in: dir)
        #expect(segments.count > 3)
        let s = try verify().get()
        #expect(s.records > 200)
        // Deleting a middle segment breaks the chain at the next one.
        try FileManager.default.removeItem(atPath: AuditLog.segmentPath(dir, 2))
        guard case .recordMissing = verify().failureValue else { Issue.record("missing segment not caught"); return }
    }

    @Test func tornFinalRecordFromACrashIsRecoveredOnOpen() throws {
        try write(3)
        let h = FileHandle(forWritingAtPath: segment1)!
        h.seekToEndOfFile(); h.write(Data("{\"seq\":99,\"ti".utf8)); h.closeFile()
        guard case .unreadable = verify().failureValue else { Issue.record("torn tail not reported"); return }
        try write(0)  // reopen: drops the torn bytes and records that it did
        #expect(try verify().get().records > 0)
        let tail = try AuditLog.tail(directory: dir, count: 2)
        #expect(tail.first?.event == "audit.recovered")
    }

    @Test func valuesFromCapsulesCannotInjectLinesOrFields() throws {
        let log = try AuditLog(directory: dir, key: key)
        log.record(AuditEvent(event: "x", subject: "evil\n{\"seq\":1}", resource: "\"", action: "\\", decision: .deny, reason: "\u{1b}[2J"))
        try log.close()
        #expect(try lines(segment1).count == 2)
        let r = try AuditLog.tail(directory: dir, count: 2)[0]
        #expect(r.subject == "evil\n{\"seq\":1}" && r.reason == "\u{1b}[2J")
        #expect(try verify().get().records == 2)
    }

    @Test func checkpointIsAlsoWrittenWhenTimePassesBetweenRecords() throws {
        var o = AuditLog.Options()
        o.checkpointIntervalMillis = 1000
        let now = Mutex<Int64>(1_000_000)
        let log = try AuditLog(directory: dir, key: key, options: o, clock: { now.withLock { $0 += 600; return $0 } })
        for i in 0..<4 { log.record(event(i)) }
        try log.flush()
        let records = try AuditLog.tail(directory: dir, count: 10)
        // Records at +600, +1200, +1800, +2400 ms: the third is 1.2 s after the first, so a
        // checkpoint follows it; the fourth is only 0.6 s after that checkpoint.
        #expect(records.map(\.isCheckpoint) == [false, false, false, true, false])
        try log.close()
        #expect(try verify().get().checkpoints == 2)
    }

    @Test func tailReturnsTheNewestRecordsInOrder() throws {
        try write(20, every: 1000)
        let tail = try AuditLog.tail(directory: dir, count: 3)
        #expect(tail.map(\.seq) == [19, 20, 21])
        #expect(tail.last?.isCheckpoint == true)
    }
}
