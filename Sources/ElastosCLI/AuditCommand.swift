import ArgumentParser
import ElastosCore
import ElastosNode
import Foundation

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check and read the tamper-evident audit log.",
        subcommands: [AuditVerify.self, AuditTail.self]
    )
}

struct AuditVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify the audit log's hash chain and signed checkpoints.",
        discussion: """
            Detects any edited, deleted, reordered or inserted record, a log cut short of its last \
            signed checkpoint, and forged checkpoints, and names the first bad record. \
            Exit status 0 if intact, 1 if not.
            """
    )

    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var home: HomeOption

    func run() throws {
        let nodeHome = home.resolved
        let key: PublicKey
        do {
            guard let k = try NodeKeyStore.load(nodeHome.keyFile) else { throw CLIError("no node key in \(nodeHome.path)") }
            key = k.publicKey
        } catch let e as NodeKeyError { throw CLIError(e.description) }
        switch AuditLog.verify(directory: nodeHome.auditDirectory, key: key) {
        case .success(let s):
            if json {
                print(JSONOutput.object(raw: [
                    ("intact", "true"), ("records", String(s.records)), ("checkpoints", String(s.checkpoints)),
                    ("last_checkpoint", s.lastCheckpointSeq.map(String.init) ?? "null"),
                    ("uncheckpointed", String(s.uncheckpointed)), ("head", JSONOutput.quote(s.lastHash)),
                ]))
            } else {
                var line = "audit log intact: \(s.records) records, \(s.checkpoints) signed checkpoints"
                if let c = s.lastCheckpointSeq { line += ", last at record \(c)" }
                if s.uncheckpointed > 0 { line += "; \(s.uncheckpointed) newest records not yet covered by a checkpoint" }
                print(line)
            }
        case .failure(let e):
            if json { print(JSONOutput.object(raw: [("intact", "false"), ("error", JSONOutput.quote(e.description))])) }
            throw CLIError("audit log is NOT intact: \(e)")
        }
    }
}

struct AuditTail: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Show the newest audit records."
    )

    @Option(name: .shortAndLong, help: "How many records.") var n: Int = 20
    @Flag(help: "Print each record as its JSON line.") var json = false
    @OptionGroup var home: HomeOption

    func run() throws {
        let records: [AuditRecord]
        do { records = try AuditLog.tail(directory: home.resolved.auditDirectory, count: max(0, n)) } catch {
            throw CLIError(error.description)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for r in records {
            if json {
                print(String(decoding: (try? encoder.encode(r)) ?? Data(), as: UTF8.self))
            } else {
                var line = "\(r.seq) \(r.time) \(r.decision.rawValue.uppercased()) \(r.event) subject=\(r.subject)"
                if !r.action.isEmpty { line += " action=\(r.action)" }
                if !r.resource.isEmpty { line += " resource=\(r.resource)" }
                if let t = r.token { line += " token=\(t)" }
                if !r.reason.isEmpty { line += " — \(Sanitize.terminal(r.reason))" }
                print(Sanitize.terminal(line))
            }
        }
    }
}

/// Neutralises terminal control characters in text that came from outside.
enum Sanitize {
    static func terminal(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) ? "\u{FFFD}" : $0 }))
    }
}
