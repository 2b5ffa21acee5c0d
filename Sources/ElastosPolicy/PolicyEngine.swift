// The shell's decisions as a pure engine over the policy file (docs/POLICY.md), shared by the
// shell capsule (capsules/native/shell, which holds the orchestrator role) and the runtime's
// in-process fallback, so both decide byte for byte alike. The engine never talks to a person:
// when a prompt is due it says so, the runtime asks on the capsule's terminal, and the engine
// settles the answer (writing a rule for "always").
public import ElastosCapsule
public import ElastosCore
public import ElastosNode
import Foundation

/// A capability a capsule's manifest declares it may ask for.
public struct DeclaredCapability: Sendable, Equatable {
    public let resource: ResourcePattern
    public let actions: ActionSet
    public let reason: String
    public init(resource: ResourcePattern, actions: ActionSet, reason: String) {
        self.resource = resource; self.actions = actions; self.reason = reason
    }
}

/// Who is asking: what rules select on, and what a prompt shows.
public struct PolicySubject: Sendable, Equatable {
    public let capsule: String
    public let version: String
    public let cid: String
    public let publisher: String
    public let trust: TrustLevel
    public init(capsule: String, version: String, cid: String, publisher: String, trust: TrustLevel) {
        self.capsule = capsule; self.version = version; self.cid = cid; self.publisher = publisher; self.trust = trust
    }
}

/// One `request_capability`, with what the runtime knows about the asker.
public struct PolicyRequest: Sendable, Equatable {
    public let subject: PolicySubject
    /// The capsule's manifest role; agents and providers never prompt.
    public let role: String
    public let resource: ResourcePattern
    public let actions: ActionSet
    /// What the capsule said when it asked.
    public let reason: String
    public let declared: [DeclaredCapability]
    /// The operator ran it with --allow-declared.
    public let allowDeclared: Bool
    /// A person is at the capsule's terminal.
    public let interactive: Bool

    public init(subject: PolicySubject, role: String, resource: ResourcePattern, actions: ActionSet, reason: String,
                declared: [DeclaredCapability], allowDeclared: Bool, interactive: Bool) {
        self.subject = subject; self.role = role; self.resource = resource; self.actions = actions; self.reason = reason
        self.declared = declared; self.allowDeclared = allowDeclared; self.interactive = interactive
    }

    /// The manifest's declaration that covers this request, if any.
    public var declaration: DeclaredCapability? {
        declared.first { resource.isSubset(of: $0.resource) && actions.isSubset(of: $0.actions) }
    }
}

/// What a person answered to a permission prompt.
public enum PromptAnswer: String, Sendable, Equatable {
    /// One use of a short-lived token.
    case once
    /// A token for as long as this session runs (bound to the session, like every token).
    case session
    /// A token now, and a rule in the policy file so the question is not asked again.
    case always
    case deny
}

/// Everything a person needs to decide a request, as the prompt shows it.
public struct PermissionPrompt: Sendable, Equatable {
    public let capsule: String
    public let version: String
    public let cid: String
    public let publisher: String
    public let trust: TrustLevel
    public let resource: String
    public let actions: String
    /// The manifest's reason for a declared capability, if one covers the request.
    public let declaredReason: String?
    /// What the capsule said when it asked.
    public let askedReason: String

    public init(capsule: String, version: String, cid: String, publisher: String, trust: TrustLevel, resource: String,
                actions: String, declaredReason: String?, askedReason: String) {
        self.capsule = capsule; self.version = version; self.cid = cid; self.publisher = publisher; self.trust = trust
        self.resource = resource; self.actions = actions; self.declaredReason = declaredReason; self.askedReason = askedReason
    }

    public init(_ request: PolicyRequest) {
        let s = request.subject
        self.init(capsule: s.capsule, version: s.version, cid: s.cid, publisher: s.publisher, trust: s.trust,
                  resource: request.resource.text, actions: request.actions.description,
                  declaredReason: request.declaration?.reason, askedReason: request.reason)
    }
}

/// The engine's answer. `basis` says why, for the audit log.
public enum PolicyOutcome: Sendable, Equatable {
    case grant(expiresIn: UInt64, maxUses: UInt32?, basis: String)
    case deny(basis: String)
    /// Ask the person at the capsule's terminal, then ``PolicyEngine/settle(_:answer:)``.
    case prompt
}

public struct PolicyEngine: Sendable {
    public let policyPath: String
    private let clock: @Sendable () -> UInt64

