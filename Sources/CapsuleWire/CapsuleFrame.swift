// The capsule protocol, version 1 (docs/CAPSULE-PROTOCOL.md is the normative description).
//
// One frame format on every substrate (WASM host calls, native sockets, microVM consoles):
//   frame   = length:u32 ‖ version:u8 (=1) ‖ kind:u8 ‖ id:u32 ‖ payload     (big-endian;
//             `length` counts everything after itself and is at most the negotiated limit)
//   str     = u16 length ‖ UTF-8            blob = u32 length ‖ bytes
// Capsule → runtime:  0x01 call(uri:str, action:u8, token:blob, body:blob)
//                     0x02 request_capability(uri:str, actions:u8 mask, reason:str)
//                     0x03 ping()   0x04 info()
//                     0x05 subscribe(uri:str, token:blob)   0x06 unsubscribe(subscription:u32)
// Runtime → capsule:  0x81 reply(body:blob)   0x82 error(code:u16, message:str)
//                     0x83 event(subscription:u32, uri:str, body:blob)   (id 0: unsolicited)
// Replies carry the id of the request they answer. Decoding is strict: unknown kinds, bad
// UTF-8, over-long fields and trailing bytes are typed errors, never traps.

/// Why bytes are not a valid frame. A runtime answers each with an `error` reply (code
/// ``CapsuleErrorCode/malformedFrame`` and friends) and carries on.
public enum FrameError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated
    case tooLarge(length: Int, limit: Int)
    case tooShort(length: Int)
    case unsupportedVersion(UInt8)
    case unknownKind(UInt8)
    case invalidUTF8(field: String)
    case fieldTooLong(field: String, length: Int)
    case invalidAction(UInt8)
    case invalidActions(UInt8)
    case unknownErrorCode(UInt16)
    case trailingBytes(Int)

    public var description: String {
        switch self {
        case .truncated: "frame is truncated"
        case .tooLarge(let n, let l): "frame of \(n) bytes is over the \(l)-byte limit"
        case .tooShort(let n): "frame length \(n) is shorter than a frame header"
        case .unsupportedVersion(let v): "capsule protocol version \(v) is not supported (this runtime speaks 1)"
        case .unknownKind(let k): "unknown frame kind 0x\(String(k, radix: 16))"
        case .invalidUTF8(let f): "frame field '\(f)' is not valid UTF-8"
        case .fieldTooLong(let f, let n): "frame field '\(f)' is \(n) bytes, over its limit"
        case .invalidAction(let a): "unknown action code \(a)"
        case .invalidActions(let m): "action mask 0x\(String(m, radix: 16)) is empty or has unknown bits"
        case .unknownErrorCode(let c): "unknown error code \(c)"
        case .trailingBytes(let n): "frame has \(n) unexpected bytes after its payload"
        }
    }

    /// The error code a runtime answers with.
    public var code: CapsuleErrorCode {
        switch self {
        case .tooLarge: .frameTooLarge
        case .unsupportedVersion: .unsupportedVersion
        case .unknownKind: .unknownKind
        default: .malformedFrame
        }
    }
}

/// Stable error codes in `error` replies. Capsules may switch on these; messages are for people.
public enum CapsuleErrorCode: UInt16, Sendable, CaseIterable, CustomStringConvertible {
    case malformedFrame = 1
    case frameTooLarge = 2
    case unsupportedVersion = 3
    case unknownKind = 4
    case invalidURI = 5
    case denied = 10
    case missingToken = 11
    case noProvider = 12
    case providerFailed = 13
    case rateLimited = 14
    case timedOut = 15
    case capabilityRefused = 16
    case unknownSubscription = 17
    case notFound = 18
    case integrityFailed = 19
    case invalidRequest = 20
    case conflict = 21
    case internalError = 99

    public var description: String {
        switch self {
        case .malformedFrame: "malformed_frame"
        case .frameTooLarge: "frame_too_large"
        case .unsupportedVersion: "unsupported_version"
        case .unknownKind: "unknown_kind"
        case .invalidURI: "invalid_uri"
        case .denied: "denied"
        case .missingToken: "missing_token"
        case .noProvider: "no_provider"
        case .providerFailed: "provider_failed"
        case .rateLimited: "rate_limited"
        case .timedOut: "timed_out"
        case .capabilityRefused: "capability_refused"
        case .unknownSubscription: "unknown_subscription"
        case .notFound: "not_found"
        case .integrityFailed: "integrity_failed"
        case .invalidRequest: "invalid_request"
        case .conflict: "conflict"
        case .internalError: "internal_error"
        }
    }
}

