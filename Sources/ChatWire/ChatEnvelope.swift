// The chat wire format (docs/CHAT.md): one signed envelope per GossipSub message on a room's
// topic. No Foundation, typed throws only: the WASM chat capsule (Embedded Swift), the native
// one and the runtime's tests all compile this same file.
//
//   envelope = 0x01 ‖ kind:u8 ‖ room:text ‖ sender:text ‖ app:text ‖ nick:text ‖ to:text
//              ‖ timestamp:u64 (ms since 1970) ‖ id:blob (16 bytes) ‖ content:blob ‖ signature:blob
//   text = u16 length ‖ UTF-8      blob = u32 length ‖ bytes      (big-endian)
//
// The signature is Ed25519 by the sender's DID key, made through the runtime's DID provider
// (`execute elastos://did/self/sign`) over ``ChatEnvelope/signingBytes``: the domain
// "elastos.chat.envelope.v1", a zero byte, and the envelope's encoding without its signature.
// So every field is covered — room, nick, time, id, recipient — and a message cannot be
// replayed into another room, re-timed, re-attributed to another nick or app, or taken for
// anything that is not a chat envelope.

import CapsuleWire

public enum ChatKind: UInt8, Sendable, Equatable {
    /// A line of text for the room.
    case message = 1
    /// Presence: the sender is in the room now (on joining, then every heartbeat interval).
    case join = 2
    case heartbeat = 3
    /// Presence: the sender left the room.
    case leave = 4
    /// A direct message: `content` is sealed to the DID in `to` (HPKE, docs/CHAT.md).
    case direct = 5
    /// A newcomer asks the room for recent messages.
    case historyRequest = 6
    /// Recent room messages for the DID in `to`: `content` is ``ChatHistory``, each inner
    /// envelope still signed by its own author.
    case history = 7
}

/// Why a chat envelope was refused.
public enum ChatWireError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(field: String)
    case invalidUTF8(field: String)
    case invalid(field: String, reason: String)
    case unknownKind(UInt8)
    case unsupportedVersion(UInt8)
    case trailingBytes(Int)

    public var description: String {
        switch self {
        case .truncated(let f): "chat envelope ends inside '\(f)'"
        case .invalidUTF8(let f): "chat envelope field '\(f)' is not valid UTF-8"
        case .invalid(let f, let why): "chat envelope field '\(f)' \(why)"
        case .unknownKind(let k): "chat envelope kind \(k) is not one this version knows"
        case .unsupportedVersion(let v): "chat envelope version \(v) is not supported (this side speaks \(ChatEnvelope.version))"
        case .trailingBytes(let n): "chat envelope has \(n) bytes after its end"
        }
    }
}

public struct ChatEnvelope: Equatable, Sendable {
    public static let version: UInt8 = 1
    public static let signingDomain = "elastos.chat.envelope.v1"
    public static let idLength = 16
    public static let signatureLength = 64
    /// Text content of a room message, in bytes.
    public static let maxText = 4096
    /// Sealed content of a direct message.
    public static let maxSealed = 8192
    /// A history answer's content.
    public static let maxHistory = 48 << 10
    public static let maxNick = 32

    public var kind: ChatKind
    /// `#name`: lower-case letters, digits, `-` and `_`, at most 64 bytes.
    public var room: String
    /// The sender's did:key (the node key of the sender's runtime).
    public var sender: String
    /// The capsule that had it signed: the DID provider binds its signatures to the capsule's name.
    public var app: String
    public var nick: String
    /// The recipient's did:key for a direct message, else empty.
    public var to: String
    /// Milliseconds since 1970, by the sender's clock.
    public var timestamp: UInt64
    /// 16 random bytes: the message's identity, for de-duplication and ordering ties.
    public var id: [UInt8]
    public var content: [UInt8]
    public var signature: [UInt8]

    public init(kind: ChatKind, room: String, sender: String, app: String, nick: String, to: String = "",
                timestamp: UInt64, id: [UInt8], content: [UInt8], signature: [UInt8] = []) {
        self.kind = kind; self.room = room; self.sender = sender; self.app = app; self.nick = nick; self.to = to
        self.timestamp = timestamp; self.id = id; self.content = content; self.signature = signature
    }

    /// The message text (room messages), with terminal controls neutralised.
    public var text: String { ChatText.sanitized(String(decoding: content, as: UTF8.self)) }

