import ElastosCapsule
import ElastosCore
import ElastosNode
@testable import ElastosRuntime
import Foundation
import Synchronization
import Testing

/// A prompter that gives fixed answers and remembers what it was shown.
final class ScriptedPrompter: PermissionPrompter {
    private let state: Mutex<(answers: [PromptAnswer?], shown: [PermissionPrompt])>
    init(_ answers: [PromptAnswer?]) { state = Mutex((answers, [])) }
    var shown: [PermissionPrompt] { state.withLock { $0.shown } }
    func ask(_ prompt: PermissionPrompt) -> PromptAnswer? {
        state.withLock { s in
            s.shown.append(prompt)
            return s.answers.isEmpty ? nil : s.answers.removeFirst()
        }
    }
}

@Suite struct ShellPolicyTests {
    let t: TempNode
    var policyPath: String { PolicyFile.path(in: t.node.home) }
    let echo = try! ResourcePattern("elastos://runtime/echo")

    init() throws { t = try TempNode() }

    func session(_ name: String = "notes", trust: TrustLevel = .trusted, publisher: String? = nil, cid: String = "bafy-notes") -> Session {
        Session(capsule: name, version: "1.0.0", cid: cid, publisher: publisher ?? t.node.did.description, trust: trust,
                substrate: "wasm", startedAt: Node.systemClock())
    }

    func ask(_ s: Session, _ resource: String, _ actions: [Action], declared: [DeclaredCapability] = []) throws -> CapabilityAsk {
        CapabilityAsk(session: s, resource: try ResourcePattern(resource), actions: ActionSet(actions), reason: "because",
                      declared: declared)
    }

    func policy(role: String = "app", prompter: (any PermissionPrompter)? = nil, allowDeclared: Bool = false,
                now: UInt64 = Node.systemClock()) -> ShellPolicy {
        ShellPolicy(policyPath: policyPath, role: role, allowDeclared: allowDeclared, prompter: prompter, audit: t.node.audit, clock: { now })
    }

    func write(_ rules: [PolicyRule]) throws { try PolicyFile(rules: rules).save(policyPath) }

    @Test func withNoRulesOnlyTheOwnStorageNamespaceIsGranted() throws {
        let p = policy()
        #expect(p.decide(try ask(session(), "localhost://storage/apps/notes/today.txt", [.read, .write])) == .grant(expiresIn: 3600, maxUses: nil))
        #expect(p.decide(try ask(session(), "localhost://storage/apps/notes/*", [.delete])) == .grant(expiresIn: 3600, maxUses: nil))
        guard case .deny(let why) = p.decide(try ask(session(), "localhost://storage/apps/other/x", [.read])) else { Issue.record("granted"); return }
        #expect(why.contains("no person at a terminal"))
        guard case .deny = p.decide(try ask(session(), "localhost://storage/*", [.read])) else { Issue.record("granted the whole store"); return }
        guard case .deny = p.decide(try ask(session(), "elastos://runtime/echo", [.read])) else { Issue.record("granted"); return }
    }

    @Test func anUntrustedCapsuleGetsNoDefaultsAndOnlyRulesNamingItsPublisherOrCID() throws {
        let stranger = SigningKey().publicKey.did.description
        let s = session(trust: .untrusted, publisher: stranger)
        guard case .deny = policy().decide(try ask(s, "localhost://storage/apps/notes/a", [.read])) else { Issue.record("default applied"); return }
        try write([PolicyRule(verdict: .allow, resource: echo, actions: ActionSet([.read]), capsule: "notes")])
        guard case .deny = policy().decide(try ask(s, "elastos://runtime/echo", [.read])) else { Issue.record("a name alone allowed an untrusted capsule"); return }
        try write([PolicyRule(verdict: .allow, resource: echo, actions: ActionSet([.read]), publisher: stranger)])
        #expect(policy().decide(try ask(s, "elastos://runtime/echo", [.read])) == .grant(expiresIn: 3600, maxUses: nil))
    }

