import ArgumentParser
import ElastosCore
import Foundation

struct TokenInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Decode a token and show every link, without verifying it.",
        discussion: "Reads the token from standard input or --file. Use 'elastos token verify' to check it."
    )

    @OptionGroup var input: TokenInput
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let token = try input.read()
        if json {
            print("{\"links\":[" + token.links.map(Self.json).joined(separator: ",") + "],\"verified\":false}")
            return
        }
        print("Capability token v\(CapabilityToken.version), \(token.links.count) link(s), \(token.encoded.count) bytes (signatures NOT checked)")
        for (i, l) in token.links.enumerated() {
            print(i == 0 ? "link 0 (root)" : "link \(i) (delegation)")
            for (k, v) in Self.fields(l) { print("  \(k.padding(toLength: 15, withPad: " ", startingAt: 0)) \(v)") }
        }
    }

    static func fields(_ l: TokenLink) -> [(String, String)] {
        var f: [(String, String)] = [
            ("id", l.id.description), ("issuer", l.issuer.did.description), ("holder", l.holder),
            ("resource", l.resource.text), ("actions", l.actions.description), ("epoch", String(l.epoch)),
            ("classification", l.maxClassification.description), ("depth", String(l.delegationDepth)),
            ("issued", TimeSpec.show(l.issuedAt)), ("expires", TimeSpec.show(l.expiry)),
        ]
        if let nb = l.notBefore { f.append(("not-before", TimeSpec.show(nb))) }
        f.append(("max-uses", l.maxUses.map(String.init) ?? "unlimited"))
        if let p = l.parent { f.append(("parent", Hex.encode(p))) }
        return f
    }

    static func json(_ l: TokenLink) -> String {
        var f: [(String, String)] = [
            ("id", JSONOutput.quote(l.id.description)), ("issuer", JSONOutput.quote(l.issuer.did.description)),
            ("holder", JSONOutput.quote(l.holder)), ("resource", JSONOutput.quote(l.resource.text)),
            ("actions", "[" + l.actions.map { JSONOutput.quote($0.rawValue) }.joined(separator: ",") + "]"),
            ("epoch", String(l.epoch)), ("classification", JSONOutput.quote(l.maxClassification.description)),
            ("depth", String(l.delegationDepth)), ("issued_at", String(l.issuedAt)),
            ("expiry", l.expiry.map(String.init) ?? "null"), ("not_before", l.notBefore.map(String.init) ?? "null"),
            ("max_uses", l.maxUses.map(String.init) ?? "null"),
        ]
        f.append(("parent", l.parent.map { JSONOutput.quote(Hex.encode($0)) } ?? "null"))
        return JSONOutput.object(raw: f)
    }
}
