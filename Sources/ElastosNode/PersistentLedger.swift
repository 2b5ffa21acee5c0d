#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Crypto
public import ElastosCore
import Synchronization

/// Why the capability ledger could not be opened or updated.
public enum LedgerError: Error, Equatable, Sendable, CustomStringConvertible {
    case corrupt(path: String, line: Int)
    case io(FileError)

    public var description: String {
        switch self {
        case .corrupt(let p, let l):
            "capability ledger \(p) is damaged at line \(l); refusing to start, because revocations or use counts could be lost"
        case .io(let e): "capability ledger: \(e)"
        }
    }
}

/// The epoch, revocations and use counts, persisted in an append-only journal under the node
/// home so they survive restarts (docs/TOKENS.md, "State").
///
/// Each change is one line, fsynced before the change takes effect, ending in a checksum:
///     E <epoch> #<sum>
///     R <token id> <expiry|-> #<sum>
///     U <id>=<count>@<expiry|-> [<id>=<count>@<expiry|->…] #<sum>     (one line per use: atomic)
/// `<sum>` is the first 16 hex digits of SHA-256 of everything before ` #`. A torn last line
/// (a crash mid-write) is dropped on open; a bad checksum anywhere else stops the node. The
/// journal is compacted (rewritten atomically, dropping entries for expired tokens) on open
/// when it has grown.
public final class PersistentLedger: CapabilityLedger {
    private struct State {
        var epoch: UInt64 = 0
        var revoked: [TokenID: UInt64?] = [:]
        var uses: [TokenID: (count: UInt32, expiry: UInt64?)] = [:]
        var fd: Int32 = -1
        var bytesWritten = 0
    }

    public let path: String
    private let state: Mutex<State>
    private let lockFD: Int32

    /// Opens (or creates) the ledger at `path`. `now` is used to drop entries of expired tokens
    /// when compacting.
    public init(path: String, now: UInt64, compactAbove: Int = 1 << 20) throws(LedgerError) {
        self.path = path
        do { lockFD = try FileIO.lockExclusively(path + ".lock") } catch { throw .io(error) }
        var s = State()
        let bytes: [UInt8]
        do { bytes = try FileIO.read(path) ?? [] } catch { close(lockFD); throw .io(error) }
        var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        let torn = bytes.last != nil && bytes.last != 0x0A
        // The last element is empty after a final newline, or a torn partial line.
        lines.removeLast()
        for (i, line) in lines.enumerated() {
            guard Self.apply(Array(line), to: &s) else { close(lockFD); throw .corrupt(path: path, line: i + 1) }
        }
        state = Mutex(s)
        do {
            if torn || bytes.count > compactAbove || !lines.isEmpty && lines.count > 4 * (1 + s.revoked.count + s.uses.count) {
                try compact(now: now)
            } else {
                try openForAppend()
            }
        } catch { close(lockFD); throw .io(error) }
    }

    deinit {
        state.withLock { if $0.fd >= 0 { close($0.fd) } }
        close(lockFD)
    }

    public var epoch: UInt64 { state.withLock { $0.epoch } }
    public func isRevoked(_ id: TokenID) -> Bool { state.withLock { $0.revoked[id] != nil } }
    public func uses(of id: TokenID) -> UInt32 { state.withLock { $0.uses[id]?.count ?? 0 } }
    /// Revoked ids and the expiry recorded with them.
    public var revocations: [(TokenID, UInt64?)] { state.withLock { $0.revoked.map { ($0.key, $0.value) } }.sorted { $0.0 < $1.0 } }

    public func consume(_ demands: [UseDemand]) throws -> Bool {
        try state.withLock { s throws(LedgerError) -> Bool in
            for d in demands where (s.uses[d.id]?.count ?? 0) >= d.maxUses { return false }
            let entries = demands.map { d in "\(d.id)=\((s.uses[d.id]?.count ?? 0) + 1)@\(d.expiry.map(String.init) ?? "-")" }
            try append("U " + entries.joined(separator: " "), &s)
            for d in demands { s.uses[d.id] = ((s.uses[d.id]?.count ?? 0) + 1, d.expiry) }
            return true
        }
    }

