public import ElastosCapsule
public import ElastosCore
public import ElastosNode
import Foundation

/// What a policy rule decides for the requests it matches.
public enum PolicyVerdict: String, Sendable, CaseIterable {
    case allow, prompt, deny
}

/// One rule of the shell's policy (docs/POLICY.md): which capsules (by name, publisher DID or
/// CID; all that are given must match), which resources and actions, and the verdict, with the
/// limits on what an `allow` grants.
public struct PolicyRule: Sendable, Equatable {
    public var id: String
    public var verdict: PolicyVerdict
    public var resource: ResourcePattern
    public var actions: ActionSet
    public var capsule: String?
    public var publisher: String?
    public var cid: String?
    /// Lifetime of each token an `allow` grants, in seconds.
    public var tokenLifetime: UInt64
    /// Uses of each granted token; nil for unlimited.
    public var maxUses: UInt32?
    /// Unix time after which the rule itself no longer applies; nil for never.
    public var expiresAt: UInt64?

    public static let defaultTokenLifetime: UInt64 = 3600
    public static let maxTokenLifetime: UInt64 = 30 * 86400

    public init(id: String = PolicyRule.newID(), verdict: PolicyVerdict, resource: ResourcePattern, actions: ActionSet,
                capsule: String? = nil, publisher: String? = nil, cid: String? = nil,
                tokenLifetime: UInt64 = PolicyRule.defaultTokenLifetime, maxUses: UInt32? = nil, expiresAt: UInt64? = nil) {
        self.id = id; self.verdict = verdict; self.resource = resource; self.actions = actions
        self.capsule = capsule; self.publisher = publisher; self.cid = cid
        self.tokenLifetime = tokenLifetime; self.maxUses = maxUses; self.expiresAt = expiresAt
    }

    /// `r-` and 8 random hex digits.
    public static func newID() -> String { "r-" + String(TokenID.random().description.prefix(8)) }

    /// True if the rule names this capsule (every selector it has matches) and is in force.
    func selects(_ subject: PolicySubject, now: UInt64) -> Bool {
        if let expiresAt, now >= expiresAt { return false }
        if let capsule, capsule != subject.capsule { return false }
        if let publisher, publisher != subject.publisher { return false }
        if let cid, cid != subject.cid { return false }
        return true
    }

    /// True if the rule names the capsule by something it cannot choose for itself: its
    /// publisher's DID or its CID (a name is just a string in the manifest).
    var namesPublisherOrCID: Bool { publisher != nil || cid != nil }

    /// An allow or prompt rule covers a request if it covers all of its resources and actions; a
    /// deny rule matches if it covers the resources and shares any action.
    func matches(_ resource: ResourcePattern, _ actions: ActionSet) -> Bool {
        guard resource.isSubset(of: self.resource) else { return false }
        switch verdict {
        case .allow, .prompt: return actions.isSubset(of: self.actions)
        case .deny: return actions.mask & self.actions.mask != 0
        }
    }
}

/// Why a policy file was refused; names the rule and field.
public struct PolicyFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    init(_ path: String, _ why: String) { description = "\(path): \(why)" }
}

/// The shell's policy, `<home>/shell/policy.json`: a versioned, strict JSON document (an unknown or
/// mistyped field is refused, naming it). Saved atomically (temp, fsync, rename), 0600.
public struct PolicyFile: Sendable, Equatable {
    public static let schema = "elastos.policy/v1"
    public var rules: [PolicyRule]

    public init(rules: [PolicyRule] = []) { self.rules = rules }

    public static func path(in home: NodeHome) -> String { directory(in: home) + "/" + fileName }

    /// The shell's own directory in the node home: the policy file, and nothing else, so that
    /// a shell capsule can be given exactly this as its `/data`.
    public static func directory(in home: NodeHome) -> String { home.path + "/shell" }
    public static let fileName = "policy.json"

