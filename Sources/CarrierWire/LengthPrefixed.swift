// Unsigned-varint length-prefixed messages, as used by multistream-select, identify and most
// libp2p stream protocols: varint(len) ‖ len bytes.

public enum LengthPrefixed {
    /// `varint(message.count) ‖ message`.
    public static func encode(_ message: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(message.count + 3)
        UVarint.append(UInt64(message.count), to: &out)
        out += message
        return out
    }

    /// Takes one complete message off the front of `buffer`, or returns nil if more bytes are
    /// needed. A length above `limit` is refused before anything is buffered for it.
    public static func take(from buffer: inout [UInt8], limit: Int) throws(WireError) -> [UInt8]? {
        var offset = 0
        guard let length = try UVarint.decodeIfComplete(buffer, offset: &offset) else {
            if buffer.count >= 9 { throw .badVarint }
            return nil
        }
        guard length <= UInt64(limit) else { throw .frameTooLarge(length: Int(clamping: length), limit: limit) }
        guard buffer.count - offset >= Int(length) else { return nil }
        let message = Array(buffer[offset..<offset + Int(length)])
        buffer.removeFirst(offset + Int(length))
        return message
    }
}
