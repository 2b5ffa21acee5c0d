// What one chat client keeps about one room: who is there, which nick belongs to which DID,
// which messages it has seen, and how fast each sender may talk. Pure state, no I/O: the
// capsules feed it envelopes whose signatures they have checked, and print what it says.

/// Someone present in a room.
public struct ChatMember: Equatable, Sendable {
    public var nick: String
    public var did: String
    public var app: String
    /// When we last heard from them (ms, our clock).
    public var lastSeen: UInt64
}

/// What to do with a received envelope.
public enum ChatOutcome: Equatable, Sendable {
    /// Show this message. `warning` says when its nick was first used by another DID.
    case show(ChatEnvelope, warning: String?)
    case joined(ChatMember)
    case left(ChatMember)
    /// A heartbeat from someone already present: nothing to show.
    case refreshed
    /// Seen before (the same id): dropped silently.
    case duplicate
    /// Not accepted, and why (for a log line; never shown as a message).
    case rejected(String)
    /// Someone asks for recent messages (answer with ``ChatHistory``).
    case historyRequested(ChatMember)
    /// A history answer (its outer envelope checked): check each inner envelope's signature and
    /// hand it to ``ChatRoom/receiveHistorical(_:verified:)``.
    case history(ChatEnvelope)
}

public struct ChatRoom: Sendable {
    /// Messages older than this, or further ahead than ``maxClockSkew``, are refused: a replay
    /// outside the de-duplication window, or a re-timed message, does not get in.
    public static let freshness: UInt64 = 5 * 60 * 1000
    public static let maxClockSkew: UInt64 = 60 * 1000
    /// Members not heard from for this long are taken as gone.
    public static let presenceTTL: UInt64 = 45 * 1000
    public static let heartbeatInterval: UInt64 = 15 * 1000
    /// Per sender DID: a burst of 20 envelopes, then 5 a second.
    public static let burst = 20.0
    public static let perSecond = 5.0
    public static let seenLimit = 10_000
    public static let historyLimit = 500

    public let name: String
    /// Present members by ``memberKey(_:)``.
    public private(set) var members: [String: ChatMember] = [:]
    /// nick → the DID that used it first (verified).
    public private(set) var nicks: [String: String] = [:]
    /// Messages shown, ordered by (timestamp, id).
    public private(set) var history: [ChatEnvelope] = []
    private var seen: Set<[UInt8]> = []
    private var seenOrder: [[UInt8]] = []
    private var seenHead = 0
    private var buckets: [String: (tokens: Double, at: UInt64)] = [:]

    public init(name: String) { self.name = name }

    static func memberKey(_ e: ChatEnvelope) -> String { e.sender + " " + e.app }

    /// Takes one envelope heard on this room's topic. `verified` is the DID provider's answer
    /// for its signature; unverified envelopes are never accepted.
    public mutating func receive(_ e: ChatEnvelope, verified: Bool, now: UInt64) -> ChatOutcome {
        guard verified else { return .rejected("signature does not verify for \(e.sender)") }
        guard e.room == name else { return .rejected("made for \(e.room), heard on \(name): a replay into another room") }
        // Saturating arithmetic: the timestamp is anyone's (a peer sent UInt64.max to crash receivers).
        let oldest = now > Self.freshness ? now - Self.freshness : 0
        let newest = now > UInt64.max - Self.maxClockSkew ? UInt64.max : now + Self.maxClockSkew
        guard e.timestamp >= oldest, e.timestamp <= newest else {
            return .rejected("timestamp \(e.timestamp) is outside the accepted window around \(now)")
        }
        guard remember(e.id) else { return .duplicate }
        guard admit(e.sender, now: now) else { return .rejected("\(e.sender) sends faster than \(Int(Self.perSecond)) a second") }
        let key = Self.memberKey(e)
        let member = ChatMember(nick: e.nick, did: e.sender, app: e.app, lastSeen: now)
        switch e.kind {
        case .leave:
            guard let gone = members.removeValue(forKey: key) else { return .refreshed }
            return .left(gone)
        case .join, .heartbeat:
            let known = members[key] != nil
            members[key] = member
            if nicks[e.nick] == nil { nicks[e.nick] = e.sender }
            return known ? .refreshed : .joined(member)
        case .historyRequest:
            // Not presence: the requester is announced by its own join or heartbeat.
            return .historyRequested(member)
        case .history:
            return .history(e)
        case .message, .direct:
            members[key] = member
            var warning: String?
            if let owner = nicks[e.nick], owner != e.sender {
                warning = "nick '\(e.nick)' was first used by \(Self.short(owner)); this message is from \(Self.short(e.sender))"
            } else if nicks[e.nick] == nil {
                nicks[e.nick] = e.sender
            }
            if e.kind == .message { insert(e) }  // direct messages stay out of the room's history
            return .show(e, warning: warning)
        }
    }

