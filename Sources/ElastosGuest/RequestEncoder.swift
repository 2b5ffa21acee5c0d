public import CapsuleWire

/// Builds request frames byte for byte as `CapsuleFrame.encoded()` does (ElastosWasmTests
/// compares the two), in a way that stays cheap in the WasmKit interpreter: one allocation of
/// the exact size, bulk copies for strings and blobs. CapsuleWire's generic encoder costs about
/// 70 µs per `call` frame there (its `Array(s.utf8.prefix(n))` alone about 45 µs), which was
/// 80 % of a round trip.
public enum RequestEncoder {
    /// CapsuleWire's limit for `str` fields (its `maxStringLength`).
    static let maxStringLength = 4096

    public static func encode(id: UInt32, _ request: CapsuleRequest) -> [UInt8] {
        switch request {
        case .call(let uri, let action, let token, let body):
            return withUTF8(uri) { u in
                frame(kind: 0x01, id: id, size: 2 + u.count + 1 + 4 + token.count + 4 + body.count) { w in
                    w.str(u); w.byte(action.bit); w.blob(token); w.blob(body)
                }
            }
        case .requestCapability(let uri, let actions, let reason):
            return withUTF8(uri) { u in
                withUTF8(reason) { r in
                    frame(kind: 0x02, id: id, size: 2 + u.count + 1 + 2 + r.count) { w in
                        w.str(u); w.byte(actions.mask); w.str(r)
                    }
                }
            }
        case .ping:
            return frame(kind: 0x03, id: id, size: 0) { _ in }
        case .info:
            return frame(kind: 0x04, id: id, size: 0) { _ in }
        case .subscribe(let uri, let token):
            return withUTF8(uri) { u in
                frame(kind: 0x05, id: id, size: 2 + u.count + 4 + token.count) { w in w.str(u); w.blob(token) }
            }
        case .unsubscribe(let s):
            return frame(kind: 0x06, id: id, size: 4) { w in w.u32(s) }
        case .served(let body):
            return frame(kind: 0x07, id: id, size: 4 + body.count) { w in w.blob(body) }
        case .serveFailed(let code, let message):
            return withUTF8(message) { m in
                frame(kind: 0x08, id: id, size: 2 + 2 + m.count) { w in w.u16(code.rawValue); w.str(m) }
            }
        }
    }

    /// The UTF-8 of `s`, cut to the limit exactly as CapsuleWire cuts it: only when longer than
    /// 4096 bytes, at the last character boundary at or before byte 4096.
    private static func withUTF8<T>(_ s: String, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        var s = s
        return s.withUTF8 { all in
            var n = all.count
            if n > maxStringLength {
                n = maxStringLength
                while n > 0 && all[n] & 0xC0 == 0x80 { n -= 1 }
            }
            return body(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(all)[0..<n]))
        }
    }

    /// `length ‖ version ‖ kind ‖ id ‖ payload`, the payload written by `fill` into exactly
    /// `size` bytes (copies are single `memory.copy` instructions in a guest).
    private static func frame(kind: UInt8, id: UInt32, size: Int, _ fill: (inout Writer) -> Void) -> [UInt8] {
        let total = 4 + CapsuleFrame.headerSize + size
        return [UInt8](unsafeUninitializedCapacity: total) { buffer, count in
            guard let base = buffer.baseAddress else { count = 0; return }
            var w = Writer(base: UnsafeMutableRawPointer(base))
            w.u32(UInt32(truncatingIfNeeded: total - 4)); w.byte(CapsuleFrame.version); w.byte(kind); w.u32(id)
            fill(&w)
            count = total
        }
    }

    /// Writes forward from `base`; the caller sized the buffer for everything written.
    private struct Writer {
        var base: UnsafeMutableRawPointer
        mutating func byte(_ v: UInt8) { base.storeBytes(of: v, as: UInt8.self); base += 1 }
        mutating func u16(_ v: UInt16) { byte(UInt8(truncatingIfNeeded: v >> 8)); byte(UInt8(truncatingIfNeeded: v)) }
        mutating func u32(_ v: UInt32) { base.storeBytes(of: v.bigEndian, as: UInt32.self); base += 4 }
        mutating func raw(_ b: UnsafeRawBufferPointer) {
            if let p = b.baseAddress, b.count > 0 { base.copyMemory(from: p, byteCount: b.count) }
            base += b.count
        }
        mutating func str(_ b: UnsafeRawBufferPointer) {
            byte(UInt8(truncatingIfNeeded: b.count >> 8)); byte(UInt8(truncatingIfNeeded: b.count)); raw(b)
        }
        mutating func blob(_ b: [UInt8]) {
            u32(UInt32(truncatingIfNeeded: b.count))
            b.withUnsafeBytes { raw($0) }
        }
    }
}

/// The common answer, a `reply`, read straight from a received buffer; anything else (or
/// anything not exactly a well-formed reply) is left to `CapsuleFrame.decode`, which is strict.
public enum ReplyDecoder {
    public static func reply(_ bytes: UnsafeRawBufferPointer) -> CapsuleFrame? {
        let n = bytes.count
        guard n >= 14, bytes[4] == CapsuleFrame.version, bytes[5] == 0x81 else { return nil }
        // u32 arithmetic: wasm32 guests have a 32-bit Int.
        func u32(_ i: Int) -> UInt32 { UInt32(bytes[i]) << 24 | UInt32(bytes[i + 1]) << 16 | UInt32(bytes[i + 2]) << 8 | UInt32(bytes[i + 3]) }
        guard UInt64(u32(0)) == UInt64(n - 4), UInt64(u32(10)) == UInt64(n - 14) else { return nil }
        let id = u32(6)
        return .runtime(id: id, .reply(body: Array(UnsafeRawBufferPointer(rebasing: bytes[14..<n]))))
    }
}
