/// The narrowing rules between a delegated link and its parent. Checked when a delegation is
/// made and again on every use (check 3), so a token that widens anything never verifies.
enum Delegation {
    static func violation(child: TokenLink, parent: TokenLink, runtimeKey: PublicKey) -> DelegationViolation? {
        if parent.delegationDepth == 0 { return .parentNotDelegatable }
        if child.delegationDepth >= parent.delegationDepth { return .depthNotDecreasing }
        if child.parent != parent.digest { return .wrongParent }
        if child.issuer != runtimeKey && child.issuer != parent.holderDID?.publicKey { return .signerIsNotParentHolder }
        if !child.resource.isSubset(of: parent.resource) { return .resourceWidened }
        if !child.actions.isSubset(of: parent.actions) { return .actionsWidened }
        if let pe = parent.expiry, (child.expiry ?? .max) > pe { return .expiryExtended }
        if let pn = parent.notBefore, (child.notBefore ?? 0) < pn { return .notBeforeEarlier }
        if let pu = parent.maxUses, (child.maxUses ?? .max) > pu { return .usesIncreased }
        if child.maxClassification > parent.maxClassification { return .classificationRaised }
        if child.epoch < parent.epoch { return .epochLowered }
        if child.issuedAt < parent.issuedAt { return .issuedBeforeParent }
        return nil
    }
}

/// What a new grant or delegation should allow. Unset optional fields mean "no limit" for a
/// root grant and "the parent's value" for a delegation.
public struct Grant: Sendable {
    public var holder: String
    public var resource: ResourcePattern
    public var actions: ActionSet
    public var expiry: UInt64?
    public var notBefore: UInt64?
    public var maxUses: UInt32?
    public var maxClassification: Classification
    public var delegationDepth: UInt8

    public init(holder: String, resource: ResourcePattern, actions: ActionSet, expiry: UInt64? = nil,
                notBefore: UInt64? = nil, maxUses: UInt32? = nil, maxClassification: Classification = .public,
                delegationDepth: UInt8 = 0) {
        self.holder = holder; self.resource = resource; self.actions = actions; self.expiry = expiry
        self.notBefore = notBefore; self.maxUses = maxUses; self.maxClassification = maxClassification
        self.delegationDepth = delegationDepth
    }
}

/// Why a grant could not be issued.
public enum IssuanceError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidHolder
    case emptyActions
    case zeroMaxUses
    case depthTooLarge(UInt8)
    case expiryNotAfterIssue
    case delegation(DelegationViolation)
    case chainTooLong

    public var description: String {
        switch self {
        case .invalidHolder: "holder must be 1–256 printable ASCII characters (a capsule instance id or a did:key)"
        case .emptyActions: "a grant needs at least one action"
        case .zeroMaxUses: "max uses must be at least 1"
        case .depthTooLarge(let d): "delegation depth \(d) is over the limit of \(CapabilityToken.maxChainLength - 1)"
        case .expiryNotAfterIssue: "expiry must be later than the time of issue"
        case .delegation(let v): "delegation refused: \(v)"
        case .chainTooLong: "a token chain may have at most \(CapabilityToken.maxChainLength) links"
        }
    }
}

/// Mints root tokens with the runtime key, and delegations with the runtime key or a holder's.
public struct TokenIssuer: Sendable {
    public let key: SigningKey

    public init(key: SigningKey) { self.key = key }

    /// A root grant signed by this issuer (the runtime).
    public func issue(_ grant: Grant, epoch: UInt64, now: UInt64, id: TokenID = .random()) throws(IssuanceError) -> CapabilityToken {
        let body = try Self.body(grant, issuer: key.publicKey, epoch: epoch, now: now, id: id, parent: nil)
        return CapabilityToken(links: [body.signed(by: key)])
    }

    /// Delegates `parent` to a new holder, narrowing it to `grant`. Unset optional limits are
    /// inherited from the parent. This issuer's key must be the runtime's or the parent holder's.
    public func delegate(_ parent: CapabilityToken, _ grant: Grant, now: UInt64, id: TokenID = .random()) throws(IssuanceError) -> CapabilityToken {
        guard parent.links.count < CapabilityToken.maxChainLength else { throw .chainTooLong }
        let p = parent.leaf
        var g = grant
        g.expiry = g.expiry ?? p.expiry
        g.notBefore = g.notBefore ?? p.notBefore
        g.maxUses = g.maxUses ?? p.maxUses
        let body = try Self.body(g, issuer: key.publicKey, epoch: p.epoch, now: max(now, p.issuedAt), id: id, parent: p.digest)
        let link = body.signed(by: key)
        if let v = Delegation.violation(child: link, parent: p, runtimeKey: parent.root.issuer) {
            throw .delegation(v)
        }
        return CapabilityToken(links: parent.links + [link])
    }

    private static func body(_ g: Grant, issuer: PublicKey, epoch: UInt64, now: UInt64, id: TokenID, parent: [UInt8]?) throws(IssuanceError) -> TokenLink.Body {
        guard TokenLink.isValidHolder(g.holder) else { throw .invalidHolder }
        guard !g.actions.isEmpty else { throw .emptyActions }
        if g.maxUses == 0 { throw .zeroMaxUses }
        guard Int(g.delegationDepth) < CapabilityToken.maxChainLength else { throw .depthTooLarge(g.delegationDepth) }
        if let e = g.expiry, e <= now { throw .expiryNotAfterIssue }
        return TokenLink.Body(
            id: id, issuer: issuer, holder: g.holder, resource: g.resource, actions: g.actions, epoch: epoch,
            maxClassification: g.maxClassification, delegationDepth: g.delegationDepth, issuedAt: now,
            notBefore: g.notBefore, expiry: g.expiry, maxUses: g.maxUses, parent: parent)
    }
}
