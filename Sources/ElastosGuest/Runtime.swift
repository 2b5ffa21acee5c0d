public import CapsuleWire

#if !arch(wasm32)
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
#endif

/// Why a runtime call did not return what was asked.
public enum GuestError: Error, Equatable, CustomStringConvertible {
    /// The runtime answered with an `error` frame: denied, missing token, no provider, … .
    case refused(code: CapsuleErrorCode, message: String)
    /// A host call failed (`elastos.send`/`recv` returned this status).
    case hostCall(status: Int32)
    /// A native capsule was started without `ELASTOS_CAPSULE_FD` (or with a bad one).
    case notConnected(String)
    /// The runtime closed the connection.
    case disconnected
    /// What arrived was not a valid frame.
    case malformedFrame(FrameError)
    /// A valid frame, but not the answer the call expects (e.g. a subscription id that is not
    /// four bytes).
    case unexpectedReply(String)
    /// Reading or writing the connection failed with this `errno`.
    case io(errno: Int32)

    public var description: String {
        switch self {
        case .refused(let code, let message): "\(code): \(message)"
        case .hostCall(let status): "host call failed with status \(status)"
        case .notConnected(let why): "not connected to the runtime: \(why)"
        case .disconnected: "the runtime closed the connection"
        case .malformedFrame(let e): "the runtime sent a malformed frame: \(e)"
        case .unexpectedReply(let what): "unexpected reply: \(what)"
        case .io(let e): "connection I/O failed (errno \(e))"
        }
    }

    /// The runtime's error code, if the runtime refused.
    public var code: CapsuleErrorCode? {
        if case .refused(let code, _) = self { return code }
        return nil
    }
}

/// An event the runtime pushed for a subscription.
public struct Event: Equatable {
    public let subscription: UInt32
    public let uri: String
    public let body: [UInt8]

    public init(subscription: UInt32, uri: String, body: [UInt8]) {
        self.subscription = subscription; self.uri = uri; self.body = body
    }
}

/// A call the runtime hands a provider capsule (`serve`): it already passed the capability
/// checks for `caller`. Answer it with ``Runtime/answer(_:body:)`` or ``Runtime/fail(_:code:message:)``.
public struct ServedCall: Equatable, Sendable {
    /// The runtime's id for this call: the answer must carry it.
    public let id: UInt32
    /// The session principal (`session:<id>`) the call was made by.
    public let caller: String
    public let uri: String
    public let action: Action
    public let body: [UInt8]

    public init(id: UInt32, caller: String, uri: String, action: Action, body: [UInt8]) {
        self.id = id; self.caller = caller; self.uri = uri; self.action = action; self.body = body
    }
}

/// What `info` says about this capsule's session.
public struct SessionInfo: Equatable {
    /// The reply as the runtime sent it (UTF-8 JSON).
    public let json: String
    public let session: String?
    public let capsule: String?
    public let cid: String?
    public let substrate: String?
    public let protocolVersion: Int?
}

