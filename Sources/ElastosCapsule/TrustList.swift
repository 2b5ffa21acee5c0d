// The publishers this node trusts: <home>/trust/publishers, one did:key per line, `#` comments
// and blank lines allowed, rewritten atomically. A line that is neither is an error, never
// skipped: a damaged trust list stops the command rather than silently trusting less or more.

public import ElastosCore
public import ElastosNode
import Foundation

/// How far a capsule's publisher is trusted (docs/CAPSULES.md, "Trust").
public enum TrustLevel: String, Sendable, CaseIterable, CustomStringConvertible {
    /// The publisher is on the trust list.
    case trusted
    /// A valid signature by a publisher not on the list: runs only with a warning and is never
    /// granted anything automatically.
    case untrusted
    /// Signed by this node's own key (`--dev`).
    case node

    public var description: String { rawValue }
}

/// The trust list file.
public struct TrustList: Sendable {
    public static let maxSize = 1 << 20

    public let path: String
    /// The file's lines as read (comments kept for rewriting).
    private var lines: [String]
    /// The DIDs listed, in file order.
    public private(set) var publishers: [DIDKey]

    /// The trust list of a node home (`<home>/trust/publishers`).
    public static func path(in home: NodeHome) -> String { home.path + "/trust/publishers" }

    /// Loads the list; a missing file is an empty list.
    public init(home: NodeHome) throws(CapsuleError) {
        try self.init(path: Self.path(in: home))
    }

    public init(path: String) throws(CapsuleError) {
        self.path = path
        guard let bytes = try CapsuleFiles.readFile(path, limit: Self.maxSize) else {
            lines = ["# Publishers whose capsules this node trusts: one did:key per line (elastos capsule trust add|remove)."]
            publishers = []
            return
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .trustListCorrupt(path: path, line: 0, reason: "the file is not valid UTF-8")
        }
        lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        publishers = []
        for (i, line) in lines.enumerated() {
            let entry = line.trimmingCharacters(in: .whitespaces)
            if entry.isEmpty || entry.hasPrefix("#") { continue }
            do {
                let did = try DIDKey(entry)
                if !publishers.contains(did) { publishers.append(did) }
            } catch {
                throw .trustListCorrupt(path: path, line: i + 1, reason: error.description)
            }
        }
    }

    public func contains(_ did: DIDKey) -> Bool { publishers.contains(did) }

    /// Adds a publisher; false if it was already listed.
    @discardableResult
    public mutating func add(_ did: DIDKey) throws(CapsuleError) -> Bool {
        guard !contains(did) else { return false }
        lines.append(did.description)
        publishers.append(did)
        try save()
        return true
    }

    /// Removes a publisher (every line naming it); false if it was not listed.
    @discardableResult
    public mutating func remove(_ did: DIDKey) throws(CapsuleError) -> Bool {
        guard contains(did) else { return false }
        lines.removeAll { (try? DIDKey($0.trimmingCharacters(in: .whitespaces))) == did }
        publishers.removeAll { $0 == did }
        try save()
        return true
    }

    private func save() throws(CapsuleError) {
        do {
            try CapsuleFiles.makeDirectory((path as NSString).deletingLastPathComponent)
            try CapsuleFiles.writeAtomically(Array((lines.joined(separator: "\n") + "\n").utf8), to: path, mode: 0o600)
        } catch {
            throw .io(error)
        }
    }
}
