public import ElastosCore
public import ElastosNode
import Foundation
import ElastosWasm
import Synchronization

/// Decides `request_capability`. The shell capsule takes this role in a later issue; until
/// then the runtime's own policy is deny-by-default (see ``DeclaredCapabilityPolicy``).
public protocol CapabilityPolicy: Sendable {
    func decide(_ request: CapabilityAsk) -> PolicyDecision
}

public struct CapabilityAsk: Sendable {
    public let session: Session
    public let resource: ResourcePattern
    public let actions: ActionSet
    public let reason: String
    public let declared: [DeclaredCapability]
}

public enum PolicyDecision: Sendable, Equatable {
    /// Grant with these limits (holder and resource are filled in by the runtime).
    case grant(expiresIn: UInt64, maxUses: UInt32?)
    case deny(reason: String)
}

/// Grants a request only if the capsule's manifest declared a capability that covers it, the
/// capsule is signed by a trusted publisher or this node, and the operator opted in when
/// launching (`elastos run --allow-declared`). Tokens last at most an hour. Everything else is
/// denied: untrusted capsules are never auto-granted anything.
public struct DeclaredCapabilityPolicy: CapabilityPolicy {
    public let allowDeclared: Bool
    public init(allowDeclared: Bool) { self.allowDeclared = allowDeclared }

    public func decide(_ ask: CapabilityAsk) -> PolicyDecision {
        guard ask.session.trust != .untrusted else {
            return .deny(reason: "capsule \(ask.session.capsule) is from an untrusted publisher; nothing is granted automatically")
        }
        guard ask.declared.contains(where: { ask.resource.isSubset(of: $0.resource) && ask.actions.isSubset(of: $0.actions) }) else {
            return .deny(reason: "the capsule's manifest does not declare \(ask.actions) on \(ask.resource)")
        }
        guard allowDeclared else {
            return .deny(reason: "no shell is running to ask; launch with --allow-declared to grant what the manifest declares")
        }
        return .grant(expiresIn: 3600, maxUses: nil)
    }
}

/// Answers one session's capsule-protocol requests: every `call` passes the twelve checks with
/// the session as the caller, and every decision is audited.
public final class SessionHandler: Sendable {
    public let session: Session
    public let node: Node
    public let router: ProviderRouter
    public let policy: any CapabilityPolicy
    public let declared: [DeclaredCapability]

    /// How many subscriptions one session may hold at once.
    public static let maxSubscriptions = 64

    /// The capsule's push path and its live subscriptions.
    private let events = Mutex(EventState())

    private struct EventState {
        var push: (@Sendable (RuntimeMessage, UInt32) -> Bool)?
        var subscriptions: [UInt32: any EventSubscription] = [:]
        var nextID: UInt32 = 1
        var closed = false
    }

    public init(session: Session, node: Node, router: ProviderRouter, policy: any CapabilityPolicy, declared: [DeclaredCapability]) {
        self.session = session; self.node = node; self.router = router; self.policy = policy; self.declared = declared
    }

    /// The capsule's connection is up: events for its subscriptions go through `push`.
    public func connected(push: @escaping @Sendable (RuntimeMessage, UInt32) -> Bool) {
        events.withLock { $0.push = push }
    }

    /// The capsule is gone: every subscription it held ends, and no new one can start.
    public func disconnected() {
        let ended = events.withLock { state -> [any EventSubscription] in
            state.closed = true
            state.push = nil
            defer { state.subscriptions = [:] }
            return Array(state.subscriptions.values)
        }
        for subscription in ended { subscription.cancel() }
    }

    /// How many subscriptions the session holds (for tests and `elastos ps`).
    public var subscriptionCount: Int { events.withLock { $0.subscriptions.count } }

    public func handle(_ request: CapsuleRequest, id: UInt32) -> RuntimeMessage {
        switch request {
        case .ping:
            return .reply(body: [])
        case .info:
            let info = "{\"session\":\"\(session.id)\",\"capsule\":\"\(session.capsule)\",\"cid\":\"\(session.cid)\",\"substrate\":\"\(session.substrate)\",\"protocol\":\(CapsuleFrame.version)}"
            return .reply(body: Array(info.utf8))
        case .call(let uri, let action, let token, let body):
            return call(uri: uri, action: action, token: token, body: body)
        case .requestCapability(let uri, let actions, let reason):
            return requestCapability(uri: uri, actions: actions, reason: reason)
        case .subscribe(let uri, let token):
            return subscribe(uri: uri, token: token)
        case .unsubscribe(let s):
            guard let subscription = events.withLock({ $0.subscriptions.removeValue(forKey: s) }) else {
                return .error(code: .unknownSubscription, message: "no subscription \(s)")
            }
            subscription.cancel()
            return .reply(body: [])
        case .served, .serveFailed:
            // Answers to `serve` are taken by the channel of a provider capsule; here there is
            // no call they could answer.
            audit("sandbox.refused", resource: "serve", action: "answer", decision: .deny,
                  reason: SandboxRefusal.unexpectedAnswer(id: id).description)
            return .error(code: .invalidRequest, message: "this capsule was handed no call to answer")
        }
    }