/// The capsule protocol from inside a capsule: the static functions use the capsule's own
/// connection (host functions in a WASM guest, the socket in `ELASTOS_CAPSULE_FD` in a native
/// capsule).
public enum Runtime {
    public static func ping() throws(GuestError) { try RuntimeConnection.shared.ping() }
    public static func info() throws(GuestError) -> SessionInfo { try RuntimeConnection.shared.info() }
    public static func call(uri: String, action: Action, token: [UInt8], body: [UInt8] = []) throws(GuestError) -> [UInt8] {
        try RuntimeConnection.shared.call(uri: uri, action: action, token: token, body: body)
    }
    public static func requestCapability(uri: String, actions: ActionSet, reason: String) throws(GuestError) -> [UInt8] {
        try RuntimeConnection.shared.requestCapability(uri: uri, actions: actions, reason: reason)
    }
    public static func subscribe(uri: String, token: [UInt8]) throws(GuestError) -> UInt32 {
        try RuntimeConnection.shared.subscribe(uri: uri, token: token)
    }
    public static func unsubscribe(_ subscription: UInt32) throws(GuestError) {
        try RuntimeConnection.shared.unsubscribe(subscription)
    }
    /// The next pushed event, waiting up to `timeoutMilliseconds` (negative: until one comes);
    /// nil on timeout.
    public static func nextEvent(timeoutMilliseconds: Int32 = -1) throws(GuestError) -> Event? {
        try RuntimeConnection.shared.nextEvent(timeoutMilliseconds: timeoutMilliseconds)
    }
    /// Like ``nextEvent(timeoutMilliseconds:)``, but also returns nil as soon as stdin has input
    /// (``Console/inputReady(timeoutMilliseconds:)``): one wait for both the runtime and the
    /// keyboard, for interactive capsules.
    public static func nextEvent(timeoutMilliseconds: Int32, wakeOnInput: Bool) throws(GuestError) -> Event? {
        try RuntimeConnection.shared.nextEvent(timeoutMilliseconds: timeoutMilliseconds, wakeOnInput: wakeOnInput)
    }
    /// For provider capsules: the next call to carry out, waiting up to `timeoutMilliseconds`
    /// (negative: until one comes); nil on timeout.
    public static func nextCall(timeoutMilliseconds: Int32 = -1) throws(GuestError) -> ServedCall? {
        try RuntimeConnection.shared.nextCall(timeoutMilliseconds: timeoutMilliseconds)
    }
    /// Answers a served call with its reply body.
    public static func answer(_ call: ServedCall, body: [UInt8]) throws(GuestError) {
        try RuntimeConnection.shared.answer(call, body: body)
    }
    /// Answers a served call with a failure the runtime passes on to the caller.
    public static func fail(_ call: ServedCall, code: CapsuleErrorCode, message: String) throws(GuestError) {
        try RuntimeConnection.shared.fail(call, code: code, message: message)
    }
}

/// One connection to the runtime. Capsules use ``Runtime``; tests and tools may open their own.
/// Requests are answered in order here: each call waits for the reply with its id, keeping
/// events (and replies to other ids) that arrive meanwhile.
public final class RuntimeConnection: @unchecked Sendable {
    private var nextID: UInt32 = 1
    private var replies: [UInt32: RuntimeMessage] = [:]
    private var events: [Event] = []
    private var eventHead = 0
    private var calls: [ServedCall] = []
    private var callHead = 0
    private let transport: Transport
    #if !arch(wasm32)
    private let lock = Mutex(())
    #endif

    /// The capsule's own connection.
    public static let shared = RuntimeConnection()

    #if arch(wasm32)
    init() { transport = Transport() }
    #else
    /// From `ELASTOS_CAPSULE_FD` (a connected stream socket the runtime passed down).
    convenience init() {
        var fd: Int32 = -1
        if let text = getenv("ELASTOS_CAPSULE_FD").map({ String(cString: $0) }), let n = Int32(text), n >= 0 { fd = n }
        self.init(fileDescriptor: fd)
    }

    /// Over a connected stream socket (or pipe pair) this process owns. A negative `fd` makes
    /// every call fail with ``GuestError/notConnected(_:)``.
    public init(fileDescriptor fd: Int32, maxFrameLength: Int = CapsuleFrame.defaultMaxLength) {
        transport = Transport(fd: fd, maxFrameLength: maxFrameLength)
    }
    #endif

    private func exclusive<T>(_ body: () throws(GuestError) -> T) throws(GuestError) -> T {
        #if arch(wasm32)
        return try body()
        #else
        return try lock.withLock { _ throws(GuestError) -> T in try body() }
        #endif
    }

    public func ping() throws(GuestError) {
        _ = try reply(to: .ping)
    }

