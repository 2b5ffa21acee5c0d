public import CapsuleWire
import Foundation
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
    private let state = Mutex(State())

    private struct State {
        var channel: CapsuleChannel?
        /// Set while a supervisor will replace a capsule that ends.
        var replacedWhenGone = false
    }

    public init(name: String, timeout: Duration = .seconds(30)) {
        self.name = name
        self.timeout = timeout
    }

    /// Binds the running provider capsule's channel; calls go to it from now on.
    public func bind(_ channel: CapsuleChannel) {
        state.withLock { $0.channel = channel }
    }

    /// How long a call that finds the capsule gone waits for its replacement.
    public static let replacementWait: Duration = .seconds(15)

    /// Whether a capsule that ends will be replaced (a ``ProviderSupervisor`` sets this): if
    /// so, calls that find no live capsule wait for the next one, up to ``replacementWait``,
    /// instead of failing at once.
    public func setReplacedWhenGone(_ replaced: Bool) {
        state.withLock { $0.replacedWhenGone = replaced }
    }

    /// Whether a provider capsule has been bound (it may have ended since).
    public var isBound: Bool { state.withLock { $0.channel != nil } }

    public func handle(_ call: ProviderCall) -> ProviderResult {
        serve(caller: call.session.principal, uri: call.resource.text, action: call.action, body: call.body)
    }

    /// Hands the bound capsule one call (already checked, or the runtime's own) and waits for its answer.
    public func serve(caller: String, uri: String, action: Action, body: [UInt8]) -> ProviderResult {
        guard let channel = liveChannel() else {
            return .failed(code: .providerFailed, message: "the \(name) provider capsule is not running")
        }
        return channel.serve(caller: caller, uri: uri, action: action, body: body, timeout: timeout)
    }

    /// The bound channel if it is open; if a replacement is coming, waits for it.
    private func liveChannel() -> CapsuleChannel? {
        let deadline = ContinuousClock.now + Self.replacementWait
        while true {
            let (channel, replaced) = state.withLock { ($0.channel, $0.replacedWhenGone) }
            if let channel, channel.isOpen { return channel }
            guard replaced, ContinuousClock.now < deadline else { return channel }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }
}
