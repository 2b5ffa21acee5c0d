import Synchronization

/// What a caller asks to do, in the terms the checks compare against.
public struct CapabilityRequest: Sendable, Equatable {
    /// The authenticated principal making the call (capsule instance id or `did:key`).
    public var caller: String
    public var action: Action
    public var resource: ResourceURI
    /// The provider's label for the resource (check 12).
    public var classification: Classification

    public init(caller: String, action: Action, resource: ResourceURI, classification: Classification = .public) {
        self.caller = caller; self.action = action; self.resource = resource; self.classification = classification
    }
}

/// A permitted use: the leaf link that authorised it.
public struct AuthorizedUse: Sendable, Equatable {
    public let tokenID: TokenID
    public let holder: String
    /// Uses left on the leaf after this one, if it is limited.
    public let remainingUses: UInt32?
}

/// Runs the twelve checks (docs/TOKENS.md, "The checks") and audits every decision.
///
/// The only thing cached is the fact that a given byte string's signatures verified: a repeat
/// presentation of the same bytes skips Ed25519, never any other check.
public final class CapabilityVerifier: Sendable {
    public let runtimeKey: PublicKey
    public let ledger: any CapabilityLedger
    public let audit: any AuditSink
    /// Seconds a token's issued-at may lie ahead of this node's clock.
    public let maxClockSkew: UInt64
    private let clock: @Sendable () -> UInt64
    private let cache: Mutex<SignatureCache>

    /// - Parameters:
    ///   - clock: current Unix time in seconds (injected: the core reads no clocks itself).
    ///   - cacheCapacity: how many verified tokens to remember; 0 disables the cache.
    public init(runtimeKey: PublicKey, ledger: any CapabilityLedger, audit: any AuditSink,
                maxClockSkew: UInt64 = 60, cacheCapacity: Int = 4096, clock: @escaping @Sendable () -> UInt64) {
        self.runtimeKey = runtimeKey
        self.ledger = ledger
        self.audit = audit
        self.maxClockSkew = maxClockSkew
        self.clock = clock
        self.cache = Mutex(SignatureCache(capacity: cacheCapacity))
    }

    /// Authorises `request` with the token in `encoded` (wire bytes), or explains why not.
    public func authorize(_ encoded: [UInt8], for request: CapabilityRequest) -> Result<AuthorizedUse, CapabilityError> {
        if let token = cache.withLock({ $0.lookup(encoded) }) {
            return finish(token, request: request, signaturesVerified: true)
        }
        let token: CapabilityToken
        do { token = try CapabilityToken(encoded: encoded) } catch {
            if case .unsupportedVersion(let v) = error { return deny(.unsupportedVersion(v), nil, request) }
            return deny(.malformed(error), nil, request)
        }
        return finish(token, request: request, signaturesVerified: false)
    }

    /// Authorises `request` with an already decoded token.
    public func authorize(_ token: CapabilityToken, for request: CapabilityRequest) -> Result<AuthorizedUse, CapabilityError> {
        let known = cache.withLock { $0.lookup(token.encoded) } != nil
        return finish(token, request: request, signaturesVerified: known)
    }

    private func finish(_ token: CapabilityToken, request: CapabilityRequest, signaturesVerified: Bool) -> Result<AuthorizedUse, CapabilityError> {
        switch evaluate(token, request: request, signaturesVerified: signaturesVerified) {
        case .failure(let e):
            return deny(e, token, request)
        case .success(let use):
            audit.record(AuditEvent(
                event: "capability.allowed", subject: request.caller, resource: request.resource.text,
                action: request.action.rawValue, decision: .allow, reason: "all checks passed",
                token: use.tokenID.description))
            return .success(use)
        }
    }

    private func deny(_ e: CapabilityError, _ token: CapabilityToken?, _ request: CapabilityRequest) -> Result<AuthorizedUse, CapabilityError> {
        audit.record(AuditEvent(
            event: e.auditEvent, subject: request.caller, resource: request.resource.text,
            action: request.action.rawValue, decision: .deny, reason: e.description,
            token: token?.id.description))
        return .failure(e)
    }

    /// The checks that do not depend on a request — 1–3 (format, signatures, chain to this
    /// runtime) and 7–10 (epoch, revocation, issued-at, validity window) — for offline
    /// inspection. Not audited, spends nothing.
    public func checkStanding(_ token: CapabilityToken) -> Result<AuthorizedUse, CapabilityError> {
        let known = cache.withLock { $0.lookup(token.encoded) } != nil
        return evaluate(token, request: nil, signaturesVerified: known, spend: false)
    }

    /// All twelve checks for `request`, without spending a use and without auditing: for
    /// operator tools that ask "would this be allowed?".
    public func dryRun(_ token: CapabilityToken, for request: CapabilityRequest) -> Result<AuthorizedUse, CapabilityError> {
        let known = cache.withLock { $0.lookup(token.encoded) } != nil
        return evaluate(token, request: request, signaturesVerified: known, spend: false)
    }

