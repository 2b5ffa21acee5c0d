import Synchronization

/// One token link whose use must be counted against its limit.
public struct UseDemand: Sendable, Hashable {
    public let id: TokenID
    public let maxUses: UInt32
    /// When the link stops being valid anyway: after this its counter can be forgotten.
    public let expiry: UInt64?

    public init(id: TokenID, maxUses: UInt32, expiry: UInt64?) {
        self.id = id; self.maxUses = maxUses; self.expiry = expiry
    }
}

/// The runtime's mutable capability state: epoch, revocations and use counts. The node keeps a
/// persistent implementation under its home (`ElastosNode.PersistentLedger`); the core only
/// depends on this contract.
public protocol CapabilityLedger: Sendable {
    /// Tokens with an epoch below this are revoked.
    var epoch: UInt64 { get }
    func isRevoked(_ id: TokenID) -> Bool
    /// How many times the link has been used.
    func uses(of id: TokenID) -> UInt32
    /// Atomically adds one use to every demand, only if every one of them is below its limit.
    /// Returns false (and changes nothing) if any limit is reached. Throws if the use could not
    /// be made durable; the caller must then deny.
    func consume(_ demands: [UseDemand]) throws -> Bool
    /// Revokes a token id. `expiry` lets the entry be dropped once the token is dead anyway.
    func revoke(_ id: TokenID, expiry: UInt64?) throws
    /// Moves the epoch forward by one, revoking every token issued before. Returns the new epoch.
    func advanceEpoch() throws -> UInt64
}

/// A ledger held in memory only: for tests, benchmarks and offline verification.
public final class InMemoryLedger: CapabilityLedger {
    private struct State {
        var epoch: UInt64 = 0
        var revoked: Set<TokenID> = []
        var uses: [TokenID: UInt32] = [:]
    }
    private let state = Mutex(State())

    public init(epoch: UInt64 = 0) { state.withLock { $0.epoch = epoch } }

    public var epoch: UInt64 { state.withLock { $0.epoch } }
    public func isRevoked(_ id: TokenID) -> Bool { state.withLock { $0.revoked.contains(id) } }
    public func uses(of id: TokenID) -> UInt32 { state.withLock { $0.uses[id] ?? 0 } }

    public func consume(_ demands: [UseDemand]) throws -> Bool {
        state.withLock { s in
            for d in demands where (s.uses[d.id] ?? 0) >= d.maxUses { return false }
            for d in demands { s.uses[d.id, default: 0] += 1 }
            return true
        }
    }

    public func revoke(_ id: TokenID, expiry: UInt64?) throws { _ = state.withLock { $0.revoked.insert(id) } }

    public func advanceEpoch() throws -> UInt64 {
        state.withLock { s in
            s.epoch += 1
            return s.epoch
        }
    }
}