    public func info() throws(GuestError) -> SessionInfo {
        let body = try reply(to: .info)
        let json = String(decoding: body, as: UTF8.self)
        let fields = FlatJSON.parse(json)
        return SessionInfo(json: json, session: fields["session"], capsule: fields["capsule"], cid: fields["cid"],
                           substrate: fields["substrate"], protocolVersion: fields["protocol"].flatMap { Int($0) })
    }

    public func call(uri: String, action: Action, token: [UInt8], body: [UInt8] = []) throws(GuestError) -> [UInt8] {
        try reply(to: .call(uri: uri, action: action, token: token, body: body))
    }

    public func requestCapability(uri: String, actions: ActionSet, reason: String) throws(GuestError) -> [UInt8] {
        try reply(to: .requestCapability(uri: uri, actions: actions, reason: reason))
    }

    public func subscribe(uri: String, token: [UInt8]) throws(GuestError) -> UInt32 {
        let b = try reply(to: .subscribe(uri: uri, token: token))
        guard b.count == 4 else { throw .unexpectedReply("subscription id of \(b.count) bytes, expected 4") }
        return UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3])
    }

    public func unsubscribe(_ subscription: UInt32) throws(GuestError) {
        _ = try reply(to: .unsubscribe(subscription: subscription))
    }

    public func nextEvent(timeoutMilliseconds: Int32 = -1) throws(GuestError) -> Event? {
        try exclusive { () throws(GuestError) -> Event? in
            try waitFor(timeoutMilliseconds) { () -> Event? in takeEvent() }
        }
    }

    public func nextEvent(timeoutMilliseconds: Int32, wakeOnInput: Bool) throws(GuestError) -> Event? {
        try exclusive { () throws(GuestError) -> Event? in
            try waitFor(timeoutMilliseconds, wakeOnInput: wakeOnInput) { () -> Event? in takeEvent() }
        }
    }

    public func nextCall(timeoutMilliseconds: Int32 = -1) throws(GuestError) -> ServedCall? {
        try exclusive { () throws(GuestError) -> ServedCall? in
            try waitFor(timeoutMilliseconds) { () -> ServedCall? in takeCall() }
        }
    }

    public func answer(_ call: ServedCall, body: [UInt8]) throws(GuestError) {
        try exclusive { () throws(GuestError) in try transport.send(RequestEncoder.encode(id: call.id, .served(body: body))) }
    }

    public func fail(_ call: ServedCall, code: CapsuleErrorCode, message: String) throws(GuestError) {
        try exclusive { () throws(GuestError) in
            try transport.send(RequestEncoder.encode(id: call.id, .serveFailed(code: code, message: message)))
        }
    }

    /// Reads frames, filing them, until `take` finds something or the timeout passes.
    /// With `wakeOnInput`, also returns nil once stdin has input. Natively that is one poll on
    /// both descriptors; a WASM guest has no such call, so it waits in 5 ms slices and looks
    /// at stdin between them.
    private func waitFor<T>(_ timeoutMilliseconds: Int32, wakeOnInput: Bool = false, _ take: () -> T?) throws(GuestError) -> T? {
        if let e = take() { return e }
        let deadline = timeoutMilliseconds < 0 ? nil : Optional(System.monotonicNanoseconds() + UInt64(timeoutMilliseconds) * 1_000_000)
        while true {
            if wakeOnInput && Console.inputReady(timeoutMilliseconds: 0) { return nil }
            var wait: Int32 = -1
            if let deadline {
                let now = System.monotonicNanoseconds()
                wait = now >= deadline ? 0 : Int32(clamping: (deadline - now + 999_999) / 1_000_000)
            }
            #if arch(wasm32)
            let slice: Int32 = wakeOnInput ? (wait < 0 ? 5 : min(wait, 5)) : wait
            let received = try transport.receive(timeoutMilliseconds: slice)
            #else
            let received = try transport.receive(timeoutMilliseconds: wait, alsoWatching: wakeOnInput ? 0 : -1)
            #endif
            guard let frame = received else {
                if let deadline, System.monotonicNanoseconds() >= deadline { return nil }
                continue
            }
            file(frame)
            if let e = take() { return e }
        }
    }

    /// Sends `request` and waits for its answer: the reply body, or the runtime's error thrown.
    public func reply(to request: CapsuleRequest) throws(GuestError) -> [UInt8] {
        try exclusive { () throws(GuestError) -> [UInt8] in
            let id = nextID
            nextID = nextID == UInt32.max ? 1 : nextID + 1
            try transport.send(RequestEncoder.encode(id: id, request))
            // The reply usually comes next: take it straight off the wire, and look in the
            // dictionary (hashing is not free in the interpreter) only when something else came.
            var answer = replies.isEmpty ? nil : replies.removeValue(forKey: id)
            while answer == nil {
                guard let frame = try transport.receive(timeoutMilliseconds: -1) else { continue }
                if case .runtime(id, let message) = frame, !message.isPushed {
                    answer = message
                } else {
                    file(frame)
                }
            }
            switch answer {
            case .reply(let body)?: return body
            case .error(let code, let message)?: throw .refused(code: code, message: message)
            case .event?, .serve?, nil: throw .unexpectedReply("a pushed frame with the id of a request")
            }
        }
    }

    private func file(_ frame: CapsuleFrame) {
        switch frame {
        case .runtime(_, .event(let s, let uri, let body)):
            events.append(Event(subscription: s, uri: uri, body: body))
        case .runtime(let id, .serve(let caller, let uri, let action, let body)):
            calls.append(ServedCall(id: id, caller: caller, uri: uri, action: action, body: body))
        case .runtime(let id, let message):
            replies[id] = message
        case .request:
            break  // the runtime does not send requests; ignore
        }
    }

    private func takeEvent() -> Event? {
        guard eventHead < events.count else { return nil }
        let e = events[eventHead]
        eventHead += 1
        if eventHead == events.count { events.removeAll(keepingCapacity: true); eventHead = 0 }
        return e
    }

    private func takeCall() -> ServedCall? {
        guard callHead < calls.count else { return nil }
        let c = calls[callHead]
        callHead += 1
        if callHead == calls.count { calls.removeAll(keepingCapacity: true); callHead = 0 }
        return c
    }
}

