import Crypto
import Foundation

/// Keys derived from the master key (docs/STORAGE.md, "Keys"). HKDF-SHA256 with a fixed salt;
/// `info` is a domain tag, then the namespace and path, separated by 0x00 (neither may contain
/// NUL, so the encoding is unambiguous).
struct StorageKeys: Sendable {
    static let salt = Array("elastos.storage.v1.hkdf-salt".utf8)
    static let objectKeyTag = "elastos.storage.v1.object-key"
    static let indexKeyTag = "elastos.storage.v1.index-key"
    static let namingKeyTag = "elastos.storage.v1.naming-key"

    private let master: SymmetricKey
    /// Keys the HMAC that names directories and object files.
    private let naming: SymmetricKey

    init(master: SymmetricKey) {
        self.master = master
        naming = Self.derive(master, info: Self.info(Self.namingKeyTag, []))
    }

    static func info(_ tag: String, _ parts: [String]) -> [UInt8] {
        var out = Array(tag.utf8)
        for p in parts { out.append(0); out.append(contentsOf: p.utf8) }
        return out
    }

    static func derive(_ master: SymmetricKey, info: [UInt8]) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: master, salt: salt, info: info, outputByteCount: 32)
    }

    /// The AES-256-GCM key of one path's objects: every version of that path shares it, and a
    /// fresh random nonce per write keeps (key, nonce) pairs unique.
    func objectKey(_ namespace: StorageNamespace, _ path: StoragePath) -> SymmetricKey {
        Self.derive(master, info: Self.info(Self.objectKeyTag, [namespace.text, path.text]))
    }

    func indexKey(_ namespace: StorageNamespace) -> SymmetricKey {
        Self.derive(master, info: Self.info(Self.indexKeyTag, [namespace.text]))
    }

    /// `HMAC-SHA256(naming key, "namespace" ‖ 0 ‖ namespace)`, first 16 bytes, hex.
    func directoryName(_ namespace: StorageNamespace) -> String {
        name(Self.info("namespace", [namespace.text]))
    }

    /// `HMAC-SHA256(naming key, "object" ‖ 0 ‖ namespace ‖ 0 ‖ path ‖ 0 ‖ version u64 BE)`,
    /// first 16 bytes, hex: a new file for every version, and nothing about the path on disk.
    func objectFileName(_ namespace: StorageNamespace, _ path: StoragePath, version: UInt64) -> String {
        var message = Self.info("object", [namespace.text, path.text])
        message.append(0)
        message.appendBigEndian(version)
        return name(message)
    }

    private func name(_ message: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: naming)
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(32)
        for b in mac.prefix(16) { hex.append(digits[Int(b >> 4)]); hex.append(digits[Int(b & 0xF)]) }
        return String(decoding: hex, as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian(_ v: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
    }
    mutating func appendBigEndian(_ v: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
    }
    mutating func appendBigEndian(_ v: UInt16) {
        append(UInt8(v >> 8)); append(UInt8(truncatingIfNeeded: v))
    }
}

/// Reads big-endian fields from bytes that may be short; every read reports running out.
struct ByteReader {
    let bytes: [UInt8]
    var offset: Int

    init(_ bytes: [UInt8], offset: Int = 0) { self.bytes = bytes; self.offset = offset }

    var remaining: Int { bytes.count - offset }

    mutating func take(_ n: Int) -> ArraySlice<UInt8>? {
        guard n >= 0, remaining >= n else { return nil }
        defer { offset += n }
        return bytes[offset..<offset + n]
    }

    mutating func uint(_ width: Int) -> UInt64? {
        guard let s = take(width) else { return nil }
        return s.reduce(0) { $0 << 8 | UInt64($1) }
    }
}
