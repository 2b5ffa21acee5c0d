// Binary bodies for `elastos://did/…` (docs/DID.md), for capsules that cannot parse JSON or
// base64 cheaply (Embedded Swift WASM guests). No Foundation; strict decoding.
//
//   text = u16 length ‖ UTF-8 (≤ 4096 bytes)      blob = u32 length ‖ bytes (≤ 64 KiB; a sealed
//   blob ≤ 64 KiB + 48)

import CapsuleWire

/// Why a DID body did not decode.
public enum DIDWireError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(field: String)
    case invalidUTF8(field: String)
    case tooLong(field: String, length: Int, limit: Int)
    case unsupportedVersion(UInt8)
    case trailingBytes(Int)

    public var description: String {
        switch self {
        case .truncated(let f): "DID request ends inside '\(f)'"
        case .invalidUTF8(let f): "DID request field '\(f)' is not valid UTF-8"
        case .tooLong(let f, let n, let limit): "DID request field '\(f)' is \(n) bytes; the limit is \(limit)"
        case .unsupportedVersion(let v): "DID request version \(v) is not supported (this side speaks \(DIDWire.version))"
        case .trailingBytes(let n): "DID request has \(n) bytes after its end"
        }
    }
}

public enum DIDWire {
    /// The first byte of every binary body (JSON bodies start with `{`, 0x7B).
    public static let version: UInt8 = 1
    public static let maxText = 4096
    public static let maxBlob = 64 << 10
    /// What a seal adds to its plaintext: the 32-byte encapsulated key and the 16-byte tag
    /// (docs/DID.md, Sealing), so a sealed maxBlob plaintext still decodes.
    public static let sealOverhead = 48
    public static let maxSealed = maxBlob + sealOverhead
}

/// `read elastos://did/verify` in binary: was `signature` made by `did` for `capsule` over
/// `message` (through `execute elastos://did/self/sign` on that node)? The reply is one byte,
/// 1 (valid) or 0.
public struct DIDVerifyRequest: Equatable, Sendable {
    public var did: String
    public var capsule: String
    public var message: [UInt8]
    public var signature: [UInt8]

    public init(did: String, capsule: String, message: [UInt8], signature: [UInt8]) {
        self.did = did; self.capsule = capsule; self.message = message; self.signature = signature
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.u8(DIDWire.version)
        DIDCoding.text(&w, did); DIDCoding.text(&w, capsule); DIDCoding.blob(&w, message); DIDCoding.blob(&w, signature)
        return w.bytes
    }

    public init(decoding body: [UInt8]) throws(DIDWireError) {
        var r = ByteReader(body)
        try DIDCoding.version(&r)
        did = try DIDCoding.text(&r, "did")
        capsule = try DIDCoding.text(&r, "capsule")
        message = try DIDCoding.blob(&r, "message")
        signature = try DIDCoding.blob(&r, "signature")
        try DIDCoding.end(r)
    }
}

/// `read elastos://did/seal`: seal `plaintext` to `recipient` (a did:key), authenticating
/// `aad` too. The reply is the sealed bytes (docs/DID.md, Sealing).
public struct DIDSealRequest: Equatable, Sendable {
    public var recipient: String
    public var aad: [UInt8]
    public var plaintext: [UInt8]

    public init(recipient: String, aad: [UInt8], plaintext: [UInt8]) {
        self.recipient = recipient; self.aad = aad; self.plaintext = plaintext
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.u8(DIDWire.version)
        DIDCoding.text(&w, recipient); DIDCoding.blob(&w, aad); DIDCoding.blob(&w, plaintext)
        return w.bytes
    }

    public init(decoding body: [UInt8]) throws(DIDWireError) {
        var r = ByteReader(body)
        try DIDCoding.version(&r)
        recipient = try DIDCoding.text(&r, "recipient")
        aad = try DIDCoding.blob(&r, "aad")
        plaintext = try DIDCoding.blob(&r, "plaintext")
        try DIDCoding.end(r)
    }
}

/// `execute elastos://did/self/open`: open `sealed` (made by a seal to this node's DID) with
/// the same `aad`. The reply is the plaintext.
public struct DIDOpenRequest: Equatable, Sendable {
    public var aad: [UInt8]
    public var sealed: [UInt8]

    public init(aad: [UInt8], sealed: [UInt8]) {
        self.aad = aad; self.sealed = sealed
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.u8(DIDWire.version)
        DIDCoding.blob(&w, aad); DIDCoding.blob(&w, sealed)
        return w.bytes
    }

    public init(decoding body: [UInt8]) throws(DIDWireError) {
        var r = ByteReader(body)
        try DIDCoding.version(&r)
        aad = try DIDCoding.blob(&r, "aad")
        sealed = try DIDCoding.blob(&r, "sealed", limit: DIDWire.maxSealed)
        try DIDCoding.end(r)
    }
}

/// The field coding of this module's bodies.
enum DIDCoding {
    static func text(_ w: inout ByteWriter, _ s: String) {
        var b = Array(s.utf8)
        if b.count > DIDWire.maxText {
            var end = DIDWire.maxText
            while end > 0 && b[end] & 0xC0 == 0x80 { end -= 1 }
            b = Array(b[0..<end])
        }
        w.lengthPrefixed(b)
    }

    static func blob(_ w: inout ByteWriter, _ b: [UInt8]) { w.u32(UInt32(truncatingIfNeeded: b.count)); w.raw(b) }

    static func version(_ r: inout ByteReader) throws(DIDWireError) {
        let v: UInt8
        do { v = try r.u8() } catch { throw .truncated(field: "version") }
        guard v == DIDWire.version else { throw .unsupportedVersion(v) }
    }

    static func text(_ r: inout ByteReader, _ field: String) throws(DIDWireError) -> String {
        let n: Int
        do { n = Int(try r.u16()) } catch { throw .truncated(field: field) }
        guard n <= DIDWire.maxText else { throw .tooLong(field: field, length: n, limit: DIDWire.maxText) }
        let b: [UInt8]
        do { b = try r.take(n) } catch { throw .truncated(field: field) }
        guard let s = String(validating: b, as: UTF8.self) else { throw .invalidUTF8(field: field) }
        return s
    }

    static func blob(_ r: inout ByteReader, _ field: String, limit: Int = DIDWire.maxBlob) throws(DIDWireError) -> [UInt8] {
        let n: Int
        do { n = Int(try r.u32()) } catch { throw .truncated(field: field) }
        guard n <= limit else { throw .tooLong(field: field, length: n, limit: limit) }
        do { return try r.take(n) } catch { throw .truncated(field: field) }
    }

    static func end(_ r: ByteReader) throws(DIDWireError) {
        guard r.isAtEnd else { throw .trailingBytes(r.remaining) }
    }
}
