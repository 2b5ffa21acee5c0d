// Unsigned varints as used by every multiformat.
// Spec: https://github.com/multiformats/unsigned-varint
// Unsigned LEB128: 7 value bits per byte, least significant group first, the high bit set on
// every byte but the last. The spec caps a varint at 9 bytes (63 bits) and requires the minimal
// encoding, so every value has exactly one byte form.

/// Unsigned varint encoding and strict decoding (multiformats/unsigned-varint).
public enum Varint {
    /// The most bytes a varint may take.
    public static let maxLength = 9

    /// The largest value the spec allows (2^63 - 1).
    public static let maxValue: UInt64 = (1 << 63) - 1

    /// Encodes `value` minimally.
    ///
    /// Values above ``maxValue`` are outside the spec: they come out as the 10-byte LEB128 form,
    /// which ``decode(_:offset:)`` rejects with ``MultiformatError/varintOverflow``. Codes and
    /// lengths in this runtime never get there.
    public static func encode(_ value: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(2)
        append(value, to: &out)
        return out
    }

    /// Appends the minimal encoding of `value` to `buffer`.
    static func append(_ value: UInt64, to buffer: inout [UInt8]) {
        var rest = value
        while rest >= 0x80 {
            buffer.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        buffer.append(UInt8(truncatingIfNeeded: rest))
    }

    /// Decodes one varint from `bytes` starting at `offset`.
    ///
    /// On success `offset` moves past the varint; on failure it is left unchanged.
    /// - Throws: ``MultiformatError/varintTruncated`` if the bytes end mid-varint (or `offset` is
    ///   out of range), ``MultiformatError/varintOverflow`` past 9 bytes,
    ///   ``MultiformatError/varintNotMinimal`` for a padded encoding.
    public static func decode(_ bytes: [UInt8], offset: inout Int) throws(MultiformatError) -> UInt64 {
        guard offset >= 0, offset <= bytes.count else { throw .varintTruncated }
        var result: UInt64 = 0
        var position = offset
        for index in 0..<maxLength {
            guard position < bytes.count else { throw .varintTruncated }
            let byte = bytes[position]
            position += 1
            result |= UInt64(byte & 0x7f) << UInt64(7 * index)
            if byte & 0x80 == 0 {
                // A final zero group after other groups adds nothing: the encoding is padded.
                if byte == 0 && index > 0 { throw .varintNotMinimal }
                offset = position
                return result
            }
        }
        throw .varintOverflow
    }
}