    /// An older message relayed in a history answer. It must be signed by its author (checked by
    /// the caller), made for this room and not seen yet; age is no reason to refuse it, but it
    /// counts against nobody's rate and binds no nick.
    public mutating func receiveHistorical(_ e: ChatEnvelope, verified: Bool) -> ChatOutcome {
        guard verified else { return .rejected("a relayed message's signature does not verify for \(e.sender)") }
        guard e.kind == .message else { return .rejected("history may hold room messages only") }
        guard e.room == name else { return .rejected("a relayed message made for \(e.room), offered on \(name)") }
        guard remember(e.id) else { return .duplicate }
        insert(e)
        return .show(e, warning: nicks[e.nick].map { $0 == e.sender ? nil : "nick '\(e.nick)' was first used by \(Self.short($0))" } ?? nil)
    }

    /// Records our own envelope (shown at once, never taken back from the network).
    public mutating func sent(_ e: ChatEnvelope) {
        _ = remember(e.id)
        if e.kind == .message { insert(e) }
        if nicks[e.nick] == nil { nicks[e.nick] = e.sender }
    }

    /// Members not heard from within ``presenceTTL``, removed.
    public mutating func expire(now: UInt64) -> [ChatMember] {
        var gone: [ChatMember] = []
        for (key, m) in members where m.lastSeen < now && now - m.lastSeen > Self.presenceTTL {
            gone.append(m)
            members[key] = nil
        }
        return gone
    }

    /// `did:key:z6MkhaXg…` → `z6Mk…last6` for messages to people.
    public static func short(_ did: String) -> String {
        let key = did.hasPrefix("did:key:") ? String(did.dropFirst(8)) : did
        guard key.utf8.count > 12 else { return key }
        return String(key.prefix(4)) + "…" + String(key.suffix(6))
    }

    private mutating func remember(_ id: [UInt8]) -> Bool {
        guard !seen.contains(id) else { return false }
        seen.insert(id)
        if seenOrder.count < Self.seenLimit {
            seenOrder.append(id)
        } else {
            seen.remove(seenOrder[seenHead])
            seenOrder[seenHead] = id
            seenHead = (seenHead + 1) % Self.seenLimit
        }
        return true
    }

    private mutating func admit(_ sender: String, now: UInt64) -> Bool {
        var b = buckets[sender] ?? (Self.burst, now)
        b.tokens = min(Self.burst, b.tokens + Double(now >= b.at ? now - b.at : 0) / 1000 * Self.perSecond)
        b.at = now
        guard b.tokens >= 1 else { buckets[sender] = b; return false }
        b.tokens -= 1
        buckets[sender] = b
        if buckets.count > 4096 { buckets = [sender: b] }  // bounded: forget idle senders
        return true
    }

    /// Keeps history ordered by timestamp, ties broken by id, so every client shows one order.
    private mutating func insert(_ e: ChatEnvelope) {
        var i = history.count
        while i > 0 && Self.before(e, history[i - 1]) { i -= 1 }
        history.insert(e, at: i)
        if history.count > Self.historyLimit { history.removeFirst(history.count - Self.historyLimit) }
    }

    public static func before(_ a: ChatEnvelope, _ b: ChatEnvelope) -> Bool {
        if a.timestamp != b.timestamp { return a.timestamp < b.timestamp }
        return a.id.lexicographicallyPrecedes(b.id)
    }
}
