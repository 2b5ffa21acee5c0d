import ElastosCore
public import ElastosCapsule
public import ElastosNode
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

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
}

/// Asks a person. Nil: nobody answered (no terminal, end of input) — a denial.
public protocol PermissionPrompter: Sendable {
    func ask(_ prompt: PermissionPrompt) -> PromptAnswer?
}

/// The shell's decisions (docs/POLICY.md): the policy file's rules first (deny, then allow,
/// then prompt), then the secure defaults — a capsule may use its own storage namespace;
/// anything else is a prompt when a person is at the terminal and a denial when not. Agents and
/// providers never prompt: they get what the rules say, nothing more, the same rules a person
/// gets. An untrusted capsule gets no defaults, and only rules that name its publisher or CID
/// can allow it anything.
///
/// The policy file is read at every decision, so `elastos policy allow|deny|remove` takes effect
/// on the next request without a restart.
public final class ShellPolicy: CapabilityPolicy {
    public let policyPath: String
    public let role: String
    public let allowDeclared: Bool
    public let prompter: (any PermissionPrompter)?
    private let audit: AuditLog
    private let clock: @Sendable () -> UInt64

    /// Tokens from "allow once" are good for one use within this many seconds.
    public static let onceLifetime: UInt64 = 300
    /// Tokens from "allow for this session": the session's tokens die with it in practice (they
    /// name its principal); this caps how long a forgotten session keeps them.
    public static let sessionLifetime: UInt64 = 12 * 3600
    /// Roles that never have a person to ask.
    public static let nonInteractiveRoles: Set<String> = ["agent", "provider"]

    public init(policyPath: String, role: String, allowDeclared: Bool, prompter: (any PermissionPrompter)?,
                audit: AuditLog, clock: @escaping @Sendable () -> UInt64 = Node.systemClock) {
        self.policyPath = policyPath; self.role = role; self.allowDeclared = allowDeclared
        self.prompter = Self.nonInteractiveRoles.contains(role) ? nil : prompter
        self.audit = audit; self.clock = clock
    }

    /// The policy for one launch: the node's policy file, and prompts on the terminal the
    /// capsule was started from if it is one (nil descriptors: no terminal).
    public static func forLaunch(of capsule: LaunchableCapsule, node: Node, allowDeclared: Bool,
                                 terminalInput: Int32, terminalOutput: Int32) -> ShellPolicy {
        ShellPolicy(policyPath: PolicyFile.path(in: node.home), role: capsule.role, allowDeclared: allowDeclared,
                    prompter: TerminalPrompter.ifInteractive(input: terminalInput, output: terminalOutput), audit: node.audit)
    }

    public func decide(_ ask: CapabilityAsk) -> PolicyDecision {
        let decision = evaluate(ask)
        audit.record(AuditEvent(event: "policy.decision", subject: ask.session.principal, resource: ask.resource.text,
                                action: ask.actions.description, decision: decision.grants ? .allow : .deny, reason: decision.basis))
        return decision.result
    }

    private struct Outcome {
        let result: PolicyDecision
        let basis: String
        var grants: Bool { if case .grant = result { true } else { false } }
        static func deny(_ why: String) -> Outcome { Outcome(result: .deny(reason: why), basis: why) }
    }

