public import CarrierWire

/// Why a Noise handshake or transport message was refused.
public enum NoiseError: Error, Equatable, Sendable, CustomStringConvertible {
    case wrongMessageLength(expectedAtLeast: Int, got: Int)
    case decryptionFailed
    case invalidDHKey
    case invalidPayload(WireError)
    case badIdentitySignature
    case peerMismatch(expected: String, got: String)
    case outOfTurn
    case nonceExhausted

    public var description: String {
        switch self {
        case .wrongMessageLength(let n, let got): "noise: handshake message of \(got) bytes, expected at least \(n)"
        case .decryptionFailed: "noise: a message failed authentication (wrong key or corrupted)"
        case .invalidDHKey: "noise: the peer's X25519 key is invalid"
        case .invalidPayload(let e): "noise: bad handshake payload: \(e)"
        case .badIdentitySignature: "noise: the peer's identity signature over its static key does not verify"
        case .peerMismatch(let expected, let got): "noise: dialed \(expected) but the remote is \(got)"
        case .outOfTurn: "noise: handshake message out of turn"
        case .nonceExhausted: "noise: nonce exhausted"
        }
    }
}
