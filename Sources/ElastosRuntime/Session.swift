public import ElastosCapsule
import ElastosCore
import Foundation
import Synchronization

/// One running capsule instance. Its `principal` is what tokens issued to it are bound to.
public struct Session: Sendable, Equatable {
    public let id: String
    public let capsule: String
    public let version: String
    public let cid: String
    public let publisher: String
    public let trust: TrustLevel
    public let substrate: String
    public let startedAt: UInt64
    /// The holder string in this session's tokens.
    public var principal: String { "session:" + id }

    public init(capsule: String, version: String, cid: String, publisher: String, trust: TrustLevel,
                substrate: String, startedAt: UInt64, id: String = Session.newID()) {
        self.id = id; self.capsule = capsule; self.version = version; self.cid = cid
        self.publisher = publisher; self.trust = trust; self.substrate = substrate; self.startedAt = startedAt
    }

    /// 128 random bits as 32 hex characters: unguessable, so a capsule cannot name another's session.
    public static func newID() -> String { TokenID.random().description }
}

/// What happened to a session, as `elastos ps` shows it.
public enum SessionState: Sendable, Equatable, CustomStringConvertible {
    case running
    case exited(code: Int32)
    case failed(reason: String)
    case stopped(reason: String)

    public var description: String {
        switch self {
        case .running: "running"
        case .exited(let c): "exited (\(c))"
        case .failed(let r): "failed: \(r)"
        case .stopped(let r): "stopped: \(r)"
        }
    }
}

/// The node's live sessions.
public final class SessionRegistry: Sendable {
    public struct Entry: Sendable, Equatable {
        public var session: Session
        public var state: SessionState
    }

    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    public func add(_ s: Session) { entries.withLock { $0[s.id] = Entry(session: s, state: .running) } }
    public func setState(_ id: String, _ state: SessionState) { entries.withLock { $0[id]?.state = state } }
    public func remove(_ id: String) { entries.withLock { _ = $0.removeValue(forKey: id) } }
    public func entry(_ id: String) -> Entry? { entries.withLock { $0[id] } }
    /// Sessions by start time.
    public var all: [Entry] { entries.withLock { Array($0.values) }.sorted { ($0.session.startedAt, $0.session.id) < ($1.session.startedAt, $1.session.id) } }

    /// Finds a session by its full id or a unique prefix of at least 4 characters.
    public func find(_ idOrPrefix: String) -> Entry? {
        entries.withLock { e in
            if let exact = e[idOrPrefix] { return exact }
            guard idOrPrefix.count >= 4 else { return nil }
            let matches = e.values.filter { $0.session.id.hasPrefix(idOrPrefix) }
            return matches.count == 1 ? matches[0] : nil
        }
    }
}
