public import ElastosCore
import Foundation

/// Anything that stops a node from opening its state.
public enum NodeError: Error, Sendable, CustomStringConvertible {
    case key(NodeKeyError)
    case ledger(LedgerError)
    case audit(AuditLogError)
    case home(FileError)

    public var description: String {
        switch self {
        case .key(let e): e.description
        case .ledger(let e): e.description
        case .audit(let e): e.description
        case .home(let e): "node home: \(e)"
        }
    }
}

/// A node's trusted state, opened from its home: the key, the capability ledger, the audit log,
/// and the verifier and issuer built on them. One process at a time holds a home open.
public final class Node: Sendable {
    public let home: NodeHome
    public let key: SigningKey
    public let ledger: PersistentLedger
    public let audit: AuditLog
    public let verifier: CapabilityVerifier
    public let issuer: TokenIssuer
    /// The root tokens this node issued, for `elastos grants`.
    public let grants: GrantLog
    /// True if this open created the node key (first run).
    public let keyCreated: Bool

    /// Unix time in seconds from the system clock.
    public static let systemClock: @Sendable () -> UInt64 = { UInt64(max(0, Date().timeIntervalSince1970)) }

    public init(home: NodeHome, auditOptions: AuditLog.Options = .init(),
                clock: @escaping @Sendable () -> UInt64 = Node.systemClock) throws(NodeError) {
        self.home = home
        do { try home.prepare() } catch { throw .home(error) }
        let loaded: (key: SigningKey, created: Bool)
        do { loaded = try NodeKeyStore.loadOrCreate(in: home) } catch { throw .key(error) }
        key = loaded.key
        keyCreated = loaded.created
        do { ledger = try PersistentLedger(path: home.ledgerFile, now: clock()) } catch { throw .ledger(error) }
        do { audit = try AuditLog(directory: home.auditDirectory, key: key, options: auditOptions) } catch {
            throw .audit(error)
        }
        verifier = CapabilityVerifier(runtimeKey: key.publicKey, ledger: ledger, audit: audit, clock: clock)
        issuer = TokenIssuer(key: key)
        grants = GrantLog(path: home.capabilityDirectory + "/grants.log", now: clock())
        if loaded.created {
            audit.record(AuditEvent(event: "node.key.created", subject: key.publicKey.did.description, decision: .info,
                                    reason: "new node identity created at \(home.keyFile)"))
        }
    }

    public var did: DIDKey { key.publicKey.did }

    /// Issued tokens still in force: not expired, not revoked, not from an old epoch, not used up.
    public func liveGrants(now: UInt64 = Node.systemClock()) -> [GrantRecord] {
        grants.all.filter { g in
            (g.expiry.map { $0 > now } ?? true) && g.epoch == ledger.epoch && !ledger.isRevoked(g.id)
                && (g.maxUses.map { ledger.uses(of: g.id) < $0 } ?? true)
        }
    }
    public var peerID: PeerID { PeerID(publicKey: key.publicKey) }

    /// Issues a root token and audits it.
    public func issue(_ grant: Grant, now: UInt64 = Node.systemClock(), reason: String = "issued by operator") throws(IssuanceError) -> CapabilityToken {
        let token = try issuer.issue(grant, epoch: ledger.epoch, now: now)
        grants.append(token)
        audit.record(AuditEvent(event: "token.issued", subject: grant.holder, resource: grant.resource.text,
                                action: grant.actions.description, decision: .info,
                                reason: reason, token: token.id.description))
        return token
    }

    /// Revokes a token id (and so every delegation below it) and audits it.
    public func revoke(_ id: TokenID, expiry: UInt64?, reason: String) throws {
        try ledger.revoke(id, expiry: expiry)
        audit.record(AuditEvent(event: "token.revoked", subject: "operator", decision: .info, reason: reason, token: id.description))
    }

    /// Advances the epoch, revoking every token issued before, and audits it.
    public func advanceEpoch(reason: String) throws -> UInt64 {
        let e = try ledger.advanceEpoch()
        audit.record(AuditEvent(event: "epoch.advanced", subject: "operator", decision: .info, reason: "epoch is now \(e): \(reason)"))
        return e
    }

    /// Writes a final checkpoint and closes the audit log.
    public func close() throws(AuditLogError) { try audit.close() }
}