    /// Creates the shell directory (0700) and moves a policy file from where earlier versions
    /// kept it (`<home>/policy.json`) into it.
    public static func prepareDirectory(in home: NodeHome) throws(PolicyFileError) {
        let dir = directory(in: home)
        if mkdir(dir, 0o700) != 0 && errno != EEXIST { throw PolicyFileError(dir, "cannot create the shell directory: \(String(cString: strerror(errno)))") }
        let old = home.path + "/" + fileName
        if access(old, F_OK) == 0 && access(path(in: home), F_OK) != 0 {
            guard rename(old, path(in: home)) == 0 else { throw PolicyFileError(old, "cannot move it into \(dir): \(String(cString: strerror(errno)))") }
        }
    }

    /// The file's rules, or none if it does not exist.
    public static func load(_ path: String) throws(PolicyFileError) -> PolicyFile {
        let bytes: [UInt8]?
        do { bytes = try FileIO.read(path, limit: 4 << 20) } catch { throw PolicyFileError(path, error.description) }
        guard let bytes else { return PolicyFile() }
        return try PolicyFile(json: bytes, path: path)
    }

    public func save(_ path: String) throws(PolicyFileError) {
        try Self.createParent(of: path)
        do { try FileIO.writeAtomically(Array(json.utf8), to: path, mode: 0o600) } catch { throw PolicyFileError(path, error.description) }
    }

    public init(json bytes: [UInt8], path: String = "policy.json") throws(PolicyFileError) {
        let top: JSONValue
        do { top = try StrictJSON.parse(bytes) } catch { throw PolicyFileError(path, "not valid JSON: \(error)") }
        let fields = try Fields(top, at: "(top level)", file: path)
        try fields.refuseUnknown(["schema", "rules"])
        guard try fields.string("schema", required: true) == Self.schema else {
            throw PolicyFileError(path, "schema must be \"\(Self.schema)\"")
        }
        guard case .array(let items)? = fields.value("rules") else {
            throw PolicyFileError(path, fields.value("rules") == nil ? "missing field rules" : "rules must be an array")
        }
        var rules: [PolicyRule] = []
        var ids = Set<String>()
        for (i, item) in items.enumerated() {
            let rule = try Self.rule(item, at: "rules[\(i)]", file: path)
            guard ids.insert(rule.id).inserted else { throw PolicyFileError(path, "rules[\(i)].id \(rule.id) is used twice") }
            rules.append(rule)
        }
        self.rules = rules
    }