    private func evaluate(_ ask: CapabilityAsk) -> Outcome {
        let now = clock()
        let file: PolicyFile
        do { file = try PolicyFile.load(policyPath) } catch {
            return .deny("the policy file cannot be read, so nothing is granted: \(error)")
        }
        let session = ask.session
        let untrusted = session.trust == .untrusted
        let matching = file.rules.filter { $0.selects(session, now: now) && $0.matches(ask.resource, ask.actions) }
        if let rule = matching.first(where: { $0.verdict == .deny }) {
            return .deny("policy rule \(rule.id) denies \(rule.actions) on \(rule.resource)")
        }
        if let rule = matching.first(where: { $0.verdict == .allow && (!untrusted || $0.namesPublisherOrCID) }) {
            return Outcome(result: .grant(expiresIn: rule.tokenLifetime, maxUses: rule.maxUses),
                           basis: "policy rule \(rule.id) allows" + (rule.maxUses.map { ", \($0) use(s)" } ?? "") + ", token for \(rule.tokenLifetime) s")
        }
        let promptRule = matching.first { $0.verdict == .prompt }
        if promptRule == nil, !untrusted {
            if let own = try? ResourcePattern("localhost://storage/apps/\(session.capsule)/*"), ask.resource.isSubset(of: own) {
                return Outcome(result: .grant(expiresIn: PolicyRule.defaultTokenLifetime, maxUses: nil),
                               basis: "default: a capsule may use its own storage namespace")
            }
            if allowDeclared, declaration(for: ask) != nil {
                return Outcome(result: .grant(expiresIn: PolicyRule.defaultTokenLifetime, maxUses: nil),
                               basis: "declared in the manifest, and the operator ran it with --allow-declared")
            }
        }
        guard let prompter else {
            let who = Self.nonInteractiveRoles.contains(role) ? "\(session.capsule) is \(role == "agent" ? "an agent" : "a provider"), so only policy rules decide"
                                                              : "no person at a terminal to ask"
            return .deny("no policy rule allows \(ask.actions) on \(ask.resource), and \(who)")
        }
        let prompt = PermissionPrompt(capsule: session.capsule, version: session.version, cid: session.cid,
                                      publisher: session.publisher, trust: session.trust, resource: ask.resource.text,
                                      actions: ask.actions.description, declaredReason: declaration(for: ask)?.reason,
                                      askedReason: ask.reason)
        switch prompter.ask(prompt) {
        case .once?:
            return Outcome(result: .grant(expiresIn: Self.onceLifetime, maxUses: 1), basis: "allowed once at the prompt")
        case .session?:
            return Outcome(result: .grant(expiresIn: Self.sessionLifetime, maxUses: nil), basis: "allowed for this session at the prompt")
        case .always?:
            // The rule names the publisher too, so another capsule that takes this name gets nothing.
            let rule = PolicyRule(verdict: .allow, resource: ask.resource, actions: ask.actions,
                                  capsule: session.capsule, publisher: session.publisher)
            do {
                try PolicyFile.update(policyPath) { $0.rules.append(rule) }
            } catch {
                return Outcome(result: .grant(expiresIn: PolicyRule.defaultTokenLifetime, maxUses: nil),
                               basis: "allowed at the prompt; the rule could not be saved: \(error)")
            }
            return Outcome(result: .grant(expiresIn: PolicyRule.defaultTokenLifetime, maxUses: nil),
                           basis: "always allowed at the prompt (rule \(rule.id) written)")
        case .deny?:
            return .deny("denied at the prompt")
        case nil:
            return .deny("nobody answered the prompt")
        }
    }

    private func declaration(for ask: CapabilityAsk) -> DeclaredCapability? {
        ask.declared.first { ask.resource.isSubset(of: $0.resource) && ask.actions.isSubset(of: $0.actions) }
    }
}

/// Asks on a terminal: the capsule's own terminal (the `elastos run` that launched it), given
/// as a pair of descriptors the caller keeps open. One prompt at a time across the process.
public struct TerminalPrompter: PermissionPrompter {
    public let input: Int32
    public let output: Int32
    private static let oneAtATime = Mutex(())

    public init(input: Int32, output: Int32) { self.input = input; self.output = output }

    /// A prompter on `input`/`output` if `input` is a terminal; nil otherwise (pipes, files, no
    /// person: requests the rules do not decide are denied).
    public static func ifInteractive(input: Int32, output: Int32) -> TerminalPrompter? {
        isatty(input) == 1 ? TerminalPrompter(input: input, output: output) : nil
    }

    public func ask(_ p: PermissionPrompt) -> PromptAnswer? {
        Self.oneAtATime.withLock { _ in
            write(Self.render(p))
            for _ in 0..<3 {
                write("allow [o]nce, for this [s]ession, [a]lways, or [d]eny? ")
                guard let line = readLine() else { write("\n"); return nil }
                if let answer = Self.parse(line) { return answer }
                write("please answer o, s, a or d\n")
            }
            return .deny
        }
    }

    static func parse(_ line: String) -> PromptAnswer? {
        switch line.trimmingCharacters(in: .whitespaces).lowercased() {
        case "o", "once": .once
        case "s", "session": .session
        case "a", "always": .always
        case "d", "deny", "n", "no": .deny
        default: nil
        }
    }

    static func render(_ p: PermissionPrompt) -> String {
        var lines = ["", "── permission request ──",
                     "  capsule:   \(shown(p.capsule)) \(shown(p.version))  (\(p.cid))",
                     "  publisher: \(p.publisher)  (\(p.trust == .untrusted ? "UNTRUSTED" : p.trust.rawValue))",
                     "  wants:     \(p.actions) on \(shown(p.resource))"]
        if let r = p.declaredReason { lines.append("  reason:    \(shown(r))  (from its manifest)") } else {
            lines.append("  reason:    \(shown(p.askedReason))  (its own words; the manifest does not declare this)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Capsule-supplied text with control characters made visible, so it cannot move the
    /// cursor, clear the screen or fake the prompt's own lines.
    static func shown(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars.prefix(300) {
            if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.properties.generalCategory == .format {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    private func write(_ s: String) {
        var bytes = Array(s.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(output, $0.baseAddress! + off, $0.count - off) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            off += n
        }
    }

    /// One line from the terminal, byte by byte (so nothing after the newline is taken from
    /// the capsule's input).
    private func readLine() -> String? {
        var bytes: [UInt8] = []
        var b: UInt8 = 0
        while bytes.count < 256 {
            let n = Glibc.read(input, &b, 1)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
            if b == 0x0A { return String(decoding: bytes, as: UTF8.self) }
            if b != 0x0D { bytes.append(b) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
