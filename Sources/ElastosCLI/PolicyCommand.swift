import ArgumentParser
import ElastosCore
import ElastosNode
import ElastosRuntime
import Foundation

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "The shell's rules for capability requests (<home>/shell/policy.json).",
        discussion: """
            Rules match capsules by name, publisher DID or CID, and a URI pattern with actions; \
            the verdict is allow, prompt or deny. Deny rules win, then allow, then prompt. Where no \
            rule matches, a capsule may use its own storage namespace, and anything else is a \
            prompt when a person is at the terminal and a denial when not. Changes take effect on \
            the next request, also in a running node. See docs/POLICY.md.
            """,
        subcommands: [PolicyList.self, PolicyAllow.self, PolicyDeny.self, PolicyRemove.self]
    )
}

struct RuleSelection: ParsableArguments {
    @Argument(help: ArgumentHelp("The URI pattern, e.g. localhost://storage/apps/notes/* or elastos://peer/*.", valueName: "pattern"))
    var pattern: String
    @Option(help: ArgumentHelp("Comma-separated actions: read, write, execute, delete, message, admin.", valueName: "actions"))
    var actions: String
    @Option(help: "Only for capsules of this name.") var capsule: String?
    @Option(help: "Only for capsules signed by this publisher DID.") var publisher: String?
    @Option(help: "Only for the capsule with this CID.") var cid: String?
    @Option(help: ArgumentHelp("The rule stops applying after this long (90s, 10m, 1h, 2d).", valueName: "duration"))
    var expires: String?

    func rule(_ verdict: PolicyVerdict, lifetime: String?, uses: UInt32?) throws -> PolicyRule {
        let resource: ResourcePattern
        do { resource = try ResourcePattern(pattern) } catch { throw CLIError("\(pattern): \(error)") }
        let set: ActionSet
        switch ActionSet.parse(actions) {
        case .success(let s): set = s
        case .failure(let f): throw CLIError("--actions: \(f)")
        }
        if let publisher { _ = try Self.did(publisher) }
        let now = Node.systemClock()
        return PolicyRule(verdict: verdict, resource: resource, actions: set, capsule: capsule, publisher: publisher, cid: cid,
                          tokenLifetime: try lifetime.map { try Self.seconds($0, max: PolicyRule.maxTokenLifetime) } ?? PolicyRule.defaultTokenLifetime,
                          maxUses: uses, expiresAt: try expires.map { now + (try Self.seconds($0, max: 10 * 365 * 86400)) })
    }

    static func did(_ text: String) throws -> DIDKey {
        do { return try DIDKey(text) } catch { throw CLIError("--publisher: \(error)") }
    }

    /// `90`, `90s`, `10m`, `1h`, `2d` → seconds.
    static func seconds(_ text: String, max: UInt64) throws -> UInt64 {
        let units: [Character: UInt64] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var digits = Substring(text), unit: UInt64 = 1
        if let last = text.last, let u = units[last] { digits = text.dropLast(); unit = u }
        guard let n = UInt64(digits), n > 0, n <= max / unit else {
            throw CLIError("'\(text)' is not a duration between 1s and \(max / 86400)d (e.g. 90s, 10m, 1h, 2d)")
        }
        return n * unit
    }
}

struct PolicyList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the rules, in the order they are kept.")
    @Flag(help: "One JSON document (the policy file itself).") var json = false
    @OptionGroup var home: HomeOption

    func run() throws {
        let file = try load(home)
        if json { print(file.json, terminator: ""); return }
        guard !file.rules.isEmpty else { print("no rules: the defaults apply (own storage namespace allowed; everything else prompts at a terminal, denied otherwise)"); return }
        let now = Node.systemClock()
        for r in file.rules {
            var who: [String] = []
            if let c = r.capsule { who.append("capsule \(c)") }
            if let p = r.publisher { who.append("publisher \(p)") }
            if let c = r.cid { who.append("cid \(c)") }
            var limits: [String] = []
            if r.verdict == .allow {
                limits.append("tokens for \(r.tokenLifetime) s")
                if let u = r.maxUses { limits.append("\(u) use(s) each") }
            }
            if let e = r.expiresAt { limits.append(e > now ? "rule expires in \(e - now) s" : "rule EXPIRED") }
            print("\(r.id)  \(r.verdict.rawValue.uppercased())  \(r.actions) on \(r.resource)  for \(who.isEmpty ? "any capsule" : who.joined(separator: ", "))"
                  + (limits.isEmpty ? "" : "  (" + limits.joined(separator: "; ") + ")"))
        }
    }
}

