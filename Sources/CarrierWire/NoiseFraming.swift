// Noise message framing for libp2p: https://github.com/libp2p/specs/blob/master/noise/README.md
// Every handshake and transport message is prefixed with its length as a 2-byte big-endian
// integer; a Noise message is at most 65535 bytes, so one frame's plaintext is at most 65519
// bytes (16 bytes go to the Poly1305 tag).

public enum NoiseFraming {
    public static let maxMessageLength = 65535
    public static let tagLength = 16
    public static let maxPlaintextLength = maxMessageLength - tagLength

    public static func frame(_ message: [UInt8]) -> [UInt8] {
        precondition(message.count <= maxMessageLength, "caller chunks Noise messages")
        return [UInt8(message.count >> 8), UInt8(message.count & 0xff)] + message
    }

    /// Takes one framed message off the front of `buffer` (starting at `start`), nil if incomplete.
    /// Returns the message and the index just past it.
    public static func take(from buffer: [UInt8], at start: Int) -> (message: ArraySlice<UInt8>, end: Int)? {
        guard buffer.count - start >= 2 else { return nil }
        let length = Int(buffer[start]) << 8 | Int(buffer[start + 1])
        guard buffer.count - start - 2 >= length else { return nil }
        return (buffer[(start + 2)..<(start + 2 + length)], start + 2 + length)
    }
}

/// `NoiseHandshakePayload { bytes identity_key = 1; bytes identity_sig = 2; NoiseExtensions extensions = 4; }`
/// `NoiseExtensions { repeated bytes webtransport_certhashes = 1; repeated string stream_muxers = 2; }`
public struct NoiseHandshakePayload: Equatable, Sendable {
    /// The libp2p `PublicKey` protobuf of the identity key.
    public var identityKey: [UInt8]
    /// Signature over `"noise-libp2p-static-key:" ‖ static X25519 public key`.
    public var identitySignature: [UInt8]
    /// Early muxer negotiation: the muxers this side supports, in preference order.
    public var streamMuxers: [String]

    public static let signaturePrefix = Array("noise-libp2p-static-key:".utf8)

    public init(identityKey: [UInt8], identitySignature: [UInt8], streamMuxers: [String] = []) {
        self.identityKey = identityKey
        self.identitySignature = identitySignature
        self.streamMuxers = streamMuxers
    }

    public var bytes: [UInt8] {
        var w = ProtobufWriter()
        w.bytes(1, identityKey)
        w.bytes(2, identitySignature)
        if !streamMuxers.isEmpty {
            var ext = ProtobufWriter()
            for m in streamMuxers { ext.string(2, m) }
            w.bytes(4, ext.bytes)
        }
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws(WireError) {
        var key: [UInt8]?, sig: [UInt8]?, muxers: [String] = []
        for field in try ProtobufReader.fields(bytes) {
            switch field.number {
            case 1: key = try field.bytes()
            case 2: sig = try field.bytes()
            case 4:
                for ext in try ProtobufReader.fields(try field.bytes()) where ext.number == 2 {
                    muxers.append(try ext.string())
                }
            default: continue  // py-libp2p's early_data (3) and anything newer
            }
        }
        guard let key else { throw .missingField("identity_key") }
        guard let sig else { throw .missingField("identity_sig") }
        identityKey = key
        identitySignature = sig
        streamMuxers = muxers
    }
}
