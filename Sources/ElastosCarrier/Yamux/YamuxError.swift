public import CarrierWire

/// Why a Yamux session or stream failed.
public enum YamuxError: Error, Equatable, Sendable, CustomStringConvertible {
    case wire(WireError)
    case windowExceeded(streamID: UInt32, length: UInt32, window: UInt32)
    case unknownStream(UInt32)
    case streamReset
    case streamClosedForWriting
    case sessionClosed
    case goneAway
    case tooManyStreams(limit: Int)
    case wrongStreamIDParity(UInt32)
    case pingTimeout
    case keepAliveTimeout

    public var description: String {
        switch self {
        case .wire(let e): e.description
        case .windowExceeded(let id, let length, let window):
            "yamux: peer sent \(length) bytes on stream \(id) with only \(window) bytes of window"
        case .unknownStream(let id): "yamux: frame for unknown stream \(id)"
        case .streamReset: "yamux: the stream was reset"
        case .streamClosedForWriting: "yamux: the stream is closed for writing"
        case .sessionClosed: "yamux: the connection is closed"
        case .goneAway: "yamux: the peer is going away and accepts no new streams"
        case .tooManyStreams(let limit): "yamux: the stream limit (\(limit)) is reached"
        case .wrongStreamIDParity(let id): "yamux: peer opened stream \(id) with our parity"
        case .pingTimeout: "yamux: ping timed out"
        case .keepAliveTimeout: "yamux: the peer did not answer the keep-alive ping"
        }
    }
}
