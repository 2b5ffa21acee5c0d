public import ElastosCore

/// A call that passed the capability checks, as a provider sees it.
public struct ProviderCall: Sendable {
    public let session: Session
    public let resource: ResourceURI
    public let action: Action
    public let body: [UInt8]

    public init(session: Session, resource: ResourceURI, action: Action, body: [UInt8]) {
        self.session = session; self.resource = resource; self.action = action; self.body = body
    }
}

/// What a provider answers.
public enum ProviderResult: Sendable, Equatable {
    case ok([UInt8])
    case failed(code: CapsuleErrorCode, message: String)
}

/// Serves the resources under one or more URI prefixes. Called only after the runtime has
/// checked the caller's token for exactly this resource and action.
public protocol Provider: Sendable {
    /// A short name for logs and `elastos ps`.
    var name: String { get }
    /// The sensitivity of a resource (check 12). Default: public.
    func classification(of resource: ResourceURI) -> Classification
    func handle(_ call: ProviderCall) -> ProviderResult
}

extension Provider {
    public func classification(of resource: ResourceURI) -> Classification { .public }
}

/// Maps a URI to the provider that owns it: scheme + authority + path prefix, longest prefix
/// first. Routes are registered at start-up; capsules never see where a resource lives.
public final class ProviderRouter: Sendable {
    public struct Route: Sendable {
        public let prefix: ResourceURI
        public let provider: any Provider
    }

    private let routes: [Route]

    public init(_ routes: [(prefix: String, provider: any Provider)]) throws(ResourceError) {
        var r: [Route] = []
        for (p, provider) in routes { r.append(Route(prefix: try ResourceURI(p), provider: provider)) }
        self.routes = r.sorted { $0.prefix.segments.count > $1.prefix.segments.count }
    }

    /// The provider for a canonical resource, if any.
    public func provider(for resource: ResourceURI) -> (any Provider)? {
        for route in routes {
            let p = route.prefix
            guard p.scheme == resource.scheme, p.authority == resource.authority,
                resource.segments.count >= p.segments.count,
                Array(resource.segments.prefix(p.segments.count)) == p.segments
            else { continue }
            return route.provider
        }
        return nil
    }

    public var prefixes: [String] { routes.map(\.prefix.text) }
}

/// `elastos://runtime/echo`: answers with the body it was given. A diagnostic endpoint for
/// checking the whole path (frames, checks, audit, routing) from inside a capsule; it needs a
/// token like everything else.
public struct EchoProvider: Provider {
    public init() {}
    public var name: String { "runtime.echo" }
    public func handle(_ call: ProviderCall) -> ProviderResult {
        call.action == .read || call.action == .write ? .ok(call.body) : .failed(code: .providerFailed, message: "echo supports read and write")
    }
}

// MARK: Events

/// Where a provider delivers one subscription's events: each becomes an `event` frame (id 0)
/// with the subscription's number, pushed to the capsule without waiting.
public struct EventSink: Sendable {
    public let subscription: UInt32
    let push: @Sendable (RuntimeMessage, UInt32) -> Bool

    public init(subscription: UInt32, push: @escaping @Sendable (RuntimeMessage, UInt32) -> Bool) {
        self.subscription = subscription
        self.push = push
    }

    /// Pushes one event about `uri`; false if it was dropped (the capsule is not reading, the
    /// frame is over its limit, or it has gone). Providers count drops and say so.
    @discardableResult
    public func send(uri: String, body: [UInt8]) -> Bool {
        push(.event(subscription: subscription, uri: uri, body: body), 0)
    }
}

/// One live subscription, as the provider that feeds it holds it.
public protocol EventSubscription: Sendable {
    /// Stops the events (unsubscribe, or the capsule ended). Called once.
    func cancel()
}

/// What a provider answers to `subscribe`.
public enum SubscribeResult: Sendable {
    case subscribed(any EventSubscription)
    case failed(code: CapsuleErrorCode, message: String)
}

/// A provider that also pushes events (the capsule protocol's `subscribe`). Subscribing is
/// checked like a `read` of the URI: the token must grant read on it.
public protocol EventSource: Provider {
    func subscribe(_ call: ProviderCall, sink: EventSink) -> SubscribeResult
}