    private func call(uri: String, action: Action, token: [UInt8], body: [UInt8]) -> RuntimeMessage {
        let resource: ResourceURI
        do { resource = try ResourceURI(uri) } catch {
            audit("call.denied.invalid-uri", resource: String(uri.prefix(256)), action: action.rawValue, decision: .deny, reason: error.description)
            return .error(code: .invalidURI, message: error.description)
        }
        guard !token.isEmpty else {
            audit("call.denied.missing-token", resource: resource.text, action: action.rawValue, decision: .deny, reason: "no token presented")
            return .error(code: .missingToken, message: "\(action) on \(resource) needs a capability token; ask with request_capability")
        }
        let provider = router.provider(for: resource)
        let request = CapabilityRequest(caller: session.principal, action: action, resource: resource,
                                        classification: provider?.classification(of: resource) ?? .public)
        switch node.verifier.authorize(token, for: request) {
        case .failure(let e):
            return .error(code: .denied, message: "\(e) — \(e.check.map { "check \($0.rawValue), \($0.name)" } ?? "format")")
        case .success:
            break
        }
        guard let provider else {
            audit("call.failed.no-provider", resource: resource.text, action: action.rawValue, decision: .deny, reason: "no provider serves this URI")
            return .error(code: .noProvider, message: "nothing serves \(resource)")
        }
        switch provider.handle(ProviderCall(session: session, resource: resource, action: action, body: body)) {
        case .ok(let reply): return .reply(body: reply)
        case .failed(let code, let message): return .error(code: code, message: message)
        }
    }

    /// `subscribe`: checked exactly like a `read` of the URI, then handed to the provider that
    /// owns it, which must publish events. The reply body is the subscription number (u32).
    private func subscribe(uri: String, token: [UInt8]) -> RuntimeMessage {
        let resource: ResourceURI
        do { resource = try ResourceURI(uri) } catch {
            audit("call.denied.invalid-uri", resource: String(uri.prefix(256)), action: "subscribe", decision: .deny, reason: error.description)
            return .error(code: .invalidURI, message: error.description)
        }
        guard !token.isEmpty else {
            audit("call.denied.missing-token", resource: resource.text, action: "subscribe", decision: .deny, reason: "no token presented")
            return .error(code: .missingToken, message: "subscribing to \(resource) needs a token granting read on it; ask with request_capability")
        }
        let provider = router.provider(for: resource)
        let request = CapabilityRequest(caller: session.principal, action: .read, resource: resource,
                                        classification: provider?.classification(of: resource) ?? .public)
        if case .failure(let e) = node.verifier.authorize(token, for: request) {
            return .error(code: .denied, message: "\(e) — \(e.check.map { "check \($0.rawValue), \($0.name)" } ?? "format")")
        }
        guard let source = provider as? any EventSource else {
            audit("call.failed.no-provider", resource: resource.text, action: "subscribe", decision: .deny,
                  reason: provider == nil ? "no provider serves this URI" : "its provider publishes no events")
            return .error(code: .noProvider, message: provider == nil ? "nothing serves \(resource)" : "nothing publishes events for \(resource)")
        }
        let reserved = events.withLock { state -> (UInt32, @Sendable (RuntimeMessage, UInt32) -> Bool)? in
            guard !state.closed, let push = state.push, state.subscriptions.count < Self.maxSubscriptions else { return nil }
            let id = state.nextID
            state.nextID = state.nextID == .max ? 1 : state.nextID + 1
            return (id, push)
        }
        guard let (id, push) = reserved else {
            return .error(code: .rateLimited, message: "a session may hold at most \(Self.maxSubscriptions) subscriptions (or its connection is closing)")
        }
        switch source.subscribe(ProviderCall(session: session, resource: resource, action: .read, body: []), sink: EventSink(subscription: id, push: push)) {
        case .failed(let code, let message):
            return .error(code: code, message: message)
        case .subscribed(let subscription):
            let kept = events.withLock { state -> Bool in
                guard !state.closed else { return false }
                state.subscriptions[id] = subscription
                return true
            }
            guard kept else {
                subscription.cancel()
                return .error(code: .providerFailed, message: "the capsule's connection closed while subscribing")
            }
            return .reply(body: [UInt8(id >> 24), UInt8((id >> 16) & 0xFF), UInt8((id >> 8) & 0xFF), UInt8(id & 0xFF)])
        }
    }

    private func requestCapability(uri: String, actions: ActionSet, reason: String) -> RuntimeMessage {
        let pattern: ResourcePattern
        do { pattern = try ResourcePattern(uri) } catch {
            return .error(code: .invalidURI, message: error.description)
        }
        let ask = CapabilityAsk(session: session, resource: pattern, actions: actions, reason: reason, declared: declared)
        switch policy.decide(ask) {
        case .deny(let why):
            audit("capability.refused", resource: pattern.text, action: actions.description, decision: .deny, reason: why)
            return .error(code: .capabilityRefused, message: why)
        case .grant(let expiresIn, let maxUses):
            let now = Node.systemClock()
            let grant = Grant(holder: session.principal, resource: pattern, actions: actions, expiry: now + expiresIn, maxUses: maxUses)
            do {
                let token = try node.issue(grant, now: now, reason: "granted by the shell on request")
                audit("capability.granted", resource: pattern.text, action: actions.description, decision: .allow,
                      reason: "policy granted: \(reason)", token: token.id.description)
                return .reply(body: token.encoded)
            } catch {
                return .error(code: .internalError, message: error.description)
            }
        }
    }

    private func audit(_ event: String, resource: String, action: String, decision: AuditDecision, reason: String, token: String? = nil) {
        node.audit.record(AuditEvent(event: event, subject: session.principal, resource: resource, action: action,
                                     decision: decision, reason: reason, token: token))
    }
}