    /// Tokens from "allow once" are good for one use within this many seconds.
    public static let onceLifetime: UInt64 = 300
    /// Tokens from "allow for this session": the session's tokens die with it in practice (they
    /// name its principal); this caps how long a forgotten session keeps them.
    public static let sessionLifetime: UInt64 = 12 * 3600
    /// Roles that never have a person to ask.
    public static let nonInteractiveRoles: Set<String> = ["agent", "provider"]

    public init(policyPath: String, clock: @escaping @Sendable () -> UInt64 = Node.systemClock) {
        self.policyPath = policyPath
        self.clock = clock
    }

    /// The rules first (deny, then allow, then prompt), then the secure defaults: a capsule may
    /// use its own storage namespace; anything else is a prompt when a person is at the
    /// terminal and a denial when not. An untrusted capsule gets no defaults, and only rules
    /// that name its publisher or CID can allow it anything. The file is read every time, so
    /// `elastos policy allow|deny|remove` takes effect on the next request.
    public func evaluate(_ request: PolicyRequest) -> PolicyOutcome {
        let now = clock()
        let file: PolicyFile
        do { file = try PolicyFile.load(policyPath) } catch {
            return .deny(basis: "the policy file cannot be read, so nothing is granted: \(error)")
        }
        let subject = request.subject
        let untrusted = subject.trust == .untrusted
        let matching = file.rules.filter { $0.selects(subject, now: now) && $0.matches(request.resource, request.actions) }
        if let rule = matching.first(where: { $0.verdict == .deny }) {
            return .deny(basis: "policy rule \(rule.id) denies \(rule.actions) on \(rule.resource)")
        }
        if let rule = matching.first(where: { $0.verdict == .allow && (!untrusted || $0.namesPublisherOrCID) }) {
            return .grant(expiresIn: rule.tokenLifetime, maxUses: rule.maxUses,
                          basis: "policy rule \(rule.id) allows" + (rule.maxUses.map { ", \($0) use(s)" } ?? "") + ", token for \(rule.tokenLifetime) s")
        }
        let promptRule = matching.first { $0.verdict == .prompt }
        if promptRule == nil, !untrusted {
            if let own = try? ResourcePattern("localhost://storage/apps/\(subject.capsule)/*"), request.resource.isSubset(of: own) {
                return .grant(expiresIn: PolicyRule.defaultTokenLifetime, maxUses: nil, basis: "default: a capsule may use its own storage namespace")
            }
            if request.allowDeclared, request.declaration != nil {
                return .grant(expiresIn: PolicyRule.defaultTokenLifetime, maxUses: nil,
                              basis: "declared in the manifest, and the operator ran it with --allow-declared")
            }
        }
        let nonInteractive = Self.nonInteractiveRoles.contains(request.role)
        guard request.interactive, !nonInteractive else {
            let who = nonInteractive ? "\(subject.capsule) is \(request.role == "agent" ? "an agent" : "a provider"), so only policy rules decide"
                                     : "no person at a terminal to ask"
            return .deny(basis: "no policy rule allows \(request.actions) on \(request.resource), and \(who)")
        }
        return .prompt
    }

    /// Turns a person's answer (nil: nobody answered) into the outcome; "always" writes a rule
    /// that names the capsule and its publisher, so another capsule taking this name gets nothing.
    public func settle(_ request: PolicyRequest, answer: PromptAnswer?) -> PolicyOutcome {
        switch answer {
        case .once?:
            return .grant(expiresIn: Self.onceLifetime, maxUses: 1, basis: "allowed once at the prompt")
        case .session?:
            return .grant(expiresIn: Self.sessionLifetime, maxUses: nil, basis: "allowed for this session at the prompt")
        case .always?:
            let rule = PolicyRule(verdict: .allow, resource: request.resource, actions: request.actions,
                                  capsule: request.subject.capsule, publisher: request.subject.publisher)
            do {
                try PolicyFile.update(policyPath) { $0.rules.append(rule) }
            } catch {
                return .grant(expiresIn: PolicyRule.defaultTokenLifetime, maxUses: nil,
                              basis: "allowed at the prompt; the rule could not be saved: \(error)")
            }
            return .grant(expiresIn: PolicyRule.defaultTokenLifetime, maxUses: nil, basis: "always allowed at the prompt (rule \(rule.id) written)")
        case .deny?:
            return .deny(basis: "denied at the prompt")
        case nil:
            return .deny(basis: "nobody answered the prompt")
        }
    }
}