/// What a capsule asks of the runtime.
public enum CapsuleRequest: Sendable, Equatable {
    /// Acts on a URI, presenting a token (empty if the capsule has none: it is then denied).
    case call(uri: String, action: Action, token: [UInt8], body: [UInt8])
    /// Asks the shell for a capability; the reply body is the token's wire bytes.
    case requestCapability(uri: String, actions: ActionSet, reason: String)
    case ping
    /// The reply body is UTF-8 JSON describing the session (docs/CAPSULE-PROTOCOL.md).
    case info
    /// Starts pushed events for a URI; the reply body is the subscription id (u32).
    case subscribe(uri: String, token: [UInt8])
    case unsubscribe(subscription: UInt32)
    /// A provider capsule's answer to the runtime's `serve` with this frame's id: the reply
    /// body. The runtime sends nothing back.
    case served(body: [UInt8])
    /// A provider capsule's failure answer to `serve`.
    case serveFailed(code: CapsuleErrorCode, message: String)
}

/// What the runtime sends a capsule.
public enum RuntimeMessage: Sendable, Equatable {
    case reply(body: [UInt8])
    case error(code: CapsuleErrorCode, message: String)
    case event(subscription: UInt32, uri: String, body: [UInt8])
    /// To a provider capsule: a call that already passed the capability checks, made by
    /// `caller` (a session principal), for the provider to carry out. The frame's id is the
    /// runtime's; the capsule answers with `served` or `serveFailed` under the same id.
    case serve(caller: String, uri: String, action: Action, body: [UInt8])
}

/// One frame: a request or a runtime message with its id.
public enum CapsuleFrame: Sendable, Equatable {
    case request(id: UInt32, CapsuleRequest)
    case runtime(id: UInt32, RuntimeMessage)

    public static let version: UInt8 = 1
    /// Bytes of `version ‖ kind ‖ id`.
    public static let headerSize = 6
    /// The default limit on `length`; a runtime may configure it lower per capsule.
    public static let defaultMaxLength = 1 << 20
    static let maxStringLength = 4096

    public var id: UInt32 {
        switch self {
        case .request(let id, _), .runtime(let id, _): id
        }
    }

    // MARK: Encoding

