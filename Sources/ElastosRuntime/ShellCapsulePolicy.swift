import ElastosCore
public import ElastosNode
import Foundation

/// The shell's decisions made by the shell capsule (role `shell`, the orchestrator): each
/// `request_capability` goes to it as a `serve` call on `elastos://shell/decide`; when it answers
/// "prompt", the runtime asks the person at the capsule's terminal (only the runtime holds that
/// terminal) and hands the answer back on `elastos://shell/settle`, and the shell capsule settles
/// it (writing the rule for "always" in its own directory). The runtime only carries out what
/// the shell decided, and audits it (`policy.decision`). A shell capsule that is gone, slow or
/// answers nonsense decides nothing: the request is denied.
public final class ShellCapsulePolicy: CapabilityPolicy {
    public let shell: CapsuleProvider
    public let role: String
    public let allowDeclared: Bool
    public let prompter: (any PermissionPrompter)?
    private let audit: AuditLog

    public init(shell: CapsuleProvider, role: String, allowDeclared: Bool, prompter: (any PermissionPrompter)?, audit: AuditLog) {
        self.shell = shell; self.role = role; self.allowDeclared = allowDeclared
        self.prompter = PolicyEngine.nonInteractiveRoles.contains(role) ? nil : prompter
        self.audit = audit
    }

    public func decide(_ ask: CapabilityAsk) -> PolicyDecision {
        let request = ask.policyRequest(role: role, allowDeclared: allowDeclared, interactive: prompter != nil)
        var outcome = call(ShellWire.decideURI, ShellWire.encode(request), for: ask)
        if outcome == .prompt {
            let answer = prompter?.ask(PermissionPrompt(request))
            outcome = call(ShellWire.settleURI, ShellWire.encodeSettle(request, answer: answer), for: ask)
            if outcome == .prompt { outcome = .deny(basis: "the shell capsule asked for a prompt again instead of settling the answer") }
        }
        return ShellPolicy.record(outcome, for: ask, in: audit, decidedBy: "the shell capsule")
    }

    private func call(_ uri: String, _ body: [UInt8], for ask: CapabilityAsk) -> PolicyOutcome {
        switch shell.serve(caller: ask.session.principal, uri: uri, action: .execute, body: body) {
        case .ok(let reply):
            do { return try ShellWire.decodeOutcome(reply) } catch {
                return .deny(basis: "the shell capsule's answer is malformed, so nothing is granted: \(error)")
            }
        case .failed(let code, let message):
            return .deny(basis: "the shell capsule did not decide (\(code): \(message)), so nothing is granted")
        }
    }
}
