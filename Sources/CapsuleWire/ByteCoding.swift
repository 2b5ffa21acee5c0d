/// Big-endian writer for the fixed binary formats (capability tokens, checkpoints, frames).
package struct ByteWriter {
    package private(set) var bytes: [UInt8] = []

    package init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    package mutating func u8(_ v: UInt8) { bytes.append(v) }
    package mutating func u16(_ v: UInt16) { bytes.append(UInt8(v >> 8)); bytes.append(UInt8(v & 0xFF)) }
    package mutating func u32(_ v: UInt32) { for s in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt32(s))) } }
    package mutating func u64(_ v: UInt64) { for s in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(s))) } }
    package mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    package mutating func raw(_ b: ArraySlice<UInt8>) { bytes.append(contentsOf: b) }
    /// A u16 length prefix and the bytes. Callers bound the length first.
    package mutating func lengthPrefixed(_ b: [UInt8]) { u16(UInt16(truncatingIfNeeded: b.count)); raw(b) }
}

/// Bounds-checked big-endian reader over outside bytes. Every read either succeeds or throws
/// ``ByteReader/Underflow``; nothing here can trap.
package struct ByteReader {
    package struct Underflow: Error {
        package init() {}
    }

    package let bytes: [UInt8]
    package private(set) var offset: Int

    package init(_ bytes: [UInt8], offset: Int = 0) { self.bytes = bytes; self.offset = offset }

    package var remaining: Int { bytes.count - offset }
    package var isAtEnd: Bool { offset >= bytes.count }

    package mutating func u8() throws(Underflow) -> UInt8 {
        guard remaining >= 1 else { throw Underflow() }
        defer { offset += 1 }
        return bytes[offset]
    }

    package mutating func u16() throws(Underflow) -> UInt16 {
        guard remaining >= 2 else { throw Underflow() }
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    package mutating func u32() throws(Underflow) -> UInt32 {
        guard remaining >= 4 else { throw Underflow() }
        var v: UInt32 = 0
        for i in 0..<4 { v = v << 8 | UInt32(bytes[offset + i]) }
        offset += 4
        return v
    }

    package mutating func u64() throws(Underflow) -> UInt64 {
        guard remaining >= 8 else { throw Underflow() }
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(bytes[offset + i]) }
        offset += 8
        return v
    }

    package mutating func take(_ n: Int) throws(Underflow) -> [UInt8] {
        guard n >= 0, remaining >= n else { throw Underflow() }
        defer { offset += n }
        return Array(bytes[offset..<offset + n])
    }
}