    /// The complete frame, length prefix included.
    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 64)
        w.u32(0)  // patched below
        w.u8(Self.version)
        switch self {
        case .request(let id, let r):
            switch r {
            case .call(let uri, let action, let token, let body):
                w.u8(0x01); w.u32(id); Self.str(&w, uri); w.u8(action.bit); Self.blob(&w, token); Self.blob(&w, body)
            case .requestCapability(let uri, let actions, let reason):
                w.u8(0x02); w.u32(id); Self.str(&w, uri); w.u8(actions.mask); Self.str(&w, reason)
            case .ping: w.u8(0x03); w.u32(id)
            case .info: w.u8(0x04); w.u32(id)
            case .subscribe(let uri, let token): w.u8(0x05); w.u32(id); Self.str(&w, uri); Self.blob(&w, token)
            case .unsubscribe(let s): w.u8(0x06); w.u32(id); w.u32(s)
            case .served(let body): w.u8(0x07); w.u32(id); Self.blob(&w, body)
            case .serveFailed(let code, let message): w.u8(0x08); w.u32(id); w.u16(code.rawValue); Self.str(&w, message)
            }
        case .runtime(let id, let m):
            switch m {
            case .reply(let body): w.u8(0x81); w.u32(id); Self.blob(&w, body)
            case .error(let code, let message): w.u8(0x82); w.u32(id); w.u16(code.rawValue); Self.str(&w, message)
            case .event(let s, let uri, let body): w.u8(0x83); w.u32(id); w.u32(s); Self.str(&w, uri); Self.blob(&w, body)
            case .serve(let caller, let uri, let action, let body):
                w.u8(0x84); w.u32(id); Self.str(&w, caller); Self.str(&w, uri); w.u8(action.bit); Self.blob(&w, body)
            }
        }
        var bytes = w.bytes
        let n = UInt32(bytes.count - 4)
        bytes[0] = UInt8(n >> 24); bytes[1] = UInt8(n >> 16 & 0xFF); bytes[2] = UInt8(n >> 8 & 0xFF); bytes[3] = UInt8(n & 0xFF)
        return bytes
    }

    /// Writes a string, cut at `maxStringLength` bytes on a character boundary.
    private static func str(_ w: inout ByteWriter, _ s: String) {
        let all = Array(s.utf8)
        guard all.count > maxStringLength else { w.u16(UInt16(all.count)); w.raw(all); return }
        // Over the limit: cut at the last character boundary at or before it, so the
        // result stays valid UTF-8 (a continuation byte at the cut means a split character).
        var end = maxStringLength
        while end > 0, all[end] & 0xC0 == 0x80 { end -= 1 }
        w.u16(UInt16(end)); w.raw(all[..<end])
    }

    private static func blob(_ w: inout ByteWriter, _ b: [UInt8]) {
        w.u32(UInt32(truncatingIfNeeded: b.count)); w.raw(b)
    }

    // MARK: Decoding

    /// Decodes exactly one complete frame (length prefix included) from `bytes`.
    public static func decode(_ bytes: [UInt8], maxLength: Int = defaultMaxLength) throws(FrameError) -> CapsuleFrame {
        guard bytes.count >= 4 else { throw .truncated }
        let length = try checkedLength(bytes[0], bytes[1], bytes[2], bytes[3], maxLength: maxLength)
        guard length >= headerSize else { throw .tooShort(length: length) }
        guard bytes.count - 4 >= length else { throw .truncated }
        guard bytes.count - 4 == length else { throw .trailingBytes(bytes.count - 4 - length) }
        return try decodeBody(bytes, from: 4, length: length)
    }

    /// Decodes the frame whose `length` bytes (after the prefix) start at `start`.
    static func decodeBody(_ bytes: [UInt8], from start: Int, length: Int) throws(FrameError) -> CapsuleFrame {
        var r = FieldReader(Array(bytes[start..<(start + length)]))
        if true {
            let version = try r.u8()
            guard version == Self.version else { throw FrameError.unsupportedVersion(version) }
            let kind = try r.u8()
            let id = try r.u32()
            let frame: CapsuleFrame
            switch kind {
            case 0x01:
                let uri = try readString(&r, "uri")
                let code = try r.u8()
                guard let action = Action(bit: code) else { throw FrameError.invalidAction(code) }
                let token = try readBlob(&r, "token")
                let body = try readBlob(&r, "body")
                frame = .request(id: id, .call(uri: uri, action: action, token: token, body: body))
            case 0x02:
                let uri = try readString(&r, "uri")
                let mask = try r.u8()
                guard let actions = ActionSet(mask: mask) else { throw FrameError.invalidActions(mask) }
                frame = .request(id: id, .requestCapability(uri: uri, actions: actions, reason: try readString(&r, "reason")))
            case 0x03: frame = .request(id: id, .ping)
            case 0x04: frame = .request(id: id, .info)
            case 0x05:
                let uri = try readString(&r, "uri")
                frame = .request(id: id, .subscribe(uri: uri, token: try readBlob(&r, "token")))
            case 0x06: frame = .request(id: id, .unsubscribe(subscription: try r.u32()))
            case 0x07: frame = .request(id: id, .served(body: try readBlob(&r, "body")))
            case 0x08:
                let raw = try r.u16()
                guard let code = CapsuleErrorCode(rawValue: raw) else { throw FrameError.unknownErrorCode(raw) }
                frame = .request(id: id, .serveFailed(code: code, message: try readString(&r, "message")))
            case 0x81: frame = .runtime(id: id, .reply(body: try readBlob(&r, "body")))
            case 0x82:
                let raw = try r.u16()
                guard let code = CapsuleErrorCode(rawValue: raw) else { throw FrameError.unknownErrorCode(raw) }
                frame = .runtime(id: id, .error(code: code, message: try readString(&r, "message")))
            case 0x83:
                let s = try r.u32()
                let uri = try readString(&r, "uri")
                frame = .runtime(id: id, .event(subscription: s, uri: uri, body: try readBlob(&r, "body")))
            case 0x84:
                let caller = try readString(&r, "caller")
                let uri = try readString(&r, "uri")
                let code = try r.u8()
                guard let action = Action(bit: code) else { throw FrameError.invalidAction(code) }
                frame = .runtime(id: id, .serve(caller: caller, uri: uri, action: action, body: try readBlob(&r, "body")))
            default:
                throw FrameError.unknownKind(kind)
            }
            guard r.isAtEnd else { throw FrameError.trailingBytes(r.remaining) }
            return frame
        }
    }

    /// The id of a frame whose payload did not decode, if its header is readable, so the error
    /// reply can name the request.
    public static func peekID(_ bytes: [UInt8]) -> UInt32? {
        guard bytes.count >= 10 else { return nil }
        return UInt32(bytes[6]) << 24 | UInt32(bytes[7]) << 16 | UInt32(bytes[8]) << 8 | UInt32(bytes[9])
    }

    private static func readString(_ r: inout FieldReader, _ field: String) throws(FrameError) -> String {
        let n = Int(try r.u16())
        guard n <= maxStringLength else { throw FrameError.fieldTooLong(field: field, length: n) }
        let b = try r.take(n)
        guard let s = String(validating: b, as: UTF8.self) else { throw FrameError.invalidUTF8(field: field) }
        return s
    }

    private static func readBlob(_ r: inout FieldReader, _ field: String) throws(FrameError) -> [UInt8] {
        let n = try r.u32()
        // Compared as u64 first: on a 32-bit guest, Int(n) would trap for n ≥ 2³¹.
        guard UInt64(n) <= UInt64(r.remaining) else { throw FrameError.truncated }
        return try r.take(Int(n))
    }

    /// The big-endian u32 length prefix, refused over `maxLength` before it becomes an `Int`
    /// (on 32-bit targets a length ≥ 2³¹ would otherwise turn negative and pass the check).
    static func checkedLength(_ b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8, maxLength: Int) throws(FrameError) -> Int {
        let length = UInt32(b0) << 24 | UInt32(b1) << 16 | UInt32(b2) << 8 | UInt32(b3)
        guard UInt64(length) <= UInt64(max(0, maxLength)) else { throw .tooLarge(length: Int(clamping: length), limit: maxLength) }
        return Int(length)
    }
}

