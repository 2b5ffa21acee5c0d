// A minimal protobuf (proto2/proto3 wire format) reader and writer for libp2p's small messages.
// Spec: https://protobuf.dev/programming-guides/encoding/
// Only wire types 0 (varint), 1 (64-bit), 2 (length-delimited) and 5 (32-bit) exist here; groups
// (3, 4) are refused. Unknown fields are skipped so newer peers' extra fields do not break us.

/// One decoded field: its number and its value.
public struct ProtobufField: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case varint(UInt64)
        case fixed64(UInt64)
        case bytes([UInt8])
        case fixed32(UInt32)
    }

    public let number: UInt64
    public let value: Value

    /// The field's bytes (wire type 2), or a typed error naming the field.
    public func bytes() throws(WireError) -> [UInt8] {
        guard case .bytes(let b) = value else { throw .unexpectedWireType(field: number) }
        return b
    }

    /// The field as UTF-8 text.
    public func string() throws(WireError) -> String {
        let raw = try bytes()
        guard let text = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8("field \(number)") }
        return text
    }

    /// The field's varint value.
    public func varint() throws(WireError) -> UInt64 {
        guard case .varint(let v) = value else { throw .unexpectedWireType(field: number) }
        return v
    }
}

/// Reads every field of one message. Throws on malformed input; never traps.
public enum ProtobufReader {
    public static func fields(_ message: [UInt8]) throws(WireError) -> [ProtobufField] {
        var out: [ProtobufField] = []
        var offset = 0
        while offset < message.count {
            let key = try UVarint.decode(message, offset: &offset, what: "protobuf field key")
            let number = key >> 3
            let wireType = UInt8(key & 7)
            guard number > 0 else { throw .badProtobufWireType(field: 0, wireType: wireType) }
            switch wireType {
            case 0:
                out.append(.init(number: number, value: .varint(try UVarint.decode(message, offset: &offset, what: "protobuf varint"))))
            case 1:
                guard message.count - offset >= 8 else { throw .truncated("protobuf fixed64") }
                var v: UInt64 = 0
                for i in 0..<8 { v |= UInt64(message[offset + i]) << UInt64(8 * i) }
                offset += 8
                out.append(.init(number: number, value: .fixed64(v)))
            case 2:
                let length = try UVarint.decode(message, offset: &offset, what: "protobuf length")
                guard length <= UInt64(message.count - offset) else { throw .truncated("protobuf field \(number)") }
                let end = offset + Int(length)
                out.append(.init(number: number, value: .bytes(Array(message[offset..<end]))))
                offset = end
            case 5:
                guard message.count - offset >= 4 else { throw .truncated("protobuf fixed32") }
                var v: UInt32 = 0
                for i in 0..<4 { v |= UInt32(message[offset + i]) << UInt32(8 * i) }
                offset += 4
                out.append(.init(number: number, value: .fixed32(v)))
            default:
                throw .badProtobufWireType(field: number, wireType: wireType)
            }
        }
        return out
    }
}

/// Builds one message field by field, in the order written.
public struct ProtobufWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func varint(_ field: UInt64, _ value: UInt64) {
        UVarint.append(field << 3, to: &bytes)
        UVarint.append(value, to: &bytes)
    }

    public mutating func bytes(_ field: UInt64, _ value: [UInt8]) {
        UVarint.append(field << 3 | 2, to: &bytes)
        UVarint.append(UInt64(value.count), to: &bytes)
        bytes.append(contentsOf: value)
    }

    public mutating func string(_ field: UInt64, _ value: String) {
        bytes(field, Array(value.utf8))
    }
}
