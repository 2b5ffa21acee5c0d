/// What was decided, for the audit log.
public enum AuditDecision: String, Sendable, Codable, CaseIterable {
    case allow, deny, info
}

/// One thing worth recording. The log adds the sequence number, time and chain hash when it
/// appends (docs/AUDIT.md).
public struct AuditEvent: Sendable, Equatable {
    /// Dotted event name: `capability.allowed`, `capability.denied.expiry`, `token.issued`, …
    public var event: String
    /// Who acted: the caller/holder, or `operator` for CLI actions.
    public var subject: String
    public var resource: String
    public var action: String
    public var decision: AuditDecision
    public var reason: String
    /// The token id concerned, if any.
    public var token: String?

    public init(event: String, subject: String, resource: String = "", action: String = "",
                decision: AuditDecision, reason: String = "", token: String? = nil) {
        self.event = event; self.subject = subject; self.resource = resource; self.action = action
        self.decision = decision; self.reason = reason; self.token = token
    }
}

/// Where decisions are recorded. Implementations must not block for long: the enforcement path
/// calls this on every invocation.
public protocol AuditSink: Sendable {
    func record(_ event: AuditEvent)
}

/// Discards events: only for benchmarks that measure the checks alone.
public struct DiscardingAuditSink: AuditSink {
    public init() {}
    public func record(_ event: AuditEvent) {}
}
