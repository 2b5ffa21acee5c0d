// Unsigned varints (multiformats/unsigned-varint) on byte slices, for wire decoding that must not
// copy. Same rules as ElastosCore's `Varint`: at most 9 bytes, minimal encoding.
import ElastosCore

public enum UVarint {
    /// Appends the minimal encoding of `value`.
    public static func append(_ value: UInt64, to out: inout [UInt8]) {
        out.append(contentsOf: Varint.encode(value))
    }

    /// Decodes a varint at `offset` in `bytes`. Returns nil (offset unchanged) when the bytes end
    /// before the varint does — the caller may wait for more input — and throws if it is malformed.
    public static func decodeIfComplete<C: RandomAccessCollection>(
        _ bytes: C, offset: inout C.Index
    ) throws(WireError) -> UInt64? where C.Element == UInt8 {
        var result: UInt64 = 0
        var position = offset
        for index in 0..<Varint.maxLength {
            guard position < bytes.endIndex else { return nil }
            let byte = bytes[position]
            position = bytes.index(after: position)
            result |= UInt64(byte & 0x7f) << UInt64(7 * index)
            if byte & 0x80 == 0 {
                if byte == 0 && index > 0 { throw .badVarint }
                offset = position
                return result
            }
        }
        throw .badVarint
    }

    /// Decodes a varint that must be complete.
    public static func decode<C: RandomAccessCollection>(
        _ bytes: C, offset: inout C.Index, what: String
    ) throws(WireError) -> UInt64 where C.Element == UInt8 {
        guard let value = try decodeIfComplete(bytes, offset: &offset) else { throw .truncated(what) }
        return value
    }
}
