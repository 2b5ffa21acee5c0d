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

    static func receivePush(_ stream: CarrierStream, into connection: CarrierConnection) async {
        guard let all = try? await stream.readToEnd(limit: IdentifyMessage.maxLength + 16),
              let message = try? decode(all) else { return }
        try? await stream.closeWrite()
        connection.update(with: message)
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