extension RuntimeMessage {
    /// Events and served calls arrive on their own, with ids that are not the capsule's.
    var isPushed: Bool {
        switch self {
        case .event, .serve: true
        case .reply, .error: false
        }
    }
}

#if arch(wasm32)

/// Frames through `elastos.send` and `elastos.recv`.
struct Transport {
    private final class Buffer { var bytes = [UInt8](repeating: 0, count: 16 << 10) }
    private let buffer = Buffer()

    func send(_ frame: [UInt8]) throws(GuestError) {
        let status = frame.withUnsafeBytes { elastos_send($0.baseAddress, Int32(truncatingIfNeeded: $0.count)) }
        guard status == 0 else { throw .hostCall(status: status) }
    }

    func receive(timeoutMilliseconds: Int32) throws(GuestError) -> CapsuleFrame? {
        while true {
            let n = buffer.bytes.withUnsafeMutableBytes { elastos_recv($0.baseAddress, Int32(truncatingIfNeeded: $0.count), timeoutMilliseconds) }
            if n == 0 { return nil }
            if n < -9 {  // too small: −n is the length needed; the frame stays queued
                buffer.bytes = [UInt8](repeating: 0, count: Int(-n))
                continue
            }
            guard n > 0 else { throw .hostCall(status: n) }
            if let reply = buffer.bytes.withUnsafeBytes({ ReplyDecoder.reply(UnsafeRawBufferPointer(rebasing: $0[0..<Int(n)])) }) {
                return reply
            }
            do { return try CapsuleFrame.decode(Array(buffer.bytes[0..<Int(n)])) } catch { throw .malformedFrame(error) }
        }
    }
}