    @Test func rulesSelectByNamePublisherAndCIDAndCarryTheirLimits() throws {
        try write([
            PolicyRule(id: "by-name", verdict: .allow, resource: echo, actions: ActionSet([.read]), capsule: "notes", tokenLifetime: 60, maxUses: 3),
            PolicyRule(id: "by-cid", verdict: .allow, resource: try ResourcePattern("elastos://peer/*"), actions: ActionSet([.message]), cid: "bafy-other"),
        ])
        let p = policy()
        #expect(p.decide(try ask(session(), "elastos://runtime/echo", [.read])) == .grant(expiresIn: 60, maxUses: 3))
        guard case .deny = p.decide(try ask(session(), "elastos://runtime/echo", [.read, .write])) else { Issue.record("widened"); return }
        guard case .deny = p.decide(try ask(session("other"), "elastos://runtime/echo", [.read])) else { Issue.record("wrong capsule"); return }
        guard case .deny = p.decide(try ask(session(), "elastos://peer/chat", [.message])) else { Issue.record("wrong cid"); return }
        #expect(p.decide(try ask(session(cid: "bafy-other"), "elastos://peer/chat", [.message])) == .grant(expiresIn: 3600, maxUses: nil))
    }

    @Test func denyRulesWinAndExpiredRulesDoNotApply() throws {
        let now = Node.systemClock()
        try write([
            PolicyRule(id: "allow-all", verdict: .allow, resource: try ResourcePattern("localhost://storage/*"), actions: ActionSet([.read, .write])),
            PolicyRule(id: "no-writes", verdict: .deny, resource: try ResourcePattern("localhost://storage/apps/notes/*"), actions: ActionSet([.write])),
            PolicyRule(id: "old", verdict: .allow, resource: echo, actions: ActionSet([.read]), expiresAt: now - 1),
        ])
        let p = policy(now: now)
        guard case .deny(let why) = p.decide(try ask(session(), "localhost://storage/apps/notes/a", [.read, .write])) else { Issue.record("deny lost"); return }
        #expect(why.contains("no-writes"))
        #expect(p.decide(try ask(session(), "localhost://storage/apps/notes/a", [.read])) == .grant(expiresIn: 3600, maxUses: nil))
        guard case .deny = p.decide(try ask(session(), "elastos://runtime/echo", [.read])) else { Issue.record("expired rule applied"); return }
    }

    @Test func promptAnswersBecomeGrantsAndAlwaysWritesARule() throws {
        let declared = [DeclaredCapability(resource: echo, actions: ActionSet([.read]), reason: "to echo things")]
        let prompter = ScriptedPrompter([.once, .session, .deny, .always, nil])
        let p = policy(prompter: prompter)
        let a = try ask(session(), "elastos://runtime/echo", [.read], declared: declared)
        #expect(p.decide(a) == .grant(expiresIn: ShellPolicy.onceLifetime, maxUses: 1))
        #expect(p.decide(a) == .grant(expiresIn: ShellPolicy.sessionLifetime, maxUses: nil))
        guard case .deny(let why) = p.decide(a) else { Issue.record("deny answer granted"); return }
        #expect(why == "denied at the prompt")
        #expect(p.decide(a) == .grant(expiresIn: 3600, maxUses: nil))
        // "always" wrote a rule: the next request is decided without asking.
        let rules = try PolicyFile.load(policyPath).rules
        #expect(rules.count == 1 && rules[0].capsule == "notes" && rules[0].publisher == t.node.did.description && rules[0].verdict == .allow)
        #expect(p.decide(a) == .grant(expiresIn: 3600, maxUses: nil))
        #expect(prompter.shown.count == 4)
        #expect(prompter.shown[0].declaredReason == "to echo things" && prompter.shown[0].trust == .trusted)
        // Nobody answers: denied.
        guard case .deny = p.decide(try ask(session(), "elastos://peer/x", [.read])) else { Issue.record("no answer granted"); return }
    }