    private static func rule(_ value: JSONValue, at where_: String, file: String) throws(PolicyFileError) -> PolicyRule {
        let f = try Fields(value, at: where_, file: file)
        try f.refuseUnknown(["id", "verdict", "resource", "actions", "capsule", "publisher", "cid", "token_lifetime_s", "max_uses", "expires_at"])
        let id = try f.string("id", required: true)!
        guard !id.isEmpty, id.count <= 64, id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw PolicyFileError(file, "\(where_).id must be 1–64 letters, digits, '-' or '_'")
        }
        guard let verdict = PolicyVerdict(rawValue: try f.string("verdict", required: true)!) else {
            throw PolicyFileError(file, "\(where_).verdict must be allow, prompt or deny")
        }
        let resource: ResourcePattern
        do { resource = try ResourcePattern(try f.string("resource", required: true)!) } catch {
            throw PolicyFileError(file, "\(where_).resource: \(error)")
        }
        guard case .array(let names)? = f.value("actions"), !names.isEmpty else {
            throw PolicyFileError(file, "\(where_).actions must be a non-empty array of action names")
        }
        var actions: [Action] = []
        for n in names {
            guard case .string(let s) = n, let a = Action(rawValue: s) else {
                throw PolicyFileError(file, "\(where_).actions: unknown action \(n)")
            }
            actions.append(a)
        }
        let lifetime = try f.integer("token_lifetime_s", in: 1...Int64(PolicyRule.maxTokenLifetime)).map(UInt64.init) ?? PolicyRule.defaultTokenLifetime
        let uses = try f.integer("max_uses", in: 1...Int64(UInt32.max)).map(UInt32.init)
        let expires = try f.integer("expires_at", in: 0...Int64(UInt32.max) * 4).map(UInt64.init)
        return PolicyRule(id: id, verdict: verdict, resource: resource, actions: ActionSet(actions),
                          capsule: try f.string("capsule", required: false), publisher: try f.string("publisher", required: false),
                          cid: try f.string("cid", required: false), tokenLifetime: lifetime, maxUses: uses, expiresAt: expires)
    }

    /// The canonical text: fields in a fixed order, one rule per line.
    public var json: String {
        let lines = rules.map { r -> String in
            var f: [String] = ["\"id\":" + StrictJSON.quote(r.id), "\"verdict\":\"\(r.verdict.rawValue)\"",
                               "\"resource\":" + StrictJSON.quote(r.resource.text),
                               "\"actions\":[" + r.actions.map { "\"\($0.rawValue)\"" }.joined(separator: ",") + "]"]
            if let c = r.capsule { f.append("\"capsule\":" + StrictJSON.quote(c)) }
            if let p = r.publisher { f.append("\"publisher\":" + StrictJSON.quote(p)) }
            if let c = r.cid { f.append("\"cid\":" + StrictJSON.quote(c)) }
            if r.tokenLifetime != PolicyRule.defaultTokenLifetime { f.append("\"token_lifetime_s\":\(r.tokenLifetime)") }
            if let u = r.maxUses { f.append("\"max_uses\":\(u)") }
            if let e = r.expiresAt { f.append("\"expires_at\":\(e)") }
            return "    {" + f.joined(separator: ",") + "}"
        }
        return "{\n  \"schema\": \"\(Self.schema)\",\n  \"rules\": [\n" + lines.joined(separator: ",\n") + (lines.isEmpty ? "" : "\n") + "  ]\n}\n"
    }

    /// The shell directory is created on first write (0700), as every node-home directory.
    static func createParent(of path: String) throws(PolicyFileError) {
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, mkdir(parent, 0o700) != 0, errno != EEXIST {
            throw PolicyFileError(path, "cannot create \(parent): \(String(cString: strerror(errno)))")
        }
    }

    /// Reads, changes and saves the file under an exclusive lock, so two writers (a prompt's
    /// "always" and `elastos policy allow`) never lose each other's rules.
    public static func update(_ path: String, _ change: (inout PolicyFile) -> Void) throws(PolicyFileError) {
        try createParent(of: path)
        let lockFD: Int32
        do { lockFD = try FileIO.lockExclusively(path + ".lock") } catch { throw PolicyFileError(path, error.description) }
        defer { close(lockFD) }
        var file = try load(path)
        change(&file)
        try file.save(path)
    }
}

/// Typed access to one JSON object's members, refusing what the schema does not know.
struct Fields {
    let members: [(key: String, value: JSONValue)]
    let at: String
    let file: String

    init(_ value: JSONValue, at: String, file: String) throws(PolicyFileError) {
        guard case .object(let m) = value else { throw PolicyFileError(file, "\(at) must be an object, not \(value.typeName)") }
        members = m; self.at = at; self.file = file
    }

    func refuseUnknown(_ known: Set<String>) throws(PolicyFileError) {
        for (key, _) in members where !known.contains(where: { $0.utf8.elementsEqual(key.utf8) }) {
            throw PolicyFileError(file, "\(at): unknown field \(key)")
        }
    }

    func value(_ key: String) -> JSONValue? { members.first { $0.key.utf8.elementsEqual(key.utf8) }?.value }

    func string(_ key: String, required: Bool) throws(PolicyFileError) -> String? {
        guard let v = value(key) else {
            if required { throw PolicyFileError(file, "\(at): missing field \(key)") }
            return nil
        }
        guard case .string(let s) = v else { throw PolicyFileError(file, "\(at).\(key) must be a string, not \(v.typeName)") }
        return s
    }

    func integer(_ key: String, in range: ClosedRange<Int64>) throws(PolicyFileError) -> Int64? {
        guard let v = value(key) else { return nil }
        guard let n = v.integer, range.contains(n) else {
            throw PolicyFileError(file, "\(at).\(key) must be a whole number in \(range.lowerBound)…\(range.upperBound)")
        }
        return n
    }
}