/// Reads frame fields; running out of bytes is truncation.
private struct FieldReader {
    var inner: ByteReader
    init(_ bytes: [UInt8]) { inner = .init(bytes) }
    var remaining: Int { inner.remaining }
    var isAtEnd: Bool { inner.isAtEnd }
    mutating func u8() throws(FrameError) -> UInt8 { do { return try inner.u8() } catch { throw .truncated } }
    mutating func u16() throws(FrameError) -> UInt16 { do { return try inner.u16() } catch { throw .truncated } }
    mutating func u32() throws(FrameError) -> UInt32 { do { return try inner.u32() } catch { throw .truncated } }
    mutating func take(_ n: Int) throws(FrameError) -> [UInt8] { do { return try inner.take(n) } catch { throw .truncated } }
}

/// Splits a byte stream (a socket or pipe) into frames. A frame whose length is over the
/// limit cannot be skipped safely, so it ends the stream with an error; a frame that is within
/// the limit but malformed is reported and skipped, and decoding goes on.
public struct FrameStreamDecoder: Sendable {
    public let maxLength: Int
    private var buffer: [UInt8] = []
    private var start = 0

    public init(maxLength: Int = CapsuleFrame.defaultMaxLength) { self.maxLength = maxLength }

    public enum Item: Sendable, Equatable {
        case frame(CapsuleFrame)
        /// A bad frame that was skipped; `id` names its request when the header was readable.
        case malformed(id: UInt32?, FrameError)
    }

    /// Adds bytes read from the stream.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete item, nil if more bytes are needed. Throws when the stream can't go on.
    public mutating func next() throws(FrameError) -> Item? {
        guard buffer.count - start >= 4 else { return nil }
        let length = try CapsuleFrame.checkedLength(buffer[start], buffer[start + 1], buffer[start + 2], buffer[start + 3],
                                                    maxLength: maxLength)
        guard buffer.count - start - 4 >= length else { return nil }
        let frameStart = start
        start += 4 + length
        guard length >= CapsuleFrame.headerSize else { return .malformed(id: nil, .tooShort(length: length)) }
        do {
            return .frame(try CapsuleFrame.decodeBody(buffer, from: frameStart + 4, length: length))
        } catch {
            let id = CapsuleFrame.peekID(Array(buffer[frameStart..<min(buffer.count, frameStart + 10)]))
            return .malformed(id: id, error)
        }
    }

    /// Bytes held that do not yet form a frame.
    public var pendingBytes: Int { buffer.count - start }
}
