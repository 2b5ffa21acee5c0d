#if canImport(Glibc)
import Glibc
#endif
public import CapsuleWire
public import ElastosWasm
import Foundation
import Synchronization

/// The runtime's end of a native capsule's connection (docs/CAPSULE-PROTOCOL.md, frames over a
/// stream socket): one reader thread decodes frames, hands requests to the handler and writes
/// the replies; events are pushed down the same socket from any thread.
///
/// Outside bytes never crash it: a malformed frame within the size limit gets an `error` reply
/// and is skipped; a frame over the limit gets `frame_too_large` and ends the connection.
public final class CapsuleChannel: Sendable {
    /// The descriptor, -1 once closed; every use of it happens under this lock, so a closed
    /// number (which the kernel may hand out again) is never written to.
    private let socket: Mutex<Int32>
    private let handler: any CapsuleRequestHandler
    public let maxFrameLength: Int
    /// Calls handed to the capsule with `serve` and not yet answered (provider capsules).
    private let served = Mutex(ServedCalls())

    /// Takes ownership of `fd`, a connected stream socket.
    public init(fd: Int32, handler: any CapsuleRequestHandler, maxFrameLength: Int = CapsuleFrame.defaultMaxLength) {
        socket = Mutex(fd)
        self.handler = handler
        self.maxFrameLength = maxFrameLength
    }

    /// Starts the reader thread; it closes the socket when the capsule's end closes.
    public func start(name: String) {
        handler.connected { [weak self] message, id in self?.push(message, id: id) ?? false }
        let thread = Thread { [self] in
            serve()
            handler.disconnected()
        }
        thread.name = "capsule channel \(name)"
        thread.start()
    }

    /// False once the capsule's end has closed: nothing more can be served over it.
    public var isOpen: Bool { !served.withLock { $0.closed } }

