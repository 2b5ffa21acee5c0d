import ArgumentParser
import ElastosCapsule
import ElastosCore
import Foundation

struct CapsuleInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a capsule's manifest (defaults filled in), CID, files and signature.",
        discussion: """
            Works on a directory or a package; the content is checked either way (a tampered package \
            is refused). A signature is shown with whether it verifies, without requiring one.
            """
    )

    @Argument(help: ArgumentHelp("The capsule directory or package.", valueName: "dir|package")) var source: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let package = try capsuleStep { () throws(CapsuleError) in try CapsulePackage(path: source) }
        let content = package.content
        let signatureStatus: String?
        let valid = (try? package.verify()) != nil
        if let s = package.signature {
            signatureStatus = valid ? "valid, by \(s.publisher)" : "INVALID (claims \(s.publisher))"
        } else {
            signatureStatus = nil
        }
        if json {
            var fields: [(String, String)] = [
                ("cid", JSONOutput.quote(content.cid.description)), ("cid_v0", JSONOutput.quote(content.cidV0.description)),
                ("manifest", content.manifest.canonicalJSON),
                ("files", "[" + content.files.map { "{\"path\":\(JSONOutput.quote($0.path)),\"size\":\($0.size)}" }
                    .joined(separator: ",") + "]"),
                ("size", String(content.contentSize)), ("blocks", String(content.dag.blocks.count)),
            ]
            if let s = package.signature {
                fields.append(("signature", JSONOutput.object(raw: [
                    ("publisher", JSONOutput.quote(s.publisher.description)), ("valid", valid ? "true" : "false"),
                ])))
            } else {
                fields.append(("signature", "null"))
            }
            print(JSONOutput.object(raw: fields))
            return
        }
        let m = content.manifest
        print("Capsule:      \(m.name) \(m.version)")
        print("CID:          \(content.cid)")
        print("CID (v0):     \(content.cidV0)")
        print("Type / role:  \(m.type.rawValue) / \(m.role.rawValue)")
        if let d = m.description { print("Description:  \(d)") }
        print("Entrypoint:   \(m.entrypoint)")
        if let v = m.viewer { print("Viewer:       \(v)") }
        print("Limits:       memory \(m.limits.memoryMB) MiB, cpu \(m.limits.cpuMillis) ms, wall \(m.limits.wallMillis) ms"
              + (m.limits.maxFuel.map { ", fuel \($0)" } ?? ""))
        if m.capabilities.isEmpty {
            print("Capabilities: none requested")
        } else {
            print("Capabilities:")
            for c in m.capabilities {
                print("  \(c.resource) [\(c.actions.map(\.rawValue).joined(separator: ","))]: \(c.reason)")
            }
        }
        print("Files:        \(content.files.count) (\(content.contentSize) bytes, \(content.dag.blocks.count) blocks)")
        for f in content.files { print("  \(f.path) \(f.size)") }
        print("Signature:    \(signatureStatus ?? "none (unsigned)")")
    }
}
