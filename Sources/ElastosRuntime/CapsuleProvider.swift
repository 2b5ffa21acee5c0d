import CapsuleWire
import Synchronization

/// A provider that is a capsule (role `provider`): calls that passed the checks are handed to
/// the running provider capsule over its channel as `serve` frames and its `served` /
/// `serve_failed` answer goes back to the caller (docs/CAPSULE-PROTOCOL.md, "Provider
/// capsules"). The router holds this object from start-up; the capsule behind it is bound
/// when it starts and may be replaced when it is restarted.
public final class CapsuleProvider: Provider {
    public let name: String
    /// How long a call may wait for the capsule's answer.
    public let timeout: Duration
    private let channel = Mutex<CapsuleChannel?>(nil)

    public init(name: String, timeout: Duration = .seconds(30)) {
        self.name = name
        self.timeout = timeout
    }

    /// Routes calls to `channel` from now on.
    public func bind(_ channel: CapsuleChannel) { self.channel.withLock { $0 = channel } }

    /// Whether a provider capsule has been bound (it may have ended since).
    public var isBound: Bool { channel.withLock { $0 != nil } }

    public func handle(_ call: ProviderCall) -> ProviderResult {
        guard let channel = channel.withLock({ $0 }) else {
            return .failed(code: .providerFailed, message: "the \(name) provider capsule is not running")
        }
        return channel.serve(caller: call.session.principal, uri: call.resource.text, action: call.action,
                             body: call.body, timeout: timeout)
    }
}
