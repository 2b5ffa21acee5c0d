/// The twelve checks every invocation passes, in the order they run. Each failure has its own
/// ``CapabilityError`` case and its own audit event (`capability.denied.<name>`).
public enum CapabilityCheck: Int, CaseIterable, Sendable, CustomStringConvertible {
    case version = 1, signature, issuer, holder, action, resource, epoch, revocation, issuedAt, validity, useCount, classification

    public var name: String {
        switch self {
        case .version: "version"
        case .signature: "signature"
        case .issuer: "issuer"
        case .holder: "holder"
        case .action: "action"
        case .resource: "resource"
        case .epoch: "epoch"
        case .revocation: "revocation"
        case .issuedAt: "issued-at"
        case .validity: "expiry"
        case .useCount: "use-count"
        case .classification: "classification"
        }
    }

    public var auditEvent: String { "capability.denied." + name }
    public var description: String { "check \(rawValue) (\(name))" }
}

/// How a delegated link failed to narrow its parent (part of check 3: the chain must lead back to
/// the runtime by narrowing only).
public enum DelegationViolation: Error, Equatable, Sendable, CustomStringConvertible {
    case parentNotDelegatable
    case depthNotDecreasing
    case resourceWidened
    case actionsWidened
    case expiryExtended
    case notBeforeEarlier
    case usesIncreased
    case classificationRaised
    case epochLowered
    case issuedBeforeParent
    case wrongParent
    case signerIsNotParentHolder

    public var description: String {
        switch self {
        case .parentNotDelegatable: "the parent may not be delegated further (depth 0)"
        case .depthNotDecreasing: "delegation depth must be strictly less than the parent's"
        case .resourceWidened: "the resource is not inside the parent's resource"
        case .actionsWidened: "the actions are not a subset of the parent's"
        case .expiryExtended: "the expiry is later than the parent's (or missing where the parent has one)"
        case .notBeforeEarlier: "the not-before time is earlier than the parent's"
        case .usesIncreased: "the use limit is higher than the parent's (or missing where the parent has one)"
        case .classificationRaised: "the classification ceiling is higher than the parent's"
        case .epochLowered: "the epoch is lower than the parent's"
        case .issuedBeforeParent: "the link claims to be issued before its parent"
        case .wrongParent: "the link does not name its parent's digest"
        case .signerIsNotParentHolder: "the link is signed by neither the runtime nor the parent's holder"
        }
    }
}

/// Why an invocation was denied. Messages never echo the expected holder or the token's
/// pattern back to the caller (docs/TOKENS.md, "Errors").
public enum CapabilityError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(TokenDecodingError)
    case unsupportedVersion(UInt8)
    case invalidSignature(link: Int)
    case untrustedIssuer
    case invalidDelegation(link: Int, DelegationViolation)
    case wrongHolder
    case actionNotGranted(Action)
    case resourceNotGranted
    case epochRevoked(tokenEpoch: UInt64, currentEpoch: UInt64)
    case revoked(TokenID)
    case issuedInFuture(issuedAt: UInt64)
    case notYetValid(notBefore: UInt64)
    case expired(at: UInt64)
    case useLimitReached(max: UInt32)
    case ledgerUnavailable(String)
    case classificationExceeded(requested: Classification, allowed: Classification)

    /// The check that failed; nil for bytes that never decoded into a token.
    public var check: CapabilityCheck? {
        switch self {
        case .malformed: nil
        case .unsupportedVersion: .version
        case .invalidSignature: .signature
        case .untrustedIssuer, .invalidDelegation: .issuer
        case .wrongHolder: .holder
        case .actionNotGranted: .action
        case .resourceNotGranted: .resource
        case .epochRevoked: .epoch
        case .revoked: .revocation
        case .issuedInFuture: .issuedAt
        case .notYetValid, .expired: .validity
        case .useLimitReached, .ledgerUnavailable: .useCount
        case .classificationExceeded: .classification
        }
    }

    /// The audit event recorded for this denial.
    public var auditEvent: String { check?.auditEvent ?? "capability.denied.malformed" }

    public var description: String {
        switch self {
        case .malformed(let e): "malformed token: \(e)"
        case .unsupportedVersion(let v): "token format version \(v) is not supported"
        case .invalidSignature(let l): "token signature is invalid (link \(l))"
        case .untrustedIssuer: "token was not issued by this runtime"
        case .invalidDelegation(let l, let v): "token delegation chain is invalid at link \(l): \(v)"
        case .wrongHolder: "token is not held by the caller"
        case .actionNotGranted(let a): "token does not grant '\(a)'"
        case .resourceNotGranted: "token does not cover the requested resource"
        case .epochRevoked(let t, let c): "token was revoked by an epoch change (token epoch \(t), current \(c))"
        case .revoked(let id): "token \(id) has been revoked"
        case .issuedInFuture(let t): "token claims to be issued in the future (at \(t))"
        case .notYetValid(let t): "token is not valid before \(t)"
        case .expired(let t): "token expired at \(t)"
        case .useLimitReached(let m): "token use limit of \(m) is reached"
        case .ledgerUnavailable(let why): "token use could not be recorded, so it is denied: \(why)"
        case .classificationExceeded(let r, let a): "resource is classified \(r), the token allows at most \(a)"
        }
    }
}