    /// What the sender signs: the domain, 0x00, the encoding without the signature.
    public var signingBytes: [UInt8] { Array(Self.signingDomain.utf8) + [0] + unsignedEncoding() }

    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.raw(unsignedEncoding())
        Self.blob(&w, signature)
        return w.bytes
    }

    func unsignedEncoding() -> [UInt8] {
        var w = ByteWriter(capacity: 128 + content.count)
        w.u8(Self.version); w.u8(kind.rawValue)
        for t in [room, sender, app, nick, to] { w.lengthPrefixed(Array(t.utf8)) }
        w.u64(timestamp)
        Self.blob(&w, id); Self.blob(&w, content)
        return w.bytes
    }

    private static func blob(_ w: inout ByteWriter, _ b: [UInt8]) { w.u32(UInt32(truncatingIfNeeded: b.count)); w.raw(b) }

    /// Decodes and checks the shape of every field (not the signature: that needs the DID
    /// provider, see docs/CHAT.md).
    public init(decoding body: [UInt8]) throws(ChatWireError) {
        var r = ByteReader(body)
        func u8(_ f: String) throws(ChatWireError) -> UInt8 { do { return try r.u8() } catch { throw .truncated(field: f) } }
        func text(_ f: String, max: Int) throws(ChatWireError) -> String {
            let n: Int
            do { n = Int(try r.u16()) } catch { throw .truncated(field: f) }
            guard n <= max else { throw .invalid(field: f, reason: "is \(n) bytes; at most \(max)") }
            let b: [UInt8]
            do { b = try r.take(n) } catch { throw .truncated(field: f) }
            guard let s = String(validating: b, as: UTF8.self) else { throw .invalidUTF8(field: f) }
            return s
        }
        func blob(_ f: String, max: Int) throws(ChatWireError) -> [UInt8] {
            let n: Int
            do { n = Int(try r.u32()) } catch { throw .truncated(field: f) }
            guard n <= max else { throw .invalid(field: f, reason: "is \(n) bytes; at most \(max)") }
            do { return try r.take(n) } catch { throw .truncated(field: f) }
        }
        let v = try u8("version")
        guard v == Self.version else { throw .unsupportedVersion(v) }
        let k = try u8("kind")
        guard let kind = ChatKind(rawValue: k) else { throw .unknownKind(k) }
        self.kind = kind
        room = try text("room", max: 64)
        sender = try text("sender", max: 128)
        app = try text("app", max: 64)
        nick = try text("nick", max: Self.maxNick)
        to = try text("to", max: 128)
        do { timestamp = try r.u64() } catch { throw .truncated(field: "timestamp") }
        id = try blob("id", max: Self.idLength)
        content = try blob("content", max: kind == .direct ? Self.maxSealed : kind == .history ? Self.maxHistory : Self.maxText)
        signature = try blob("signature", max: Self.signatureLength)
        guard r.isAtEnd else { throw .trailingBytes(r.remaining) }
        try validate()
    }

    /// The rules every envelope meets, whoever made it.
    public func validate() throws(ChatWireError) {
        if let why = ChatRoomName.problem(room) { throw .invalid(field: "room", reason: why) }
        guard sender.hasPrefix("did:key:z"), sender.utf8.count <= 128 else { throw .invalid(field: "sender", reason: "is not a did:key") }
        guard !app.isEmpty, app.utf8.count <= 64 else { throw .invalid(field: "app", reason: "must be 1 to 64 bytes") }
        if let why = ChatNick.problem(nick) { throw .invalid(field: "nick", reason: why) }
        switch kind {
        case .direct:
            guard to.hasPrefix("did:key:z") else { throw .invalid(field: "to", reason: "a direct message needs the recipient's did:key") }
            guard content.count <= Self.maxSealed else { throw .invalid(field: "content", reason: "is over \(Self.maxSealed) bytes") }
        case .message:
            guard to.isEmpty else { throw .invalid(field: "to", reason: "is only for direct messages") }
            guard !content.isEmpty, content.count <= Self.maxText else { throw .invalid(field: "content", reason: "must be 1 to \(Self.maxText) bytes") }
            guard String(validating: content, as: UTF8.self) != nil else { throw .invalidUTF8(field: "content") }
        case .join, .heartbeat, .leave, .historyRequest:
            guard to.isEmpty, content.isEmpty else { throw .invalid(field: "content", reason: "is empty for presence and history requests") }
        case .history:
            guard to.hasPrefix("did:key:z") else { throw .invalid(field: "to", reason: "a history answer needs the requester's did:key") }
            guard content.count <= Self.maxHistory else { throw .invalid(field: "content", reason: "is over \(Self.maxHistory) bytes") }
        }
        guard id.count == Self.idLength else { throw .invalid(field: "id", reason: "must be \(Self.idLength) bytes") }
        guard signature.count == Self.signatureLength else { throw .invalid(field: "signature", reason: "must be \(Self.signatureLength) bytes") }
    }

    /// What a direct message's sealed content is bound to (the HPKE additional data): the room,
    /// both DIDs and the id, so the ciphertext cannot be lifted into another envelope.
    public static func directAAD(room: String, sender: String, to: String, id: [UInt8]) -> [UInt8] {
        var w = ByteWriter()
        w.raw(Array("elastos.chat.direct.v1".utf8)); w.u8(0)
        for t in [room, sender, to] { w.lengthPrefixed(Array(t.utf8)) }
        w.u32(UInt32(truncatingIfNeeded: id.count)); w.raw(id)
        return w.bytes
    }

    public var directAAD: [UInt8] { Self.directAAD(room: room, sender: sender, to: to, id: id) }

    /// The GossipSub topic of a room: versioned and namespaced, so other apps' topics and
    /// future versions never mix with it.
    public static func topic(room: String) -> String { "elastos/chat/1/" + room }

    /// The peer provider resource for a room's topic (the topic percent-encoded as one segment).
    public static func topicURI(room: String) -> String { "elastos://peer/topic/" + ChatText.percentEncoded(topic(room: room)) }
}