    /// Wakes the reader (which then closes the socket): the capsule is gone.
    public func shutdown() {
        socket.withLock { fd in if fd >= 0 { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) } }
    }

    /// Queues an event (usually id 0) for the capsule. Dropped, returning false, if the
    /// connection is closed, the frame is over the limit, or the capsule is not reading (its
    /// socket buffer is full): a capsule that never reads cannot stall the runtime.
    @discardableResult
    public func push(_ message: RuntimeMessage, id: UInt32) -> Bool {
        let frame = CapsuleFrame.runtime(id: id, message).encoded()
        guard frame.count - 4 <= maxFrameLength else { return false }
        return write(frame, onlyIfWritable: true)
    }

    private func serve() {
        var decoder = FrameStreamDecoder(maxLength: maxFrameLength)
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        let fd = socket.withLock { $0 }
        reading: while fd >= 0 {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            decoder.append(chunk[0..<n])
            while true {
                let item: FrameStreamDecoder.Item?
                do { item = try decoder.next() } catch {
                    // Over the limit: the stream cannot be resynchronised.
                    handler.sandboxRefused(.malformedFrame(id: nil, error))
                    reply(0, .error(code: error.code, message: error.description + "; closing the connection"))
                    break reading
                }
                guard let item else { break }
                switch item {
                case .frame(.request(let id, .served(let body))):
                    answered(id, .ok(body))
                case .frame(.request(let id, .serveFailed(let code, let message))):
                    answered(id, .failed(code: code, message: message))
                case .frame(.request(let id, let request)):
                    reply(id, handler.handle(request, id: id))
                case .frame(.runtime(let id, _)):
                    let e = FrameError.unknownKind(0x81)
                    handler.sandboxRefused(.malformedFrame(id: id, e))
                    reply(id, .error(code: .unknownKind, message: "runtime frames go from the runtime to capsules, not the other way"))
                case .malformed(let id, let error):
                    handler.sandboxRefused(.malformedFrame(id: id, error))
                    reply(id ?? 0, .error(code: error.code, message: error.description))
                }
            }
        }
        socket.withLock { fd in
            if fd >= 0 { Glibc.close(fd); fd = -1 }
        }
        // Nobody will answer what is still outstanding.
        for waiter in served.withLock({ table in defer { table.waiting = [:]; table.closed = true }; return Array(table.waiting.values) }) {
            waiter.finish(.failed(code: .providerFailed, message: "the provider capsule ended before answering"))
        }
    }

    // MARK: Serving (provider capsules)

    /// Hands the capsule a call that already passed the checks and waits for its answer, at
    /// most `timeout`. A capsule that is gone, does not read, or does not answer in time gives
    /// `provider_failed` or `timed_out`; a late answer is then refused as unexpected.
    public func serve(caller: String, uri: String, action: Action, body: [UInt8], timeout: Duration) -> ProviderResult {
        let waiter = ServedCalls.Waiter()
        guard let id = served.withLock({ table -> UInt32? in
            guard !table.closed else { return nil }
            let id = table.nextID
            table.nextID = table.nextID == .max ? 1 : table.nextID + 1
            table.waiting[id] = waiter
            return id
        }) else {
            return .failed(code: .providerFailed, message: "the provider capsule is not running")
        }
        let frame = CapsuleFrame.runtime(id: id, .serve(caller: caller, uri: uri, action: action, body: body)).encoded()
        guard frame.count - 4 <= maxFrameLength else {
            _ = served.withLock { $0.waiting.removeValue(forKey: id) }
            return .failed(code: .frameTooLarge, message: "the call of \(frame.count - 4) bytes is over the provider's \(maxFrameLength)-byte frame limit")
        }
        let deadline = ContinuousClock.now + timeout
        guard write(frame, deadline: deadline) else {
            _ = served.withLock { $0.waiting.removeValue(forKey: id) }
            return .failed(code: .timedOut, message: "the provider capsule did not take the call in time (or has gone)")
        }
        if let result = waiter.wait(until: deadline) { return result }
        // Timed out, unless the answer raced in just now.
        if served.withLock({ $0.waiting.removeValue(forKey: id) }) == nil, let result = waiter.wait(until: .now) { return result }
        return .failed(code: .timedOut, message: "the provider capsule did not answer within \(timeout)")
    }

    private func answered(_ id: UInt32, _ result: ProviderResult) {
        guard let waiter = served.withLock({ $0.waiting.removeValue(forKey: id) }) else {
            handler.sandboxRefused(.unexpectedAnswer(id: id))
            reply(id, .error(code: .invalidRequest, message: "no call \(id) is waiting for an answer"))
            return
        }
        waiter.finish(result)
    }

    /// Sends a reply, replacing one over the frame limit by an error.
    private func reply(_ id: UInt32, _ message: RuntimeMessage) {
        var frame = CapsuleFrame.runtime(id: id, message).encoded()
        if frame.count - 4 > maxFrameLength {
            frame = CapsuleFrame.runtime(id: id, .error(
                code: .frameTooLarge, message: "the reply of \(frame.count - 4) bytes is over the \(maxFrameLength)-byte frame limit")).encoded()
        }
        _ = write(frame, onlyIfWritable: false)
    }

    /// Writes the whole frame unless the socket stays full past `deadline`.
    private func write(_ frame: [UInt8], deadline: ContinuousClock.Instant) -> Bool {
        socket.withLock { fd in
            guard fd >= 0 else { return false }
            var offset = 0
            while offset < frame.count {
                let left = deadline - .now
                guard left > .zero else { return false }
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let ms = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
                let ready = poll(&p, 1, ms)
                if ready < 0 && errno == EINTR { continue }
                guard ready == 1, p.revents & Int16(POLLOUT) != 0 else { return false }
                let n = frame[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
                if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }

    private func write(_ frame: [UInt8], onlyIfWritable: Bool) -> Bool {
        socket.withLock { fd in
            guard fd >= 0 else { return false }
            if onlyIfWritable {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                guard poll(&p, 1, 0) == 1, p.revents & Int16(POLLOUT) != 0 else { return false }
            }
            var offset = 0
            while offset < frame.count {
                let n = frame[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }
}

/// The calls a channel has handed its capsule, by the runtime's id.
struct ServedCalls {
    var nextID: UInt32 = 1
    var waiting: [UInt32: Waiter] = [:]
    var closed = false

    /// One caller waiting for one answer.
    final class Waiter: Sendable {
        private let result = Mutex<ProviderResult?>(nil)
        private let done = DispatchSemaphore(value: 0)

        func finish(_ r: ProviderResult) {
            result.withLock { $0 = r }
            done.signal()
        }

        /// The answer, or nil if none came by `deadline`.
        func wait(until deadline: ContinuousClock.Instant) -> ProviderResult? {
            let left = deadline - .now
            let nanos = max(0, left.components.seconds * 1_000_000_000 + left.components.attoseconds / 1_000_000_000)
            guard done.wait(timeout: .now() + .nanoseconds(Int(clamping: nanos))) == .success else { return nil }
            return result.withLock { $0 }
        }
    }
}
