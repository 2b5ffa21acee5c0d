#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@preconcurrency import Dispatch
public import ElastosCore
import Foundation
import Synchronization

/// Why the audit log could not be opened or written.
public enum AuditLogError: Error, Equatable, Sendable, CustomStringConvertible {
    case damaged(AuditLocation, String)
    case io(FileError)
    case badAnchor(String)

    public var description: String {
        switch self {
        case .damaged(let at, let why): "audit log is damaged at \(at) (\(why)); run 'elastos audit verify' and move the log aside to start a new one"
        case .io(let e): "audit log: \(e)"
        case .badAnchor(let why): "audit checkpoint file is invalid: \(why)"
        }
    }
}

/// The tamper-evident audit log: hash-chained JSON Lines in numbered segments under
/// `<home>/audit/`, with signed checkpoints (docs/AUDIT.md).
///
/// `record` only queues the event (it is on the enforcement path); a writer drains the queue
/// every `flushInterval`, or when `flush()` is called, writing the batch and fsyncing once —
/// group commit. A checkpoint signed by the node key is written every `checkpointEvery` records or
/// `checkpointIntervalMillis` (whichever comes first), at every segment rotation and on `close()`, and also saved atomically to `audit/checkpoint`,
/// so a log cut short of it is detected.
public final class AuditLog: AuditSink {
    public struct Options: Sendable {
        public var segmentLimit: Int = 8 << 20
        public var checkpointEvery: UInt64 = 1000
        /// Also checkpoint when this long has passed since the last one and records are waiting.
        public var checkpointIntervalMillis: Int64 = 60_000
        public var flushIntervalMillis: Int = 50
        public var maxPending: Int = 65_536
        public init() {}
    }

    private struct Pending { var event: AuditEvent; var millis: Int64 }

    private struct Writer {
        var fd: Int32 = -1
        var segment = 1
        var segmentSize = 0
        var nextSeq: UInt64 = 1
        var prev = AuditRecord.genesis
        var sinceCheckpoint: UInt64 = 0
        var lastCheckpointMillis: Int64 = 0
        var unsavedAnchor: String?
        var closed = false
        var lastError: AuditLogError?
    }

    public let directory: String
    public let options: Options
    private let key: SigningKey
    private let clock: @Sendable () -> Int64
    private struct Queue { var items: [Pending] = []; var closed = false }
    private let pending = Mutex(Queue())
    private let writer: Mutex<Writer>
    private let lockFD: Int32
    // Dispatch sources are not Sendable; the mutex makes every access exclusive.
    private let timer = Mutex<(any DispatchSourceTimer)?>(nil)

