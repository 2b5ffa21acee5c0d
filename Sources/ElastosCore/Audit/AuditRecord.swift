// Audit record format (docs/AUDIT.md is the normative description).
//
// One JSON object per line, keys in this fixed order, written by this file only:
//   {"seq":N,"time":"RFC3339 UTC ms","event":…,"subject":…,"resource":…,"action":…,
//    "decision":"allow|deny|info","reason":…[,"token":…][,"sig":hex]  ,"prev":hex64,"hash":hex64}
// `hash` is SHA-256 of the line's bytes up to (not including) `,"hash":`; `prev` is the previous
// record's `hash` (64 zeros for record 1). A checkpoint is a record with event
// `audit.checkpoint` whose `sig` is the runtime's Ed25519 signature, in the
// `elastos.audit-checkpoint.v1` domain, over seq:u64 ‖ prev:32 — "the first seq-1 records end in
// prev", so a checkpoint vouches for everything before it.

import Crypto
import Foundation

/// A record as read back from the log.
public struct AuditRecord: Sendable, Equatable, Codable {
    public var seq: UInt64
    public var time: String
    public var event: String
    public var subject: String
    public var resource: String
    public var action: String
    public var decision: AuditDecision
    public var reason: String
    public var token: String?
    public var sig: String?
    public var prev: String
    public var hash: String

    public static let checkpointEvent = "audit.checkpoint"
    public static let genesis = String(repeating: "0", count: 64)

    public var isCheckpoint: Bool { event == Self.checkpointEvent }
}

public enum AuditLine {
    /// Encodes one record line (without the newline) and returns it with its hash. Builds the
    /// bytes directly: this runs once per audited call.
    public static func encode(seq: UInt64, timeMillis: Int64, event: AuditEvent, signature: [UInt8]? = nil, prev: String) -> (line: [UInt8], hash: String) {
        var time = [UInt8]()
        RFC3339.append(millis: timeMillis, to: &time)
        return encode(seq: seq, time: time, event: event, signature: signature, prev: prev)
    }