#else

/// Frames over a stream socket.
final class Transport {
    private let fd: Int32
    private var decoder: FrameStreamDecoder

    init(fd: Int32, maxFrameLength: Int) {
        self.fd = fd
        decoder = FrameStreamDecoder(maxLength: maxFrameLength)
    }

    func send(_ frame: [UInt8]) throws(GuestError) {
        guard fd >= 0 else { throw .notConnected("ELASTOS_CAPSULE_FD is not set to a descriptor") }
        let ok = frame.withUnsafeBytes { System.write(fd, $0) }
        guard ok else { throw errno == EPIPE ? .disconnected : .io(errno: errno) }
    }

    /// The next frame, or nil when the timeout passes or `other` (if not -1) becomes readable.
    func receive(timeoutMilliseconds: Int32, alsoWatching other: Int32 = -1) throws(GuestError) -> CapsuleFrame? {
        guard fd >= 0 else { throw .notConnected("ELASTOS_CAPSULE_FD is not set to a descriptor") }
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let item: FrameStreamDecoder.Item?
            do { item = try decoder.next() } catch { throw .malformedFrame(error) }
            switch item {
            case .frame(let f)?: return f
            case .malformed(_, let e)?: throw .malformedFrame(e)
            case nil: break
            }
            var p = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: other, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&p, other >= 0 ? 2 : 1, timeoutMilliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                throw .io(errno: errno)
            }
            if ready == 0 { return nil }
            if p[0].revents == 0 { return nil }  // only the other descriptor
            let n = chunk.withUnsafeMutableBytes { System.read(fd, $0) }
            if n == 0 { throw .disconnected }
            if n < 0 { throw .io(errno: errno) }
            decoder.append(chunk[0..<n])
        }
    }
}

#endif

/// Reads the string and number members of a flat JSON object, which is all `info` sends.
/// Nested values are skipped; anything malformed ends the parse with what was read so far.
enum FlatJSON {
    static func parse(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        let b = Array(text.utf8)
        var i = 0
        func skipSpace() { while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }
        func string() -> String? {
            guard i < b.count, b[i] == 0x22 else { return nil }
            i += 1
            var out: [UInt8] = []
            while i < b.count, b[i] != 0x22 {
                if b[i] == 0x5C, i + 1 < b.count {
                    i += 1
                    switch b[i] {
                    case 0x6E: out.append(0x0A)
                    case 0x74: out.append(0x09)
                    case 0x72: out.append(0x0D)
                    case 0x75: out.append(0x3F); i += 4  // \uXXXX: not needed for info; keep a placeholder
                    default: out.append(b[i])
                    }
                } else {
                    out.append(b[i])
                }
                i += 1
            }
            guard i < b.count else { return nil }
            i += 1
            return String(decoding: out, as: UTF8.self)
        }
        skipSpace()
        guard i < b.count, b[i] == 0x7B else { return result }
        i += 1
        while true {
            skipSpace()
            guard let key = string() else { return result }
            skipSpace()
            guard i < b.count, b[i] == 0x3A else { return result }
            i += 1
            skipSpace()
            if let s = string() {
                result[key] = s
            } else {
                let start = i
                var depth = 0
                while i < b.count {
                    let c = b[i]
                    if c == 0x7B || c == 0x5B { depth += 1 }
                    if c == 0x7D || c == 0x5D { if depth == 0 { break }; depth -= 1 }
                    if c == 0x2C && depth == 0 { break }
                    i += 1
                }
                var value = Array(b[start..<i])
                while let last = value.last, last == 0x20 || last == 0x0A { value.removeLast() }
                result[key] = String(decoding: value, as: UTF8.self)
            }
            skipSpace()
            guard i < b.count, b[i] == 0x2C else { return result }
            i += 1
        }
    }
}