    private func evaluate(_ token: CapabilityToken, request: CapabilityRequest?, signaturesVerified: Bool, spend: Bool = true) -> Result<AuthorizedUse, CapabilityError> {
        let links = token.links
        let leaf = token.leaf

        // 1. Version (decoding only accepts v1; checked again so the order is explicit).
        guard token.encoded.first == CapabilityToken.version else {
            return .failure(.unsupportedVersion(token.encoded.first ?? 0))
        }
        // 2. Signatures of every link, each against the key it names.
        if !signaturesVerified {
            for (i, link) in links.enumerated() where !link.hasValidSignature {
                return .failure(.invalidSignature(link: i))
            }
            cache.withLock { $0.insert(token) }
        }
        // 3. Issuer: the root is this runtime, every later link narrows its parent and is signed
        //    by the runtime or by the parent's holder.
        guard links[0].issuer == runtimeKey else { return .failure(.untrustedIssuer) }
        for i in links.indices.dropFirst() {
            if let v = Delegation.violation(child: links[i], parent: links[i - 1], runtimeKey: runtimeKey) {
                return .failure(.invalidDelegation(link: i, v))
            }
        }
        if let request {
            // 4. Holder.
            guard leaf.holder == request.caller else { return .failure(.wrongHolder) }
            // 5. Action.
            guard leaf.actions.contains(request.action) else { return .failure(.actionNotGranted(request.action)) }
            // 6. Resource (canonical forms on both sides; narrowing makes every ancestor cover it).
            guard leaf.resource.matches(request.resource) else { return .failure(.resourceNotGranted) }
        }
        // 7. Epoch.
        let epoch = ledger.epoch
        for link in links where link.epoch < epoch {
            return .failure(.epochRevoked(tokenEpoch: link.epoch, currentEpoch: epoch))
        }
        // 8. Individual revocation, of the leaf or any ancestor.
        for link in links.reversed() where ledger.isRevoked(link.id) { return .failure(.revoked(link.id)) }
        let now = clock()
        // 9. Not issued in the future.
        for link in links where link.issuedAt > now &+ maxClockSkew {
            return .failure(.issuedInFuture(issuedAt: link.issuedAt))
        }
        // 10. Validity window: not before, not at or after expiry.
        for link in links {
            if let nb = link.notBefore, now < nb { return .failure(.notYetValid(notBefore: nb)) }
            if let exp = link.expiry, now >= exp { return .failure(.expired(at: exp)) }
        }
        guard let request else {
            return .success(AuthorizedUse(tokenID: leaf.id, holder: leaf.holder, remainingUses: leaf.maxUses.map { $0 - min($0, ledger.uses(of: leaf.id)) }))
        }
        // 11. Use count (every limited link in the chain counts this use). Peek first so the
        //     error order is kept, but only spend after check 12 passes.
        var demands: [UseDemand] = []
        for link in links {
            guard let max = link.maxUses else { continue }
            if ledger.uses(of: link.id) >= max { return .failure(.useLimitReached(max: max)) }
            demands.append(UseDemand(id: link.id, maxUses: max, expiry: link.expiry))
        }
        // 12. Classification.
        guard request.classification <= leaf.maxClassification else {
            return .failure(.classificationExceeded(requested: request.classification, allowed: leaf.maxClassification))
        }
        var remaining: UInt32?
        if !spend {
            remaining = leaf.maxUses.map { $0 - min($0, ledger.uses(of: leaf.id)) }
        } else if !demands.isEmpty {
            do {
                guard try ledger.consume(demands) else {
                    return .failure(.useLimitReached(max: demands.first { $0.id == leaf.id }?.maxUses ?? demands[0].maxUses))
                }
            } catch {
                return .failure(.ledgerUnavailable(String(describing: error)))
            }
            if let max = leaf.maxUses { remaining = max - min(max, ledger.uses(of: leaf.id)) }
        }
        return .success(AuthorizedUse(tokenID: leaf.id, holder: leaf.holder, remainingUses: remaining))
    }
}

/// Remembers token byte strings whose signatures verified. Keyed by the exact bytes, so a hit
/// means these very bytes were checked; evicts everything when full (simple and bounded).
struct SignatureCache {
    /// Exact token bytes as the key, hashed as one buffer (not byte by byte), compared in full.
    struct Key: Hashable {
        let bytes: [UInt8]
        func hash(into h: inout Hasher) { bytes.withUnsafeBytes { h.combine(bytes: $0) } }
        static func == (a: Key, b: Key) -> Bool { a.bytes == b.bytes }
    }

    let capacity: Int
    private var entries: [Key: CapabilityToken] = [:]

    init(capacity: Int) { self.capacity = capacity }

    func lookup(_ bytes: [UInt8]) -> CapabilityToken? { capacity > 0 ? entries[Key(bytes: bytes)] : nil }

    mutating func insert(_ token: CapabilityToken) {
        guard capacity > 0 else { return }
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[Key(bytes: token.encoded)] = token
    }
}
