// Work handed to a node's event loops after the node has stopped would be dropped by SwiftNIO
// with its promise never completed (a fatal "leaking promise" in debug builds, a hang in
// release). Stream operations therefore pass this gate: the node closes it before shutting its
// loops down, and the check and the hand-off happen under one lock, so nothing gets in after.
import NIOConcurrencyHelpers
import NIOCore

final class LoopGate: Sendable {
    /// For handles made before they are known to belong to a node; never closed.
    static let alwaysOpen = LoopGate()

    private let open = NIOLockedValueBox(true)

    func close() { open.withLockedValue { $0 = false } }

    /// `loop.flatSubmit(task)`, or a `sessionClosed` error once the gate is closed.
    func flatSubmit<T: Sendable>(on loop: any EventLoop, _ task: @escaping @Sendable () -> EventLoopFuture<T>) throws(YamuxError) -> EventLoopFuture<T> {
        let future: EventLoopFuture<T>? = open.withLockedValue { isOpen in isOpen ? loop.flatSubmit(task) : nil }
        guard let future else { throw .sessionClosed }
        return future
    }

    /// `loop.execute(task)`, unless the gate is closed.
    func execute(on loop: any EventLoop, _ task: @escaping @Sendable () -> Void) {
        open.withLockedValue { isOpen in if isOpen { loop.execute(task) } }
    }
}
