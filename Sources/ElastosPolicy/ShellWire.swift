// What the runtime and the shell capsule say to each other (docs/POLICY.md, "The shell
// capsule"): `serve` calls on `elastos://shell/decide` and `elastos://shell/settle` whose bodies
// are strict JSON documents, answered with an outcome document. Both ends parse with the strict
// parser and refuse unknown or mistyped fields, naming them.
//
//   decide  = request
//   settle  = {"request": request, "answer": "once"|"session"|"always"|"deny"|null}
//   request = {"capsule","version","cid","publisher","trust","role","resource","actions":[…],
//              "reason","declared":[{"resource","actions":[…],"reason"}…],
//              "allow_declared":bool,"interactive":bool}
//   outcome = {"outcome":"grant","expires_in":n,"max_uses":n|null,"basis"} | {"outcome":"deny","basis"}
//           | {"outcome":"prompt"}
public import ElastosCapsule
public import ElastosCore
import Foundation

public enum ShellWire {
    public static let decideURI = "elastos://shell/decide"
    public static let settleURI = "elastos://shell/settle"
    /// Bodies larger than this are refused before parsing.
    public static let maxBody = 64 << 10

    public struct Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }

    // MARK: Encoding

    public static func encode(_ r: PolicyRequest) -> [UInt8] { Array(requestJSON(r).utf8) }

    public static func encodeSettle(_ r: PolicyRequest, answer: PromptAnswer?) -> [UInt8] {
        Array(("{\"request\":" + requestJSON(r) + ",\"answer\":" + (answer.map { "\"\($0.rawValue)\"" } ?? "null") + "}").utf8)
    }

    public static func encode(_ o: PolicyOutcome) -> [UInt8] {
        let text = switch o {
        case .grant(let expiresIn, let maxUses, let basis):
            "{\"outcome\":\"grant\",\"expires_in\":\(expiresIn),\"max_uses\":\(maxUses.map(String.init) ?? "null"),\"basis\":\(StrictJSON.quote(basis))}"
        case .deny(let basis): "{\"outcome\":\"deny\",\"basis\":\(StrictJSON.quote(basis))}"
        case .prompt: "{\"outcome\":\"prompt\"}"
        }
        return Array(text.utf8)
    }

    static func actionsJSON(_ a: ActionSet) -> String { "[" + a.map { "\"\($0.rawValue)\"" }.joined(separator: ",") + "]" }

    static func requestJSON(_ r: PolicyRequest) -> String {
        let s = r.subject
        let declared = r.declared.map {
            "{\"resource\":\(StrictJSON.quote($0.resource.text)),\"actions\":\(actionsJSON($0.actions)),\"reason\":\(StrictJSON.quote($0.reason))}"
        }
        return "{\"capsule\":\(StrictJSON.quote(s.capsule)),\"version\":\(StrictJSON.quote(s.version)),\"cid\":\(StrictJSON.quote(s.cid)),"
            + "\"publisher\":\(StrictJSON.quote(s.publisher)),\"trust\":\"\(s.trust.rawValue)\",\"role\":\(StrictJSON.quote(r.role)),"
            + "\"resource\":\(StrictJSON.quote(r.resource.text)),\"actions\":\(actionsJSON(r.actions)),\"reason\":\(StrictJSON.quote(r.reason)),"
            + "\"declared\":[" + declared.joined(separator: ",") + "],\"allow_declared\":\(r.allowDeclared),\"interactive\":\(r.interactive)}"
    }

    // MARK: Decoding

    public static func decodeRequest(_ bytes: [UInt8]) throws(Error) -> PolicyRequest {
        try request(try parse(bytes), at: "request")
    }

    public static func decodeSettle(_ bytes: [UInt8]) throws(Error) -> (PolicyRequest, PromptAnswer?) {
        let f = try fields(try parse(bytes), at: "settle")
        try wrap { () throws(PolicyFileError) in try f.refuseUnknown(["request", "answer"]) }
        guard let r = f.value("request") else { throw Error("settle: missing field request") }
        let answer: PromptAnswer?
        switch f.value("answer") {
        case .null?: answer = nil
        case .string(let s)?:
            guard let a = PromptAnswer(rawValue: s) else { throw Error("settle.answer must be once, session, always, deny or null") }
            answer = a
        default: throw Error("settle.answer must be a string or null")
        }
        return (try request(r, at: "settle.request"), answer)
    }

    public static func decodeOutcome(_ bytes: [UInt8]) throws(Error) -> PolicyOutcome {
        let f = try fields(try parse(bytes), at: "outcome")
        let kind = try wrap { () throws(PolicyFileError) in try f.string("outcome", required: true)! }
        switch kind {
        case "grant":
            try wrap { () throws(PolicyFileError) in try f.refuseUnknown(["outcome", "expires_in", "max_uses", "basis"]) }
            guard let life = try wrap({ () throws(PolicyFileError) in try f.integer("expires_in", in: 1...Int64(PolicyRule.maxTokenLifetime)) }) else {
                throw Error("outcome: missing field expires_in")
            }
            let uses: UInt32?
            if case .null? = f.value("max_uses") { uses = nil } else {
                uses = try wrap { () throws(PolicyFileError) in try f.integer("max_uses", in: 1...Int64(UInt32.max)) }.map(UInt32.init)
            }
            let basis = try wrap { () throws(PolicyFileError) in try f.string("basis", required: true)! }
            return .grant(expiresIn: UInt64(life), maxUses: uses, basis: basis)
        case "deny":
            try wrap { () throws(PolicyFileError) in try f.refuseUnknown(["outcome", "basis"]) }
            return .deny(basis: try wrap { () throws(PolicyFileError) in try f.string("basis", required: true)! })
        case "prompt":
            try wrap { () throws(PolicyFileError) in try f.refuseUnknown(["outcome"]) }
            return .prompt
        default:
            throw Error("outcome.outcome must be grant, deny or prompt")
        }
    }

    static func parse(_ bytes: [UInt8]) throws(Error) -> JSONValue {
        guard bytes.count <= maxBody else { throw Error("a shell message of \(bytes.count) bytes is over the \(maxBody)-byte limit") }
        do { return try StrictJSON.parse(bytes) } catch { throw Error("not valid JSON: \(error)") }
    }

    static func fields(_ v: JSONValue, at: String) throws(Error) -> Fields {
        try wrap { () throws(PolicyFileError) in try Fields(v, at: at, file: "shell message") }
    }

    static func wrap<T>(_ body: () throws(PolicyFileError) -> T) throws(Error) -> T {
        do { return try body() } catch { throw Error(error.description) }
    }

    static func actions(_ v: JSONValue?, at: String) throws(Error) -> ActionSet {
        guard case .array(let names)? = v, !names.isEmpty else { throw Error("\(at) must be a non-empty array of action names") }
        var out: [Action] = []
        for n in names {
            guard case .string(let s) = n, let a = Action(rawValue: s) else { throw Error("\(at): unknown action \(n)") }
            out.append(a)
        }
        return ActionSet(out)
    }

    static func pattern(_ text: String, at: String) throws(Error) -> ResourcePattern {
        do { return try ResourcePattern(text) } catch { throw Error("\(at): \(error)") }
    }

    static func bool(_ f: Fields, _ key: String, at: String) throws(Error) -> Bool {
        guard case .bool(let b)? = f.value(key) else { throw Error("\(at).\(key) must be true or false") }
        return b
    }

    static func request(_ v: JSONValue, at: String) throws(Error) -> PolicyRequest {
        let f = try fields(v, at: at)
        try wrap { () throws(PolicyFileError) in
            try f.refuseUnknown(["capsule", "version", "cid", "publisher", "trust", "role", "resource", "actions", "reason",
                                 "declared", "allow_declared", "interactive"])
        }
        func string(_ key: String) throws(Error) -> String {
            try wrap { () throws(PolicyFileError) in try f.string(key, required: true)! }
        }
        guard let trust = TrustLevel(rawValue: try string("trust")) else { throw Error("\(at).trust is not a trust level") }
        guard case .array(let items)? = f.value("declared") else { throw Error("\(at).declared must be an array") }
        var declared: [DeclaredCapability] = []
        for (i, item) in items.prefix(256).enumerated() {
            let d = try fields(item, at: "\(at).declared[\(i)]")
            try wrap { () throws(PolicyFileError) in try d.refuseUnknown(["resource", "actions", "reason"]) }
            let resource = try wrap { () throws(PolicyFileError) in try d.string("resource", required: true)! }
            let reason = try wrap { () throws(PolicyFileError) in try d.string("reason", required: true)! }
            declared.append(DeclaredCapability(resource: try pattern(resource, at: "\(at).declared[\(i)].resource"),
                                               actions: try actions(d.value("actions"), at: "\(at).declared[\(i)].actions"), reason: reason))
        }
        let subject = PolicySubject(capsule: try string("capsule"), version: try string("version"), cid: try string("cid"),
                                    publisher: try string("publisher"), trust: trust)
        return PolicyRequest(subject: subject, role: try string("role"), resource: try pattern(try string("resource"), at: "\(at).resource"),
                             actions: try actions(f.value("actions"), at: "\(at).actions"), reason: try string("reason"),
                             declared: declared, allowDeclared: try bool(f, "allow_declared", at: at),
                             interactive: try bool(f, "interactive", at: at))
    }
}