    @Test func agentsAreNeverPromptedAndGetWhatTheRulesSay() throws {
        let prompter = ScriptedPrompter([.always])
        let agent = policy(role: "agent", prompter: prompter)
        guard case .deny(let why) = agent.decide(try ask(session("helper"), "elastos://runtime/echo", [.read])) else { Issue.record("granted"); return }
        #expect(why.contains("an agent"))
        #expect(prompter.shown.isEmpty)
        try write([PolicyRule(verdict: .allow, resource: echo, actions: ActionSet([.read]), capsule: "helper", maxUses: 5)])
        #expect(agent.decide(try ask(session("helper"), "elastos://runtime/echo", [.read])) == .grant(expiresIn: 3600, maxUses: 5))
        // The same rule, the same answer, for a person's app.
        #expect(policy(prompter: prompter).decide(try ask(session("helper"), "elastos://runtime/echo", [.read])) == .grant(expiresIn: 3600, maxUses: 5))
    }

    @Test func everyDecisionIsAudited() throws {
        let p = policy()
        _ = p.decide(try ask(session(), "localhost://storage/apps/notes/a", [.read]))
        _ = p.decide(try ask(session(), "elastos://runtime/echo", [.read]))
        try t.node.audit.flush()
        let records = try AuditLog.tail(directory: t.node.home.auditDirectory, count: 100).filter { $0.event == "policy.decision" }
        #expect(records.map(\.decision) == [.allow, .deny])
        #expect(records.first?.reason.contains("own storage namespace") == true)
    }

    @Test func malformedPolicyFilesAreRefusedNamingTheField() throws {
        func error(_ text: String) -> String? {
            do { _ = try PolicyFile(json: Array(text.utf8)); return nil } catch { return error.description }
        }
        let ok = #"{"schema":"elastos.policy/v1","rules":[{"id":"a","verdict":"allow","resource":"elastos://runtime/echo","actions":["read"]}]}"#
        #expect(error(ok) == nil)
        #expect(error(ok.replacingOccurrences(of: "\"actions\"", with: "\"acts\""))?.contains("unknown field acts") == true)
        #expect(error(ok.replacingOccurrences(of: "\"allow\"", with: "\"maybe\""))?.contains("verdict") == true)
        #expect(error(ok.replacingOccurrences(of: "[\"read\"]", with: "[\"fly\"]"))?.contains("unknown action") == true)
        #expect(error(ok.replacingOccurrences(of: "v1", with: "v9"))?.contains("schema") == true)
        #expect(error(ok.replacingOccurrences(of: "}]}", with: ",\"max_uses\":0}]}"))?.contains("max_uses") == true)
        #expect(error(ok.replacingOccurrences(of: "}]}", with: ",\"max_uses\":true}]}"))?.contains("max_uses") == true)
        #expect(error(String(ok.dropLast())) != nil)
        // A policy file that cannot be read grants nothing, not even the defaults.
        try PolicyFile.prepareDirectory(in: t.node.home)
        try "{not json".write(toFile: policyPath, atomically: true, encoding: .utf8)
        guard case .deny(let why) = policy().decide(try ask(session(), "localhost://storage/apps/notes/a", [.read])) else { Issue.record("granted"); return }
        #expect(why.contains("policy file cannot be read"))
    }

    @Test func theCanonicalTextReadsBackToTheSameRules() throws {
        let rules = [PolicyRule(verdict: .allow, resource: echo, actions: ActionSet([.read, .write]), capsule: "a\"b", publisher: t.node.did.description,
                                cid: "bafy", tokenLifetime: 10, maxUses: 2, expiresAt: 99),
                     PolicyRule(verdict: .deny, resource: try ResourcePattern("elastos://peer/*"), actions: ActionSet([.admin]))]
        let text = PolicyFile(rules: rules).json
        #expect(try PolicyFile(json: Array(text.utf8)).rules == rules)
    }

    @Test func promptTextNeutralisesControlCharacters() {
        let shown = TerminalPrompter.shown("ok\u{1B}[2J\rallow [o]nce\u{202E}")
        #expect(!shown.contains("\u{1B}") && !shown.contains("\r") && !shown.contains("\u{202E}"))
        #expect(shown.hasPrefix("ok\\u{1b}[2J\\u{d}"))
        #expect(TerminalPrompter.parse(" O ") == .once && TerminalPrompter.parse("always") == .always && TerminalPrompter.parse("x") == nil)
    }
}
