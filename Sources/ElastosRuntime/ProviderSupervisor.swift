import ElastosCore
import Foundation
import Synchronization

/// Keeps a provider capsule running for as long as the node runs: when it ends (it crashed, was
/// killed, hit a limit, or an operator stopped it), a new one is launched and bound to the same
/// route, after a back-off that grows while it keeps dying young. Calls that arrive in the gap
/// wait for the new capsule (``CapsuleProvider/setReplacedWhenGone(_:)``) instead of failing; a
/// call that was inside the old capsule when it died still fails with `provider_failed`.
///
/// Each restart is audited (`provider.restarted`); after ``maxQuickFailures`` deaths in a row,
/// each within ``stableAfter`` of its start, it gives up (`provider.gave-up`) and calls fail.
public final class ProviderSupervisor: Sendable {
    public let provider: CapsuleProvider
    private let runtime: RuntimeNode
    private let launch: @Sendable () throws -> Session
    private let state = Mutex(State())
    /// A capsule that ran this long before ending is restarted at once and the count starts over.
    public let stableAfter: Duration
    public let maxQuickFailures: Int

    private struct State {
        var current: Session?
        var stopping = false
        var restarts = 0
    }

    /// `launch` starts the provider capsule and binds it to `provider` (as
    /// ``RuntimeNode/launchProvider(_:as:args:stdio:policy:)`` does).
    public init(runtime: RuntimeNode, provider: CapsuleProvider, stableAfter: Duration = .seconds(60),
                maxQuickFailures: Int = 8, launch: @escaping @Sendable () throws -> Session) {
        self.runtime = runtime
        self.provider = provider
        self.stableAfter = stableAfter
        self.maxQuickFailures = maxQuickFailures
        self.launch = launch
    }

    /// Launches the first capsule (its failure is the caller's) and starts watching it.
    public func start() throws -> Session {
        let session = try launch()
        state.withLock { $0.current = session }
        provider.setReplacedWhenGone(true)
        let thread = Thread { [self] in watch(session) }
        thread.name = "supervisor \(provider.name)"
        thread.start()
        return session
    }

    /// The provider session running now, if any.
    public var current: Session? { state.withLock { $0.current } }

    /// How many times the capsule has been restarted.
    public var restarts: Int { state.withLock { $0.restarts } }

    /// No more restarts: call before stopping the node's capsules.
    public func shutdown() {
        state.withLock { $0.stopping = true }
        provider.setReplacedWhenGone(false)
    }

    private var stopping: Bool { state.withLock { $0.stopping } }

    /// The delay before restart number `failures` (1, 2, …) of a capsule that keeps dying young.
    static func backoff(afterQuickFailures failures: Int) -> Duration {
        guard failures > 1 else { return .milliseconds(100) }
        return min(.seconds(30), .milliseconds(250) * (1 << min(failures - 2, 8)))
    }

    private func watch(_ first: Session) {
        var session = first
        var quickFailures = 0
        while true {
            let startedAt = ContinuousClock.now
            let ended = runtime.wait(session.id)
            if stopping { return }
            quickFailures = ContinuousClock.now - startedAt >= stableAfter ? 1 : quickFailures + 1
            guard quickFailures <= maxQuickFailures else {
                state.withLock { $0.current = nil }
                provider.setReplacedWhenGone(false)
                runtime.node.audit.record(AuditEvent(
                    event: "provider.gave-up", subject: session.principal, resource: provider.name, decision: .deny,
                    reason: "the \(provider.name) provider capsule ended \(maxQuickFailures) times in a row, each within \(stableAfter) of starting (last: \(ended)); calls fail until the node restarts"))
                return
            }
            let delay = Self.backoff(afterQuickFailures: quickFailures)
            Thread.sleep(forTimeInterval: Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18)
            while !stopping {
                do {
                    let next = try launch()
                    let count = state.withLock { s in s.current = next; s.restarts += 1; return s.restarts }
                    runtime.node.audit.record(AuditEvent(
                        event: "provider.restarted", subject: next.principal, resource: provider.name, decision: .info,
                        reason: "the previous \(provider.name) provider capsule (session \(session.id.prefix(8))) \(ended); restart \(count)"))
                    session = next
                    break
                } catch {
                    quickFailures += 1
                    runtime.node.audit.record(AuditEvent(
                        event: "provider.restart-failed", subject: session.principal, resource: provider.name, decision: .deny,
                        reason: "\(error)"))
                    guard quickFailures <= maxQuickFailures else {
                        state.withLock { $0.current = nil }
                        provider.setReplacedWhenGone(false)
                        return
                    }
                    let delay = Self.backoff(afterQuickFailures: quickFailures)
                    Thread.sleep(forTimeInterval: Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18)
                }
            }
            if stopping { return }
        }
    }
}