struct PolicyAllow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "allow", abstract: "Add a rule that grants, with limits on what it grants.")
    @OptionGroup var selection: RuleSelection
    @Option(name: .customLong("token-lifetime"), help: ArgumentHelp("How long each granted token lasts (default 1h).", valueName: "duration"))
    var tokenLifetime: String?
    @Option(help: "Uses of each granted token (default unlimited).") var uses: UInt32?
    @OptionGroup var home: HomeOption

    func run() throws {
        let rule = try selection.rule(.allow, lifetime: tokenLifetime, uses: uses)
        try save(home) { $0.rules.append(rule) }
        print("added \(rule.id): allow \(rule.actions) on \(rule.resource)")
    }
}

struct PolicyDeny: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "deny", abstract: "Add a rule that refuses (deny rules win over allow rules).")
    @OptionGroup var selection: RuleSelection
    @OptionGroup var home: HomeOption

    func run() throws {
        let rule = try selection.rule(.deny, lifetime: nil, uses: nil)
        try save(home) { $0.rules.append(rule) }
        print("added \(rule.id): deny \(rule.actions) on \(rule.resource)")
    }
}

struct PolicyRemove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove a rule by id. Tokens it already granted stay valid until they expire; revoke them with 'elastos grants --revoke'.")
    @Argument(help: "The rule id, as 'policy list' shows it.") var id: String
    @OptionGroup var home: HomeOption

    func run() throws {
        var found = false
        try save(home) { file in
            let before = file.rules.count
            file.rules.removeAll { $0.id == id }
            found = file.rules.count < before
        }
        guard found else { throw CLIError("no rule \(id) (see 'elastos policy list')") }
        print("removed \(id)")
    }
}

private func load(_ home: HomeOption) throws -> PolicyFile {
    if FileManager.default.fileExists(atPath: home.resolved.path) { try? PolicyFile.prepareDirectory(in: home.resolved) }
    do { return try PolicyFile.load(PolicyFile.path(in: home.resolved)) } catch { throw CLIError("\(error)") }
}

private func save(_ home: HomeOption, _ change: (inout PolicyFile) -> Void) throws {
    let h = home.resolved
    do { try h.prepare(); try PolicyFile.prepareDirectory(in: h) } catch { throw CLIError("node home: \(error)") }
    do { try PolicyFile.update(PolicyFile.path(in: h), change) } catch { throw CLIError("\(error)") }
}

struct GrantsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grants",
        abstract: "List the live capability tokens this node issued, or revoke one.",
        discussion: """
            Live: not expired, not revoked, not from an earlier epoch, not used up. With a running \
            'elastos node' the list and the revocation go through it, and a revoked token is refused \
            on its next use.
            """
    )
    @Option(help: ArgumentHelp("Revoke this token (its id as listed).", valueName: "id")) var revoke: String?
    @Flag(help: "JSON lines.") var json = false
    @OptionGroup var home: HomeOption

    func run() throws {
        if let revoke {
            guard TokenID(hex: revoke) != nil else { throw CLIError("'\(revoke)' is not a token id (32 hex characters)") }
            if let conn = ControlClient.connect(home.resolved) {
                let reply = try ControlClient.request(conn, ["op": "revoke", "id": revoke])
                guard reply["ok"] as? Bool == true else { throw CLIError(reply["error"] as? String ?? "revoke failed") }
            } else {
                let node = try home.openNode()
                defer { try? node.close() }
                let id = TokenID(hex: revoke)!
                do { try node.revoke(id, expiry: node.grants.all.first { $0.id == id }?.expiry, reason: "revoked by the operator ('elastos grants --revoke')") } catch {
                    throw CLIError("cannot revoke: \(error)")
                }
            }
            print("revoked \(revoke)")
            return
        }
        let grants: [[String: Any]]
        if let conn = ControlClient.connect(home.resolved) {
            let reply = try ControlClient.request(conn, ["op": "grants"])
            guard reply["ok"] as? Bool == true, let list = reply["grants"] as? [[String: Any]] else {
                throw CLIError(reply["error"] as? String ?? "grants failed")
            }
            grants = list
        } else {
            let node = try home.openNode()
            defer { try? node.close() }
            grants = node.liveGrants().map(ControlServer.grantJSON)
        }
        if json {
            for g in grants { print(ControlServer.jsonLine(g)) }
            return
        }
        guard !grants.isEmpty else { print("no live grants"); return }
        let now = Int(Node.systemClock())
        for g in grants {
            let expiry = (g["expiry"] as? Int).map { $0 > now ? "expires in \($0 - now) s" : "expired" } ?? "no expiry"
            let uses = (g["max_uses"] as? Int).map { ", \($0) use(s)" } ?? ""
            print("\(g["id"] as? String ?? "?")  \(g["actions"] as? String ?? "") on \(g["resource"] as? String ?? "")  to \(g["holder"] as? String ?? "")  (\(expiry)\(uses))")
        }
    }
}
