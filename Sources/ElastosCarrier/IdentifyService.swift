// `/ipfs/id/1.0.0` and `/ipfs/id/push/1.0.0`. The message is varint-length-prefixed; py-libp2p's
// parser also takes it raw, and so do we (a message read to EOF that does not parse as
// length-prefixed is tried as a bare protobuf).
import CarrierWire

enum IdentifyService {
    static func answer(_ stream: CarrierStream, with message: IdentifyMessage) async {
        try? await stream.writeLengthPrefixed(message.bytes)
        try? await stream.closeWrite()
    }

    static func request(_ stream: CarrierStream) async throws(CarrierError) -> IdentifyMessage {
        let all = try await stream.readToEnd(limit: IdentifyMessage.maxLength + 16)
        try? await stream.closeWrite()
        return try decode(all)
    }

    /// Reads a pushed message (bounded by 10 s, as py does) and merges it into what we know of
    /// the peer. nil: nothing usable arrived; false: it carried a peer record that failed to open.
    static func receivePush(_ stream: CarrierStream, into connection: CarrierConnection) async -> Bool? {
        let timer = Task {
            try? await Task.sleep(for: .seconds(10))
            if !Task.isCancelled { stream.reset() }
        }
        defer { timer.cancel() }
        guard let all = try? await stream.readToEnd(limit: IdentifyMessage.maxLength + 16),
              let message = try? decode(all) else { return nil }
        try? await stream.closeWrite()
        return connection.update(with: message)
    }

    /// Writes `message` on an opened push stream and closes it; a peer that does not take it
    /// within `timeout` gets the stream reset.
    static func push(_ stream: CarrierStream, _ message: IdentifyMessage, timeout: Duration) async -> Bool {
        let timer = Task {
            try? await Task.sleep(for: timeout)
            if !Task.isCancelled { stream.reset() }
        }
        defer { timer.cancel() }
        do {
            try await stream.writeLengthPrefixed(message.bytes)
            try await stream.closeWrite()
            return true
        } catch {
            return false
        }
    }

    static func decode(_ bytes: [UInt8]) throws(CarrierError) -> IdentifyMessage {
        var buffer = bytes
        if let framed = try? LengthPrefixed.take(from: &buffer, limit: IdentifyMessage.maxLength), buffer.isEmpty,
           let message = try? IdentifyMessage(decoding: framed) {
            return message
        }
        do { return try IdentifyMessage(decoding: bytes) } catch { throw .malformed(error) }
    }
}
