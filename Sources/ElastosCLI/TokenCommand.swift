import ArgumentParser
import ElastosCore
import ElastosNode
import Foundation

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Issue, inspect, verify, delegate and revoke capability tokens.",
        discussion: """
            Tokens are printed as 'ecap1_…' text. A token is a credential: commands read it from \
            standard input or --file, never from the command line, where other users could see it.
            """,
        subcommands: [TokenIssue.self, TokenInspect.self, TokenVerify.self, TokenDelegate.self, TokenRevoke.self]
    )
}

/// Where a command reads a token from: `--file`, else standard input.
struct TokenInput: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Read the token from this file instead of standard input.", valueName: "path"))
    var file: String?

    func read() throws -> CapabilityToken {
        let text: String
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read token file \(file)") }
            text = String(decoding: data, as: UTF8.self)
        } else {
            if isatty(0) != 0 {
                FileHandle.standardError.write(Data("reading the token from standard input (paste it, then Ctrl-D)…\n".utf8))
            }
            var lines: [String] = []
            while let line = readLine(strippingNewline: true) {
                lines.append(line)
                if lines.joined().utf8.count > TokenDecodingError.maxTextSize { break }
            }
            text = lines.joined()
        }
        do { return try CapabilityToken(text: text.trimmingCharacters(in: .whitespacesAndNewlines)) } catch {
            throw CLIError("invalid token: \(error)")
        }
    }
}

/// Fields shared by `issue` and `delegate`.
struct GrantOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Who may use the token: a capsule instance id or a did:key.", valueName: "principal"))
    var holder: String

    @Option(help: ArgumentHelp("A URI, 'prefix/*' for everything below it, or 'scheme://*'.", valueName: "pattern"))
    var resource: String?

    @Option(help: ArgumentHelp("Comma-separated: read, write, execute, message, delete, admin.", valueName: "list"))
    var actions: String?

    @Option(help: ArgumentHelp("Lifetime ('90s', '15m', '1h', '7d'), an RFC 3339 time, or 'never'.", valueName: "when"))
    var expires: String?

    @Option(name: .customLong("not-before"), help: ArgumentHelp("Not valid before this (same forms as --expires).", valueName: "when"))
    var notBefore: String?

    @Option(name: .customLong("max-uses"), help: "Allow at most this many uses.")
    var maxUses: UInt32?

    @Option(help: ArgumentHelp("Highest data classification: public, internal, confidential or secret.", valueName: "level"))
    var classification: String?

    @Option(help: "How many times the holder may delegate further (0–7).")
    var depth: UInt8?

    func actionSet() throws -> ActionSet? {
        guard let actions else { return nil }
        switch ActionSet.parse(actions) {
        case .success(let s): return s
        case .failure(let e): throw CLIError(e.description)
        }
    }

    func pattern() throws -> ResourcePattern? {
        guard let resource else { return nil }
        do { return try ResourcePattern(resource) } catch { throw CLIError("invalid --resource: \(error)") }
    }

    func level() throws -> Classification? {
        guard let classification else { return nil }
        guard let c = Classification(name: classification) else {
            throw CLIError("invalid --classification '\(classification)' (public, internal, confidential or secret)")
        }
        return c
    }
}

enum TimeSpec {
    /// Parses `--expires`-style values into Unix seconds; nil means "never".
    static func parse(_ text: String, now: UInt64, option: String) throws -> UInt64? {
        if text == "never" { return nil }
        let units: [Character: UInt64] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        if let unit = text.last, let scale = units[unit], let n = UInt64(text.dropLast()) {
            let (v, o) = n.multipliedReportingOverflow(by: scale)
            guard !o, n > 0 else { throw CLIError("\(option) '\(text)' is out of range") }
            return now + v
        }
        let f = ISO8601DateFormatter()
        if let d = f.date(from: text), d.timeIntervalSince1970 > 0 { return UInt64(d.timeIntervalSince1970) }
        throw CLIError("\(option) '\(text)' is not a duration like '1h', an RFC 3339 time, or 'never'")
    }

    static func show(_ t: UInt64?) -> String {
        guard let t else { return "never" }
        return RFC3339.format(millis: Int64(clamping: t) * 1000).replacingOccurrences(of: ".000Z", with: "Z")
    }
}

struct TokenIssue: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Issue a token signed by this node for a holder, resource and actions.",
        discussion: """
            Example: elastos token issue --holder did:key:z6Mk… --resource 'localhost://storage/apps/notes/*' \
            --actions read,write --expires 1h > notes.token
            The token is printed on standard output (or written 0600 to --out); its id goes to stderr.
            Tokens expire after 1 hour unless --expires says otherwise.
            """
    )

    @OptionGroup var grant: GrantOptions
    @Option(help: ArgumentHelp("Write the token to this file (mode 0600) instead of standard output.", valueName: "path"))
    var out: String?
    @Flag(help: "Print JSON (id, token, expiry) instead of the bare token.") var json = false
    @OptionGroup var home: HomeOption

    func run() throws {
        guard let resource = try grant.pattern() else { throw CLIError("missing --resource") }
        guard let actions = try grant.actionSet() else { throw CLIError("missing --actions") }
        let node = try home.openNode()
        defer { try? node.close() }
        let now = Node.systemClock()
        let g = Grant(
            holder: grant.holder, resource: resource, actions: actions,
            expiry: try TimeSpec.parse(grant.expires ?? "1h", now: now, option: "--expires"),
            notBefore: try grant.notBefore.flatMap { try TimeSpec.parse($0, now: now, option: "--not-before") },
            maxUses: grant.maxUses, maxClassification: try grant.level() ?? .public, delegationDepth: grant.depth ?? 0)
        let token: CapabilityToken
        do { token = try node.issue(g, now: now) } catch { throw CLIError(error.description) }
        try emit(token, out: out, json: json)
    }
}

/// Prints or saves a new token.
func emit(_ token: CapabilityToken, out: String?, json: Bool) throws {
    if let out {
        let fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CLIError("cannot create \(out): \(String(cString: strerror(errno))) (it must not exist yet)") }
        let bytes = Array((token.text + "\n").utf8)
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        guard n == bytes.count else { throw CLIError("cannot write \(out)") }
    }
    if json {
        var fields = [("id", token.id.description), ("expires", TimeSpec.show(token.leaf.expiry))]
        if out == nil { fields.append(("token", token.text)) }
        print(JSONOutput.object(fields))
    } else if out == nil {
        print(token.text)
    }
    FileHandle.standardError.write(Data("token id \(token.id), expires \(TimeSpec.show(token.leaf.expiry))\n".utf8))
}