    static func encode(seq: UInt64, time: [UInt8], event: AuditEvent, signature: [UInt8]?, prev: String) -> (line: [UInt8], hash: String) {
        var b = [UInt8]()
        b.reserveCapacity(200 + event.subject.utf8.count + event.resource.utf8.count + event.reason.utf8.count)
        b.append(contentsOf: #"{"seq":"#.utf8)
        b.append(contentsOf: String(seq).utf8)
        b.append(contentsOf: #","time":""#.utf8)
        b.append(contentsOf: time)
        b.append(contentsOf: #"","event":"#.utf8)
        JSONText.appendQuoted(event.event, to: &b)
        b.append(contentsOf: #","subject":"#.utf8)
        JSONText.appendQuoted(event.subject, to: &b)
        b.append(contentsOf: #","resource":"#.utf8)
        JSONText.appendQuoted(event.resource, to: &b)
        b.append(contentsOf: #","action":"#.utf8)
        JSONText.appendQuoted(event.action, to: &b)
        b.append(contentsOf: #","decision":""#.utf8)
        b.append(contentsOf: event.decision.rawValue.utf8)
        b.append(contentsOf: #"","reason":"#.utf8)
        JSONText.appendQuoted(event.reason, to: &b)
        if let t = event.token {
            b.append(contentsOf: #","token":"#.utf8)
            JSONText.appendQuoted(t, to: &b)
        }
        if let signature {
            b.append(contentsOf: #","sig":""#.utf8)
            b.append(contentsOf: Hex.encode(signature).utf8)
            b.append(0x22)
        }
        b.append(contentsOf: #","prev":""#.utf8)
        b.append(contentsOf: prev.utf8)
        b.append(0x22)
        let hash = Hex.encode(SHA256.hash(data: b))
        b.append(contentsOf: #","hash":""#.utf8)
        b.append(contentsOf: hash.utf8)
        b.append(contentsOf: #""}"#.utf8)
        return (b, hash)
    }

    /// The bytes a checkpoint signature covers.
    public static func checkpointMessage(seq: UInt64, prev: String) -> [UInt8] {
        var w = ByteWriter(capacity: 40)
        w.u64(seq)
        w.raw(Hex.decode(prev) ?? [])
        return w.bytes
    }

    public enum ParseError: Error, Equatable, Sendable {
        case missingHash, hashMismatch, notJSON(String)
        /// The line is valid JSON with a matching hash but not the one encoding the log writes
        /// (a repeated key, reordered or extra fields, other spacing or escapes): a forgery.
        case notCanonical
    }

    /// Parses a line and checks its own hash.
    public static func parse(_ line: [UInt8]) -> Result<AuditRecord, ParseError> {
        let marker = Array(",\"hash\":\"".utf8)
        // The hash field is the last field and exactly 64 hex digits.
        guard line.count > marker.count + 66, line.suffix(2) == [0x22, 0x7D] else { return .failure(.missingHash) }
        let markerStart = line.count - 2 - 64 - marker.count
        guard Array(line[markerStart..<markerStart + marker.count]) == marker else { return .failure(.missingHash) }
        let claimed = String(decoding: line[(markerStart + marker.count)..<(line.count - 2)], as: UTF8.self)
        let actual = Hex.encode(SHA256.hash(data: line[0..<markerStart]))
        guard claimed == actual else { return .failure(.hashMismatch) }
        let record: AuditRecord
        do { record = try JSONDecoder().decode(AuditRecord.self, from: Data(line)) } catch {
            return .failure(.notJSON(String(describing: error)))
        }
        // JSON parsers disagree on repeated keys (this one keeps the first), so only the exact
        // bytes the writer produces are accepted: re-encode and compare.
        let event = AuditEvent(event: record.event, subject: record.subject, resource: record.resource, action: record.action,
                               decision: record.decision, reason: record.reason, token: record.token)
        var signature: [UInt8]?
        if let sig = record.sig {
            guard let s = Hex.decode(sig), Hex.encode(s) == sig else { return .failure(.notCanonical) }
            signature = s
        }
        let again = encode(seq: record.seq, time: Array(record.time.utf8), event: event, signature: signature, prev: record.prev)
        guard again.line == line, again.hash == claimed, record.hash == claimed else { return .failure(.notCanonical) }
        return .success(record)
    }
}

/// Where a record sits, for messages that name the first bad one.
public struct AuditLocation: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public init(file: String, line: Int) { self.file = file; self.line = line }
    public var description: String { "\(file):\(line)" }
}

/// What is wrong with a log, naming the first bad record.
public enum AuditVerificationError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(AuditLocation, String)
    case recordAltered(seq: UInt64?, AuditLocation)
    case recordMissing(expectedSeq: UInt64, foundSeq: UInt64, AuditLocation)
    case chainBroken(seq: UInt64, AuditLocation)
    case forgedCheckpoint(seq: UInt64, AuditLocation)
    case truncated(lastSeq: UInt64, checkpointSeq: UInt64, checkpointHead: String)
    case checkpointNotInLog(seq: UInt64)

    public var description: String {
        switch self {
        case .unreadable(let at, let why): "record at \(at) is unreadable: \(why)"
        case .recordAltered(let seq, let at):
            "record \(seq.map(String.init) ?? "?") at \(at) was altered: its hash does not match its content"
        case .recordMissing(let e, let f, let at):
            f > e ? "record \(e) is missing: found record \(f) at \(at) (deleted records)"
                : "record \(f) at \(at) is out of order: expected record \(e) (reordered or duplicated records)"
        case .chainBroken(let seq, let at):
            "record \(seq) at \(at) does not follow the record before it (an earlier record was edited, removed or swapped)"
        case .forgedCheckpoint(let seq, let at): "checkpoint record \(seq) at \(at) has a signature that is not the runtime's"
        case .truncated(let last, let cp, _):
            "log ends at record \(last), but a signed checkpoint covers records up to \(cp - 1): records \(last + 1) onward were removed"
        case .checkpointNotInLog(let seq):
            "the signed checkpoint at record \(seq) does not match the record in the log (the log was rewritten)"
        }
    }
}

/// The outcome of a successful verification.
public struct AuditSummary: Sendable, Equatable {
    public var records: UInt64
    public var lastHash: String
    public var checkpoints: Int
    public var lastCheckpointSeq: UInt64?
    /// Records after the last signed checkpoint (not yet vouched for by a signature).
    public var uncheckpointed: UInt64
}

/// Walks a log record by record (across segments) and stops at the first bad one.
public struct AuditChainVerifier: Sendable {
    private let key: PublicKey
    private var expectedSeq: UInt64 = 1
    private var prev = AuditRecord.genesis
    private var checkpoints = 0
    private var lastCheckpoint: UInt64?
    private var hashes: [UInt64: String] = [:]  // checkpoint seq -> its prev, to match the anchor

    public init(key: PublicKey) { self.key = key }

    /// Feeds the next line. Returns the first problem found, if any.
    public mutating func feed(_ line: [UInt8], at location: AuditLocation) -> AuditVerificationError? {
        let record: AuditRecord
        switch AuditLine.parse(line) {
        case .success(let r): record = r
        case .failure(.hashMismatch), .failure(.notCanonical): return .recordAltered(seq: Self.peekSeq(line), location)
        case .failure(let e): return .unreadable(location, "\(e)")
        }
        guard record.seq == expectedSeq else {
            return .recordMissing(expectedSeq: expectedSeq, foundSeq: record.seq, location)
        }
        guard record.prev == prev else { return .chainBroken(seq: record.seq, location) }
        if record.isCheckpoint {
            guard let sigHex = record.sig, let sig = Hex.decode(sigHex),
                key.isValidSignature(sig, for: AuditLine.checkpointMessage(seq: record.seq, prev: record.prev), in: .auditCheckpoint)
            else { return .forgedCheckpoint(seq: record.seq, location) }
            checkpoints += 1
            lastCheckpoint = record.seq
            hashes[record.seq] = record.prev
        }
        prev = record.hash
        expectedSeq += 1
        return nil
    }

    /// Ends the walk. `anchor` is the latest checkpoint the runtime saved beside the log
    /// (seq, prev): a log that no longer reaches it was truncated.
    public func finish(anchor: (seq: UInt64, prev: String)?) -> Result<AuditSummary, AuditVerificationError> {
        let last = expectedSeq - 1
        if let anchor {
            if anchor.seq > last {
                return .failure(.truncated(lastSeq: last, checkpointSeq: anchor.seq, checkpointHead: anchor.prev))
            }
            if hashes[anchor.seq] != anchor.prev { return .failure(.checkpointNotInLog(seq: anchor.seq)) }
        }
        return .success(AuditSummary(
            records: last, lastHash: prev, checkpoints: checkpoints, lastCheckpointSeq: lastCheckpoint,
            uncheckpointed: last - (lastCheckpoint ?? 0)))
    }

    public var nextSeq: UInt64 { expectedSeq }
    public var lastHash: String { prev }

    static func peekSeq(_ line: [UInt8]) -> UInt64? {
        let prefix = Array("{\"seq\":".utf8)
        guard line.starts(with: prefix) else { return nil }
        var v: UInt64 = 0
        var any = false
        for c in line.dropFirst(prefix.count) {
            guard c >= 0x30 && c <= 0x39 else { break }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(c - 0x30))
            if o1 || o2 { return nil }
            v = a; any = true
        }
        return any ? v : nil
    }
}
