// The Sendable face of one Yamux stream: every call hops to the connection's event loop, where
// the session lives, and waits on a future.
import NIOCore

struct YamuxStreamHandle: Sendable {
    let id: UInt32
    let session: NIOLoopBound<YamuxSession>
    /// The owning node's gate (see LoopGate).
    var gate: LoopGate = .alwaysOpen

    var eventLoop: any EventLoop { session.eventLoop }

    func read() async throws -> [UInt8]? {
        try await gate.flatSubmit(on: eventLoop) {
            let promise = eventLoop.makePromise(of: [UInt8]?.self)
            session.value.read(id, promise: promise)
            return promise.futureResult
        }.get()
    }

    func write(_ bytes: [UInt8]) async throws {
        try await gate.flatSubmit(on: eventLoop) {
            let promise = eventLoop.makePromise(of: Void.self)
            session.value.write(id, bytes, promise: promise)
            return promise.futureResult
        }.get()
    }

    func closeWrite() async throws {
        try await gate.flatSubmit(on: eventLoop) {
            let promise = eventLoop.makePromise(of: Void.self)
            session.value.closeWrite(id, promise: promise)
            return promise.futureResult
        }.get()
    }

    func unread(_ bytes: [UInt8]) async throws {
        try await gate.flatSubmit(on: eventLoop) { eventLoop.makeSucceededFuture(session.value.unread(id, bytes)) }.get()
    }

    func reset() {
        gate.execute(on: eventLoop) { session.value.reset(id) }
    }
}
