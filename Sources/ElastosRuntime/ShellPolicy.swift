import ElastosCore
public import ElastosCapsule
public import ElastosNode
@_exported public import ElastosPolicy
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Asks a person. Nil: nobody answered (no terminal, end of input) — a denial.
public protocol PermissionPrompter: Sendable {
    func ask(_ prompt: PermissionPrompt) -> PromptAnswer?
}

/// The shell's decisions (docs/POLICY.md) made in the runtime's own process, by the same
/// ``PolicyEngine`` the shell capsule runs: what `elastos run` without a node and a node with
/// no shell capsule use. Prompts go to the terminal the capsule was started from.
public final class ShellPolicy: CapabilityPolicy {
    public let policyPath: String
    public let role: String
    public let allowDeclared: Bool
    public let prompter: (any PermissionPrompter)?
    private let audit: AuditLog
    private let engine: PolicyEngine

    public static let onceLifetime = PolicyEngine.onceLifetime
    public static let sessionLifetime = PolicyEngine.sessionLifetime
    public static let nonInteractiveRoles = PolicyEngine.nonInteractiveRoles

    public init(policyPath: String, role: String, allowDeclared: Bool, prompter: (any PermissionPrompter)?,
                audit: AuditLog, clock: @escaping @Sendable () -> UInt64 = Node.systemClock) {
        self.policyPath = policyPath; self.role = role; self.allowDeclared = allowDeclared
        self.prompter = Self.nonInteractiveRoles.contains(role) ? nil : prompter
        self.audit = audit
        engine = PolicyEngine(policyPath: policyPath, clock: clock)
    }

    /// The policy for one launch: the node's policy file, and prompts on the terminal the
    /// capsule was started from if it is one (nil descriptors: no terminal).
    public static func forLaunch(of capsule: LaunchableCapsule, node: Node, allowDeclared: Bool,
                                 terminalInput: Int32, terminalOutput: Int32) -> ShellPolicy {
        try? PolicyFile.prepareDirectory(in: node.home)
        return ShellPolicy(policyPath: PolicyFile.path(in: node.home), role: capsule.role, allowDeclared: allowDeclared,
                           prompter: TerminalPrompter.ifInteractive(input: terminalInput, output: terminalOutput), audit: node.audit)
    }

    public func decide(_ ask: CapabilityAsk) -> PolicyDecision {
        let request = ask.policyRequest(role: role, allowDeclared: allowDeclared, interactive: prompter != nil)
        var outcome = engine.evaluate(request)
        if outcome == .prompt { outcome = engine.settle(request, answer: prompter?.ask(PermissionPrompt(request))) }
        return ShellPolicy.record(outcome, for: ask, in: audit)
    }

    /// Audits an outcome (`policy.decision`) and turns it into the runtime's decision.
    static func record(_ outcome: PolicyOutcome, for ask: CapabilityAsk, in audit: AuditLog, decidedBy: String? = nil) -> PolicyDecision {
        let (decision, basis): (PolicyDecision, String)
        switch outcome {
        case .grant(let expiresIn, let maxUses, let why): (decision, basis) = (.grant(expiresIn: expiresIn, maxUses: maxUses), why)
        case .deny(let why): (decision, basis) = (.deny(reason: why), why)
        case .prompt: (decision, basis) = (.deny(reason: "no answer to the prompt"), "internal: a prompt was not settled")
        }
        let grants = if case .grant = decision { true } else { false }
        audit.record(AuditEvent(event: "policy.decision", subject: ask.session.principal, resource: ask.resource.text,
                                action: ask.actions.description, decision: grants ? .allow : .deny,
                                reason: basis + (decidedBy.map { " (decided by \($0))" } ?? "")))
        return decision
    }
}

extension CapabilityAsk {
    func policyRequest(role: String, allowDeclared: Bool, interactive: Bool) -> PolicyRequest {
        PolicyRequest(subject: PolicySubject(capsule: session.capsule, version: session.version, cid: session.cid,
                                             publisher: session.publisher, trust: session.trust),
                      role: role, resource: resource, actions: actions, reason: reason, declared: declared,
                      allowDeclared: allowDeclared, interactive: interactive)
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