    public func revoke(_ id: TokenID, expiry: UInt64?) throws {
        try state.withLock { s throws(LedgerError) in
            guard s.revoked[id] == nil else { return }
            try append("R \(id) \(expiry.map(String.init) ?? "-")", &s)
            s.revoked[id] = expiry
        }
    }

    public func advanceEpoch() throws -> UInt64 {
        try state.withLock { s throws(LedgerError) -> UInt64 in
            try append("E \(s.epoch + 1)", &s)
            s.epoch += 1
            return s.epoch
        }
    }

    // MARK: - Journal

    private func append(_ payload: String, _ s: inout State) throws(LedgerError) {
        let line = Array((payload + " #" + Self.checksum(payload) + "\n").utf8)
        do throws(FileError) {
            try FileIO.writeAll(s.fd, line, path: path)
            guard fsync(s.fd) == 0 else { throw FileError("fsync", path) }
        } catch { throw .io(error) }
        s.bytesWritten += line.count
    }

    private func openForAppend() throws(FileError) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileError("open", path) }
        state.withLock { $0.fd = fd }
    }

    /// Rewrites the journal with only the live state, atomically.
    private func compact(now: UInt64) throws(FileError) {
        let text = state.withLock { s -> String in
            s.revoked = s.revoked.filter { $0.value.map { $0 > now } ?? true }
            s.uses = s.uses.filter { $0.value.expiry.map { $0 > now } ?? true }
            var out = ""
            func line(_ p: String) { out += p + " #" + Self.checksum(p) + "\n" }
            line("E \(s.epoch)")
            for (id, exp) in s.revoked.sorted(by: { $0.key < $1.key }) { line("R \(id) \(exp.map(String.init) ?? "-")") }
            for (id, u) in s.uses.sorted(by: { $0.key < $1.key }) { line("U \(id)=\(u.count)@\(u.expiry.map(String.init) ?? "-")") }
            if s.fd >= 0 { close(s.fd); s.fd = -1 }
            return out
        }
        try FileIO.writeAtomically(Array(text.utf8), to: path, mode: 0o600)
        try openForAppend()
    }

    static func checksum(_ payload: String) -> String {
        String(Hex.encode(SHA256.hash(data: Array(payload.utf8))).prefix(16))
    }

    /// Applies one journal line; false if it is damaged.
    private static func apply(_ raw: [UInt8], to s: inout State) -> Bool {
        let line = String(decoding: raw, as: UTF8.self)
        guard let hashAt = line.range(of: " #", options: .backwards) else { return false }
        let payload = String(line[..<hashAt.lowerBound])
        guard String(line[hashAt.upperBound...]) == checksum(payload) else { return false }
        let parts = payload.split(separator: " ").map(String.init)
        guard let kind = parts.first else { return false }
        func expiry(_ t: String) -> UInt64?? { t == "-" ? .some(nil) : UInt64(t).map { .some($0) } }
        switch kind {
        case "E":
            guard parts.count == 2, let e = UInt64(parts[1]), e >= s.epoch else { return false }
            s.epoch = e
        case "R":
            guard parts.count == 3, let id = TokenID(hex: parts[1]), let exp = expiry(parts[2]) else { return false }
            s.revoked[id] = exp
        case "U":
            guard parts.count >= 2 else { return false }
            for entry in parts.dropFirst() {
                let kv = entry.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2, let id = TokenID(hex: kv[0]) else { return false }
                let ce = kv[1].split(separator: "@", maxSplits: 1).map(String.init)
                guard ce.count == 2, let count = UInt32(ce[0]), let exp = expiry(ce[1]) else { return false }
                s.uses[id] = (max(count, s.uses[id]?.count ?? 0), exp)
            }
        default:
            return false
        }
        return true
    }
}
