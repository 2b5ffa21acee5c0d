public import ElastosCore
import Foundation
import Synchronization

/// One root token the node issued, as `elastos grants` lists it.
public struct GrantRecord: Sendable, Equatable {
    public let id: TokenID
    public let holder: String
    public let resource: String
    public let actions: String
    public let epoch: UInt64
    public let issuedAt: UInt64
    public let expiry: UInt64?
    public let maxUses: UInt32?
}

/// The tokens this node issued (`<home>/capabilities/grants.log`, one JSON object per line,
/// 0600), so an operator can see what is live and revoke it. Informational: the ledger, not
/// this log, is what the checks consult, so a lost line never makes a token valid or invalid.
/// Expired lines are dropped when the node opens.
public final class GrantLog: Sendable {
    public let path: String
    private let records: Mutex<[GrantRecord]>

    public init(path: String, now: UInt64) {
        self.path = path
        var loaded: [GrantRecord] = []
        if let bytes = try? FileIO.read(path, limit: 64 << 20) {
            for line in bytes.split(separator: 0x0A) {
                if let r = Self.decode(Array(line)) { loaded.append(r) }
            }
        }
        let live = loaded.filter { $0.expiry.map { $0 > now } ?? true }
        if live.count < loaded.count {
            try? FileIO.writeAtomically(Array(live.map(Self.encode).joined().utf8), to: path, mode: 0o600)
        }
        records = Mutex(live)
    }

    public var all: [GrantRecord] { records.withLock { $0 } }

    func append(_ token: CapabilityToken) {
        let leaf = token.leaf
        let r = GrantRecord(id: leaf.id, holder: leaf.holder, resource: leaf.resource.text, actions: leaf.actions.description,
                            epoch: leaf.epoch, issuedAt: leaf.issuedAt, expiry: leaf.expiry, maxUses: leaf.maxUses)
        records.withLock { list in
            list.append(r)
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { return }
            defer { close(fd) }
            try? FileIO.writeAll(fd, Array(Self.encode(r).utf8), path: path)
        }
    }

    static func encode(_ r: GrantRecord) -> String {
        var fields: [String: Any] = ["id": r.id.description, "holder": r.holder, "resource": r.resource, "actions": r.actions,
                                     "epoch": Int(r.epoch), "issued": Int(r.issuedAt)]
        if let e = r.expiry { fields["expiry"] = Int(e) }
        if let u = r.maxUses { fields["max_uses"] = Int(u) }
        guard let d = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes]) else { return "" }
        return String(decoding: d, as: UTF8.self) + "\n"
    }

    static func decode(_ line: [UInt8]) -> GrantRecord? {
        guard let o = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
              let id = (o["id"] as? String).flatMap(TokenID.init(hex:)), let holder = o["holder"] as? String,
              let resource = o["resource"] as? String, let actions = o["actions"] as? String,
              let epoch = o["epoch"] as? Int, let issued = o["issued"] as? Int else { return nil }
        return GrantRecord(id: id, holder: holder, resource: resource, actions: actions, epoch: UInt64(max(0, epoch)),
                           issuedAt: UInt64(max(0, issued)), expiry: (o["expiry"] as? Int).map { UInt64(max(0, $0)) },
                           maxUses: (o["max_uses"] as? Int).map { UInt32(clamping: $0) })
    }
}