    /// Unix time in milliseconds from the system clock.
    public static let systemClock: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }

    /// Opens the log in `directory`, recovering a torn final line left by a crash.
    /// - Parameter clock: Unix time in milliseconds.
    public init(directory: String, key: SigningKey, options: Options = Options(),
                clock: @escaping @Sendable () -> Int64 = AuditLog.systemClock) throws(AuditLogError) {
        self.directory = directory
        self.options = options
        self.key = key
        self.clock = clock
        do {
            try FileIO.makeDirectory(directory)
            lockFD = try FileIO.lockExclusively(directory + "/lock")
        } catch { throw .io(error) }
        var w = Writer()
        var recovered: Int?
        do {
            let segments = try Self.segments(in: directory)
            w.segment = segments.last ?? 1
            // Find the last record: in the last segment, or the one before if it is empty.
            for seg in segments.reversed() {
                let path = Self.segmentPath(directory, seg)
                guard let bytes = try FileIO.read(path, limit: Int.max) else { continue }
                var body = bytes[...]
                if let last = body.lastIndex(of: 0x0A) {
                    if last != body.endIndex - 1 { recovered = body.endIndex - last - 1; body = body[...last] }
                } else if !body.isEmpty {
                    recovered = body.count; body = body[body.startIndex..<body.startIndex]
                }
                if recovered != nil, seg == segments.last {
                    guard truncate(path, off_t(body.count)) == 0 else { throw FileError("truncate torn record in", path) }
                }
                if seg == w.segment { w.segmentSize = body.count }
                guard let lastLine = body.dropLast().split(separator: 0x0A, omittingEmptySubsequences: false).last, !lastLine.isEmpty else { continue }
                switch AuditLine.parse(Array(lastLine)) {
                case .success(let r):
                    w.nextSeq = r.seq + 1
                    w.prev = r.hash
                case .failure(let e):
                    let lineNo = body.dropLast().split(separator: 0x0A, omittingEmptySubsequences: false).count
                    throw AuditLogError.damaged(AuditLocation(file: path, line: lineNo), "\(e)")
                }
                break
            }
            w.fd = try Self.openSegment(Self.segmentPath(directory, w.segment))
        } catch let e as AuditLogError {
            Glibc.close(lockFD); throw e
        } catch let e as FileError {
            Glibc.close(lockFD); throw .io(e)
        } catch {
            Glibc.close(lockFD); throw .io(FileError("open", directory, code: EIO))
        }
        writer = Mutex(w)
        if let recovered {
            record(AuditEvent(event: "audit.recovered", subject: "runtime", decision: .info,
                              reason: "dropped a torn final record of \(recovered) bytes left by an interrupted write"))
        }
        let source = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "elastos.audit.flush"))
        let interval = options.flushIntervalMillis
        source.schedule(deadline: .now() + .milliseconds(interval), repeating: .milliseconds(interval))
        source.setEventHandler { [weak self] in try? self?.flush() }
        source.resume()
        timer.withLock { $0 = source }
    }

    deinit {
        timer.withLock { $0?.cancel() }
        try? close()
        Glibc.close(lockFD)
    }

    /// Queues an event. Never blocks on disk unless the queue is full.
    public func record(_ event: AuditEvent) {
        let now = clock()
        let full = pending.withLock { q -> Bool in
            guard !q.closed else { return false }  // after close() nothing more is accepted
            q.items.append(Pending(event: event, millis: now))
            return q.items.count >= options.maxPending
        }
        if full { try? flush() }
    }

    /// Writes everything queued with one write and one fsync, then saves the newest checkpoint
    /// (if the batch made one) to `audit/checkpoint`.
    public func flush() throws(AuditLogError) {
        try writer.withLock { w throws(AuditLogError) in
            guard !w.closed else { return }
            let batch = pending.withLock { q -> [Pending] in
                let b = q.items
                q.items.removeAll(keepingCapacity: true)
                return b
            }
            guard !batch.isEmpty else { return }
            do throws(FileError) {
                var buffer = [UInt8]()
                buffer.reserveCapacity(batch.count * 300)
                if w.lastCheckpointMillis == 0 { w.lastCheckpointMillis = batch[0].millis }
                for item in batch {
                    try appendRecord(item.event, millis: item.millis, into: &buffer, &w)
                    if w.sinceCheckpoint >= options.checkpointEvery
                        || item.millis - w.lastCheckpointMillis >= options.checkpointIntervalMillis {
                        appendCheckpoint(millis: item.millis, into: &buffer, &w)
                    }
                }
                try writeOut(&buffer, &w)
            } catch {
                w.lastError = .io(error)
                throw .io(error)
            }
        }
    }

    /// Writes a signed checkpoint now (after everything queued before it).
    public func checkpoint() throws(AuditLogError) {
        try flush()
        try writer.withLock { w throws(AuditLogError) in
            guard !w.closed else { return }
            do throws(FileError) {
                var buffer = [UInt8]()
                appendCheckpoint(millis: clock(), into: &buffer, &w)
                try writeOut(&buffer, &w)
            } catch { throw .io(error) }
        }
    }

    /// Flushes, signs a final checkpoint and closes the segment. Further events are dropped.
    public func close() throws(AuditLogError) {
        let alreadyClosed = writer.withLock { $0.closed }
        guard !alreadyClosed else { return }
        pending.withLock { $0.closed = true }  // stop accepting, then drain and sign what came before
        try checkpoint()
        writer.withLock { w in
            if w.fd >= 0 { Glibc.close(w.fd); w.fd = -1 }
            w.closed = true
        }
    }

    /// The error from the last failed background write, if any.
    public var lastError: AuditLogError? { writer.withLock { $0.lastError } }

    // MARK: - Writing

    private func appendRecord(_ event: AuditEvent, millis: Int64, signature: [UInt8]? = nil, into buffer: inout [UInt8], _ w: inout Writer) throws(FileError) {
        if signature == nil, w.segmentSize + buffer.count >= options.segmentLimit {
            try rotate(millis: millis, buffer: &buffer, &w)
        }
        let (line, hash) = AuditLine.encode(seq: w.nextSeq, timeMillis: millis, event: event, signature: signature, prev: w.prev)
        buffer.append(contentsOf: line)
        buffer.append(0x0A)
        w.prev = hash
        w.nextSeq += 1
        w.sinceCheckpoint += 1
    }

    /// Appends a checkpoint record to the batch; `writeOut` saves the anchor once it is on disk.
    private func appendCheckpoint(millis: Int64, into buffer: inout [UInt8], _ w: inout Writer) {
        let seq = w.nextSeq, prev = w.prev
        let sig = key.sign(AuditLine.checkpointMessage(seq: seq, prev: prev), in: .auditCheckpoint)
        let event = AuditEvent(event: AuditRecord.checkpointEvent, subject: key.publicKey.did.description,
                               decision: .info, reason: "records 1…\(seq - 1) end in \(prev.prefix(16))…")
        // A checkpoint never triggers rotation, so this cannot fail.
        try? appendRecord(event, millis: millis, signature: sig, into: &buffer, &w)
        w.sinceCheckpoint = 0
        w.lastCheckpointMillis = millis
        w.unsavedAnchor = "{\"seq\":\(seq),\"prev\":\"\(prev)\",\"sig\":\"\(Hex.encode(sig))\"}\n"
    }

    /// Writes the buffer to the current segment and fsyncs it; then, and only then, saves the
    /// newest checkpoint as the anchor.
    private func writeOut(_ buffer: inout [UInt8], _ w: inout Writer) throws(FileError) {
        if !buffer.isEmpty {
            let path = Self.segmentPath(directory, w.segment)
            try FileIO.writeAll(w.fd, buffer, path: path)
            guard fsync(w.fd) == 0 else { throw FileError("fsync", path) }
            w.segmentSize += buffer.count
            buffer.removeAll(keepingCapacity: true)
        }
        if let anchor = w.unsavedAnchor {
            try FileIO.writeAtomically(Array(anchor.utf8), to: directory + "/checkpoint", mode: 0o600)
            w.unsavedAnchor = nil
        }
    }

    private func rotate(millis: Int64, buffer: inout [UInt8], _ w: inout Writer) throws(FileError) {
        appendCheckpoint(millis: millis, into: &buffer, &w)
        try writeOut(&buffer, &w)
        Glibc.close(w.fd)
        w.segment += 1
        w.segmentSize = 0
        w.fd = try Self.openSegment(Self.segmentPath(directory, w.segment))
        try FileIO.syncDirectory(directory)
    }

    // MARK: - Files

    static func segmentPath(_ dir: String, _ n: Int) -> String {
        let s = String(n)
        return dir + "/" + String(repeating: "0", count: max(0, 8 - s.count)) + s + ".jsonl"
    }

    static func segments(in dir: String) throws(FileError) -> [Int] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else {
            throw FileError("list", dir)
        }
        return names.compactMap { n -> Int? in
            guard n.hasSuffix(".jsonl"), n.count == 14 else { return nil }
            return Int(n.prefix(8))
        }.sorted()
    }

    private static func openSegment(_ path: String) throws(FileError) -> Int32 {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileError("open", path) }
        return fd
    }

    // MARK: - Reading

    /// Verifies the whole log in `directory` against the node's public key.
    public static func verify(directory: String, key: PublicKey) -> Result<AuditSummary, AuditVerificationError> {
        let segments: [Int]
        do { segments = try self.segments(in: directory) } catch {
            return .failure(.unreadable(AuditLocation(file: directory, line: 0), error.description))
        }
        var verifier = AuditChainVerifier(key: key)
        for seg in segments {
            let path = segmentPath(directory, seg)
            let bytes: [UInt8]
            do { bytes = try FileIO.read(path, limit: Int.max) ?? [] } catch {
                return .failure(.unreadable(AuditLocation(file: path, line: 0), error.description))
            }
            var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
            if let last = lines.last, last.isEmpty { lines.removeLast() }
            for (i, line) in lines.enumerated() {
                let at = AuditLocation(file: path, line: i + 1)
                if i == lines.count - 1, bytes.last != 0x0A {
                    return .failure(.unreadable(at, "the final record is incomplete (torn write, or cut short)"))
                }
                if let problem = verifier.feed(Array(line), at: at) { return .failure(problem) }
            }
        }
        let anchor: (seq: UInt64, prev: String)?
        switch readAnchor(directory: directory, key: key) {
        case .success(let a): anchor = a
        case .failure(let e): return .failure(.unreadable(AuditLocation(file: directory + "/checkpoint", line: 1), e.description))
        }
        return verifier.finish(anchor: anchor)
    }

    static func readAnchor(directory: String, key: PublicKey) -> Result<(seq: UInt64, prev: String)?, AuditLogError> {
        let path = directory + "/checkpoint"
        guard let bytes = try? FileIO.read(path, limit: 4096) else { return .success(nil) }
        struct Anchor: Decodable { var seq: UInt64; var prev: String; var sig: String }
        guard let a = try? JSONDecoder().decode(Anchor.self, from: Data(bytes)) else {
            return .failure(.badAnchor("not a checkpoint record"))
        }
        guard let sig = Hex.decode(a.sig), a.prev.utf8.count == 64,
            key.isValidSignature(sig, for: AuditLine.checkpointMessage(seq: a.seq, prev: a.prev), in: .auditCheckpoint)
        else { return .failure(.badAnchor("its signature is not the runtime's (forged checkpoint)")) }
        return .success((a.seq, a.prev))
    }

    /// The last `count` records, oldest first.
    public static func tail(directory: String, count: Int) throws(AuditLogError) -> [AuditRecord] {
        guard count > 0 else { return [] }
        var out: [AuditRecord] = []
        let segments: [Int]
        do { segments = try self.segments(in: directory) } catch { throw .io(error) }
        for seg in segments.reversed() {
            let path = segmentPath(directory, seg)
            let bytes: [UInt8]
            do { bytes = try FileIO.read(path, limit: Int.max) ?? [] } catch { throw .io(error) }
            let lines = bytes.split(separator: 0x0A)
            for (i, line) in lines.enumerated().reversed() {
                switch AuditLine.parse(Array(line)) {
                case .success(let r): out.append(r)
                case .failure(let e): throw .damaged(AuditLocation(file: path, line: i + 1), "\(e)")
                }
                if out.count == count { return out.reversed() }
            }
        }
        return out.reversed()
    }
}