/// `#name` rules.
public enum ChatRoomName {
    /// Why `room` is not a valid room name, or nil. `general` and `#General` normalise to
    /// `#general` with ``normalised(_:)`` first.
    public static func problem(_ room: String) -> String? {
        let b = Array(room.utf8)
        guard b.count >= 2, b.count <= 64, b[0] == UInt8(ascii: "#") else { return "must be '#' and 1 to 63 characters" }
        for c in b.dropFirst() {
            let ok = (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
                || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
            guard ok else { return "may hold only a-z, 0-9, '-' and '_' after the '#'" }
        }
        return nil
    }

    /// `General` → `#general`; nil if it is still not a valid name.
    public static func normalised(_ text: String) -> String? {
        var s = ""
        for c in text.utf8 {
            if c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") { s.unicodeScalars.append(Unicode.Scalar(c + 32)) } else { s.unicodeScalars.append(Unicode.Scalar(c)) }
        }
        if !s.hasPrefix("#") { s = "#" + s }
        return problem(s) == nil ? s : nil
    }
}

/// Nick rules: 1 to 32 bytes, no spaces, controls or invisible formatting characters.
public enum ChatNick {
    public static func problem(_ nick: String) -> String? {
        guard !nick.isEmpty, nick.utf8.count <= ChatEnvelope.maxNick else { return "must be 1 to \(ChatEnvelope.maxNick) bytes" }
        for s in nick.unicodeScalars {
            if s.value <= 0x20 || ChatText.isHidden(s) { return "may not contain spaces, controls or invisible characters" }
        }
        return nil
    }
}

public enum ChatText {
    /// Control characters (C0 but tab, DEL, C1) and bidirectional or invisible formatting
    /// characters, which a peer could use to rewrite the terminal or disguise text.
    static func isHidden(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x00...0x08, 0x0A...0x1F, 0x7F...0x9F: true
        case 0x200B...0x200F, 0x202A...0x202E, 0x2060...0x2069, 0x061C, 0xFEFF: true
        default: false
        }
    }

    /// `text` safe to print on a terminal: every hidden character replaced by U+FFFD (so ESC,
    /// CSI, OSC and bidi overrides from other peers never reach the terminal as such).
    public static func sanitized(_ text: String) -> String {
        var out = ""
        for s in text.unicodeScalars {
            out.unicodeScalars.append(isHidden(s) ? Unicode.Scalar(0xFFFD)! : s)
        }
        return out
    }

