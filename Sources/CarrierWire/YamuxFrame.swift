// Yamux frame header: https://github.com/hashicorp/yamux/blob/master/spec.md (as used by libp2p,
// https://github.com/libp2p/specs/blob/master/yamux/README.md). 12 bytes, big-endian:
//   version (1) = 0 ‖ type (1) ‖ flags (2) ‖ stream id (4) ‖ length (4)
// For Data the length is the body's size; for WindowUpdate the credit; for Ping the opaque
// value; for GoAway the error code.

public struct YamuxFrameHeader: Equatable, Sendable {
    public enum Kind: UInt8, Sendable { case data = 0, windowUpdate = 1, ping = 2, goAway = 3 }

    public struct Flags: OptionSet, Sendable, Hashable {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }
        public static let syn = Flags(rawValue: 1)
        public static let ack = Flags(rawValue: 2)
        public static let fin = Flags(rawValue: 4)
        public static let rst = Flags(rawValue: 8)
        static let known: Flags = [.syn, .ack, .fin, .rst]
    }

    public enum GoAwayCode: UInt32, Sendable { case normal = 0, protocolError = 1, internalError = 2 }

    public static let size = 12

    public var kind: Kind
    public var flags: Flags
    public var streamID: UInt32
    public var length: UInt32

    public init(kind: Kind, flags: Flags = [], streamID: UInt32, length: UInt32) {
        self.kind = kind
        self.flags = flags
        self.streamID = streamID
        self.length = length
    }

    public var bytes: [UInt8] {
        [0, kind.rawValue, UInt8(flags.rawValue >> 8), UInt8(flags.rawValue & 0xff),
         UInt8(streamID >> 24), UInt8((streamID >> 16) & 0xff), UInt8((streamID >> 8) & 0xff), UInt8(streamID & 0xff),
         UInt8(length >> 24), UInt8((length >> 16) & 0xff), UInt8((length >> 8) & 0xff), UInt8(length & 0xff)]
    }

    /// Decodes a header from the first 12 bytes of `bytes`.
    public init<C: RandomAccessCollection>(decoding bytes: C) throws(WireError) where C.Element == UInt8, C.Index == Int {
        guard bytes.count >= Self.size else { throw .truncated("yamux header") }
        let b = bytes.startIndex
        guard bytes[b] == 0 else { throw .yamux("unsupported version \(bytes[b])") }
        guard let kind = Kind(rawValue: bytes[b + 1]) else { throw .yamux("unknown frame type \(bytes[b + 1])") }
        let flags = Flags(rawValue: UInt16(bytes[b + 2]) << 8 | UInt16(bytes[b + 3]))
        // Unknown flag bits are ignored, as go-yamux does.
        self.kind = kind
        self.flags = flags.intersection(.known)
        func u32(_ at: Int) -> UInt32 {
            UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
        }
        streamID = u32(b + 4)
        length = u32(b + 8)
        if (kind == .ping || kind == .goAway) && streamID != 0 {
            throw .yamux("\(kind) frame on stream \(streamID), must be 0")
        }
    }
}
