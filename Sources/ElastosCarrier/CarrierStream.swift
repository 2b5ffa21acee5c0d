// A stream to a peer for one protocol, negotiated with multistream-select over a Yamux stream.
import ElastosCore
public import CarrierWire

/// Why a Carrier operation failed, in terms a caller can act on.
public enum CarrierError: Error, Sendable, CustomStringConvertible {
    case invalidAddress(String)
    case dialFailed(address: String, reason: String)
    case connection(ConnectionError)
    case notConnected(Libp2pPeerID)
    case protocolNotSupported(protocolID: String, peer: Libp2pPeerID)
    case negotiation(String)
    case stream(YamuxError)
    case messageTooLarge(limit: Int)
    case unexpectedEOF
    case pingMismatch
    case malformed(WireError)
    case notStarted
    /// A Circuit Relay v2 dial or reservation failed.
    case relay(RelayError)

    public var description: String {
        switch self {
        case .invalidAddress(let why): "invalid address: \(why)"
        case .dialFailed(let address, let reason): "could not connect to \(address): \(reason)"
        case .connection(let e): e.description
        case .notConnected(let peer): "not connected to \(peer)"
        case .protocolNotSupported(let id, let peer): "\(peer) does not support \(id)"
        case .negotiation(let why): why
        case .stream(let e): e.description
        case .messageTooLarge(let limit): "a message exceeded \(limit) bytes"
        case .unexpectedEOF: "the peer closed the stream early"
        case .pingMismatch: "the peer answered a ping with different bytes"
        case .malformed(let e): "malformed message: \(e)"
        case .notStarted: "the Carrier node is not started"
        case .relay(let e): e.description
        }
    }
}

/// One bidirectional stream to a peer, speaking `protocolID`.
public struct CarrierStream: Sendable {
    public let protocolID: String
    public let remotePeer: Libp2pPeerID
    let handle: YamuxStreamHandle

    /// The next bytes from the peer, or nil once the peer has closed its side.
    public func read() async throws(CarrierError) -> [UInt8]? {
        do { return try await handle.read() } catch { throw Self.map(error) }
    }

    /// Sends `bytes`; waits while the peer's receive window is full.
    public func write(_ bytes: [UInt8]) async throws(CarrierError) {
        do { try await handle.write(bytes) } catch { throw Self.map(error) }
    }

    /// Closes our side; the peer sees end of stream. Reading stays possible.
    public func closeWrite() async throws(CarrierError) {
        do { try await handle.closeWrite() } catch { throw Self.map(error) }
    }

    /// Abandons the stream in both directions.
    public func reset() { handle.reset() }

    /// Reads exactly `count` bytes.
    public func read(exactly count: Int) async throws(CarrierError) -> [UInt8] {
        var out: [UInt8] = []
        while out.count < count {
            guard let chunk = try await read() else { throw .unexpectedEOF }
            out += chunk
        }
        if out.count > count {
            try await unread(Array(out[count...]))
            out.removeLast(out.count - count)
        }
        return out
    }

    /// Reads until the peer closes, refusing more than `limit` bytes.
    public func readToEnd(limit: Int) async throws(CarrierError) -> [UInt8] {
        var out: [UInt8] = []
        while let chunk = try await read() {
            out += chunk
            guard out.count <= limit else { reset(); throw .messageTooLarge(limit: limit) }
        }
        return out
    }

    /// Reads one varint-length-prefixed message of at most `limit` bytes.
    public func readLengthPrefixed(limit: Int) async throws(CarrierError) -> [UInt8] {
        var buffer: [UInt8] = []
        while true {
            do {
                if let message = try LengthPrefixed.take(from: &buffer, limit: limit) {
                    try await unread(buffer)
                    return message
                }
            } catch let error as WireError { throw .malformed(error) } catch let error as CarrierError { throw error } catch {
                throw .unexpectedEOF
            }
            guard let chunk = try await read() else { throw .unexpectedEOF }
            buffer += chunk
        }
    }

    /// Writes one varint-length-prefixed message.
    public func writeLengthPrefixed(_ message: [UInt8]) async throws(CarrierError) {
        try await write(LengthPrefixed.encode(message))
    }

    func unread(_ bytes: [UInt8]) async throws(CarrierError) {
        guard !bytes.isEmpty else { return }
        do { try await handle.unread(bytes) } catch { throw Self.map(error) }
    }

    static func map(_ error: any Error) -> CarrierError {
        if let e = error as? YamuxError { return .stream(e) }
        if let e = error as? CarrierError { return e }
        return .stream(.sessionClosed)
    }
}

extension CarrierStream {
    /// Runs multistream-select on a fresh Yamux stream as the dialer, proposing `protocolIDs` in
    /// order until the peer accepts one.
    static func negotiateOutbound(_ handle: YamuxStreamHandle, protocolIDs: [String], peer: Libp2pPeerID) async throws(CarrierError) -> CarrierStream {
        var negotiation = MultistreamNegotiation(role: .dialer(proposals: protocolIDs))
        let raw = CarrierStream(protocolID: "", remotePeer: peer, handle: handle)
        try await raw.write(negotiation.initialOutput())
        return try await raw.finish(&negotiation, peer: peer)
    }

    /// Runs multistream-select on a stream the peer opened, accepting one of `supported`.
    static func negotiateInbound(_ handle: YamuxStreamHandle, supported: [String], peer: Libp2pPeerID) async throws(CarrierError) -> CarrierStream {
        var negotiation = MultistreamNegotiation(role: .listener(supported: supported))
        let raw = CarrierStream(protocolID: "", remotePeer: peer, handle: handle)
        try await raw.write(negotiation.initialOutput())
        return try await raw.finish(&negotiation, peer: peer)
    }

    private func finish(_ negotiation: inout MultistreamNegotiation, peer: Libp2pPeerID) async throws(CarrierError) -> CarrierStream {
        var buffer: [UInt8] = []
        while negotiation.selected == nil {
            guard let chunk = try await read() else { throw .unexpectedEOF }
            buffer += chunk
            let reply: [UInt8]
            do { reply = try negotiation.receive(from: &buffer) } catch {
                if case .noProtocolAgreed(let proposed) = error, let first = proposed.first {
                    reset()
                    throw .protocolNotSupported(protocolID: first, peer: peer)
                }
                reset()
                throw .negotiation(error.description)
            }
            if !reply.isEmpty { try await write(reply) }
        }
        try await unread(buffer)
        return CarrierStream(protocolID: negotiation.selected ?? "", remotePeer: peer, handle: handle)
    }
}