    /// Percent-encodes everything but RFC 3986 unreserved characters.
    public static func percentEncoded(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for c in text.utf8 {
            let unreserved = (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
                || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-") || c == UInt8(ascii: ".")
                || c == UInt8(ascii: "_") || c == UInt8(ascii: "~")
            if unreserved { out.append(c) } else { out += [UInt8(ascii: "%"), hex[Int(c >> 4)], hex[Int(c & 15)]] }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// A JSON string literal (quotes included) for `text`.
    public static func json(_ text: String) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = [UInt8(ascii: "\"")]
        for s in text.unicodeScalars {
            switch s.value {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0x00..<0x20, 0x7F...0x9F, 0x2028, 0x2029:
                let v = Int(s.value)
                out += [0x5C, UInt8(ascii: "u"), digits[(v >> 12) & 15], digits[(v >> 8) & 15], digits[(v >> 4) & 15], digits[v & 15]]
            default: out += Array(String(s).utf8)
            }
        }
        out.append(UInt8(ascii: "\""))
        return String(decoding: out, as: UTF8.self)
    }
}

/// The content of a history answer: `count:u16 ‖ blob*`, each blob a complete signed envelope
/// of kind message, oldest first.
public enum ChatHistory {
    /// At most this many messages in one answer.
    public static let maxMessages = 50

    /// The newest messages of `history` that fit (count and size), oldest first.
    public static func encode(_ history: [ChatEnvelope]) -> [UInt8] {
        EnvelopeList.encode(history, prefix: [], maxMessages: maxMessages, maxBytes: ChatEnvelope.maxHistory)
    }

    public static func decode(_ content: [UInt8]) throws(ChatWireError) -> [ChatEnvelope] {
        try EnvelopeList.decode(content, prefix: [], maxMessages: maxMessages, field: "history")
    }
}

/// A room's history as a chat capsule keeps it in `localhost://storage/` between runs:
/// `"elastos.chat.archive.v1\n" ‖ count:u16 ‖ blob*`, the same signed envelopes as a history
/// answer (so every one is checked against its author's DID again when it is loaded), oldest
/// first, at most ``maxMessages`` and ``maxBytes``.
public enum ChatArchive {
    public static let magic: [UInt8] = Array("elastos.chat.archive.v1\n".utf8)
    public static let maxMessages = ChatRoom.historyLimit
    public static let maxBytes = 2 << 20

    public static func encode(_ history: [ChatEnvelope]) -> [UInt8] {
        EnvelopeList.encode(history, prefix: magic, maxMessages: maxMessages, maxBytes: maxBytes)
    }

    public static func decode(_ bytes: [UInt8]) throws(ChatWireError) -> [ChatEnvelope] {
        guard bytes.count <= maxBytes else { throw .invalid(field: "archive", reason: "is over \(maxBytes) bytes") }
        return try EnvelopeList.decode(bytes, prefix: magic, maxMessages: maxMessages, field: "archive")
    }
}

/// `prefix ‖ count:u16 ‖ (length:u32 ‖ envelope)*` with room messages only, oldest first.
enum EnvelopeList {
    /// The newest room messages of `history` that fit both limits, oldest first.
    static func encode(_ history: [ChatEnvelope], prefix: [UInt8], maxMessages: Int, maxBytes: Int) -> [UInt8] {
        var chosen: [[UInt8]] = []
        var size = prefix.count + 2
        for e in history.reversed() where e.kind == .message {
            let bytes = e.encoded()
            guard chosen.count < maxMessages, size + 4 + bytes.count <= maxBytes else { break }
            chosen.append(bytes)
            size += 4 + bytes.count
        }
        var w = ByteWriter(capacity: size)
        w.raw(prefix)
        w.u16(UInt16(chosen.count))
        for bytes in chosen.reversed() { w.u32(UInt32(bytes.count)); w.raw(bytes) }
        return w.bytes
    }

    static func decode(_ content: [UInt8], prefix: [UInt8], maxMessages: Int, field: String) throws(ChatWireError) -> [ChatEnvelope] {
        var r = ByteReader(content)
        if !prefix.isEmpty {
            let head: [UInt8]
            do { head = try r.take(prefix.count) } catch { throw .truncated(field: "\(field) header") }
            guard head == prefix else { throw .invalid(field: field, reason: "does not start with \(String(decoding: prefix.dropLast(), as: UTF8.self))") }
        }
        let n: Int
        do { n = Int(try r.u16()) } catch { throw .truncated(field: "\(field) count") }
        guard n <= maxMessages else { throw .invalid(field: field, reason: "holds \(n) messages; at most \(maxMessages)") }
        var out: [ChatEnvelope] = []
        out.reserveCapacity(n)
        for _ in 0..<n {
            let bytes: [UInt8]
            do {
                let length = Int(try r.u32())
                bytes = try r.take(length)
            } catch { throw .truncated(field: "\(field) entry") }
            let e = try ChatEnvelope(decoding: bytes)
            guard e.kind == .message else { throw .invalid(field: field, reason: "may hold room messages only") }
            out.append(e)
        }
        guard r.isAtEnd else { throw .trailingBytes(r.remaining) }
        return out
    }
}
