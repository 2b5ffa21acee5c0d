// The XX handshake with the libp2p payload: https://github.com/libp2p/specs/blob/master/noise/README.md
//   -> e
//   <- e, ee, s, es   (payload: responder's identity)
//   -> s, se          (payload: initiator's identity)
// Each side's payload carries its libp2p identity key and a signature over
// "noise-libp2p-static-key:" ‖ its X25519 static key, which the other side verifies.
import CarrierWire
import Crypto
import ElastosCore

/// One side of a Noise XX handshake, driven by bytes in memory (no socket).
struct NoiseHandshake {
    enum Role: Sendable { case initiator, responder }

    let role: Role
    private var symmetric = NoiseSymmetricState()
    private let staticKey = Curve25519.KeyAgreement.PrivateKey()
    private let ephemeralKey = Curve25519.KeyAgreement.PrivateKey()
    private var remoteEphemeral: Curve25519.KeyAgreement.PublicKey?
    private var remoteStatic: Curve25519.KeyAgreement.PublicKey?
    private let payload: [UInt8]
    private var step = 0

    /// The remote's verified identity, after its payload was read.
    private(set) var remotePeer: Libp2pPeerID?
    /// The muxers the remote offered for early negotiation (empty if it sent none).
    private(set) var remoteStreamMuxers: [String] = []

    init(role: Role, identity: SigningKey, streamMuxers: [String]) {
        self.role = role
        let staticPublic = Array(staticKey.publicKey.rawRepresentation)
        let signature = identity.signRaw(NoiseHandshakePayload.signaturePrefix + staticPublic)
        payload = NoiseHandshakePayload(identityKey: Libp2pPublicKey.protobuf(for: identity.publicKey),
                                        identitySignature: signature, streamMuxers: streamMuxers).bytes
    }

    /// True once all three messages have been written or read.
    var isComplete: Bool { step == 3 }

    /// True if the next message is ours to write.
    var isOurTurn: Bool { (role == .initiator) == (step % 2 == 0) }

    private func dh(_ priv: Curve25519.KeyAgreement.PrivateKey, _ pub: Curve25519.KeyAgreement.PublicKey?) throws(NoiseError) -> [UInt8] {
        guard let pub, let secret = try? priv.sharedSecretFromKeyAgreement(with: pub) else { throw .invalidDHKey }
        return secret.withUnsafeBytes { Array($0) }
    }

    private static func publicKey(_ bytes: ArraySlice<UInt8>) throws(NoiseError) -> Curve25519.KeyAgreement.PublicKey {
        guard let key = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: bytes) else { throw .invalidDHKey }
        return key
    }

    /// The next handshake message (unframed).
    mutating func writeMessage() throws(NoiseError) -> [UInt8] {
        guard isOurTurn, !isComplete else { throw .outOfTurn }
        var out: [UInt8] = []
        switch step {
        case 0:  // -> e
            let e = Array(ephemeralKey.publicKey.rawRepresentation)
            out += e
            symmetric.mixHash(e)
            out += try symmetric.encryptAndHash([])
        case 1:  // <- e, ee, s, es
            let e = Array(ephemeralKey.publicKey.rawRepresentation)
            out += e
            symmetric.mixHash(e)
            symmetric.mixKey(try dh(ephemeralKey, remoteEphemeral))
            out += try symmetric.encryptAndHash(Array(staticKey.publicKey.rawRepresentation))
            symmetric.mixKey(try dh(staticKey, remoteEphemeral))
            out += try symmetric.encryptAndHash(payload)
        default:  // -> s, se
            out += try symmetric.encryptAndHash(Array(staticKey.publicKey.rawRepresentation))
            symmetric.mixKey(try dh(staticKey, remoteEphemeral))
            out += try symmetric.encryptAndHash(payload)
        }
        step += 1
        return out
    }

    /// Reads the remote's next handshake message (unframed).
    mutating func readMessage(_ message: ArraySlice<UInt8>) throws(NoiseError) {
        guard !isOurTurn, !isComplete else { throw .outOfTurn }
        var rest = message
        func take(_ n: Int) throws(NoiseError) -> ArraySlice<UInt8> {
            guard rest.count >= n else { throw .wrongMessageLength(expectedAtLeast: n, got: message.count) }
            defer { rest = rest.dropFirst(n) }
            return rest.prefix(n)
        }
        switch step {
        case 0:  // -> e
            let e = try take(32)
            remoteEphemeral = try Self.publicKey(e)
            symmetric.mixHash(Array(e))
            _ = try symmetric.decryptAndHash(rest)  // empty payload
        case 1:  // <- e, ee, s, es
            let e = try take(32)
            remoteEphemeral = try Self.publicKey(e)
            symmetric.mixHash(Array(e))
            symmetric.mixKey(try dh(ephemeralKey, remoteEphemeral))
            let s = try symmetric.decryptAndHash(try take(48))
            remoteStatic = try Self.publicKey(s[...])
            symmetric.mixKey(try dh(ephemeralKey, remoteStatic))
            try verify(payload: try symmetric.decryptAndHash(rest), staticKey: s)
        default:  // -> s, se
            let s = try symmetric.decryptAndHash(try take(48))
            remoteStatic = try Self.publicKey(s[...])
            symmetric.mixKey(try dh(ephemeralKey, remoteStatic))
            try verify(payload: try symmetric.decryptAndHash(rest), staticKey: s)
        }
        step += 1
    }

    private mutating func verify(payload bytes: [UInt8], staticKey: [UInt8]) throws(NoiseError) {
        let payload: NoiseHandshakePayload
        let identity: Libp2pIdentityKey
        do {
            payload = try NoiseHandshakePayload(decoding: bytes)
            identity = try Libp2pIdentityKey(protobuf: payload.identityKey)
        } catch { throw .invalidPayload(error) }
        guard identity.isValidSignature(payload.identitySignature, for: NoiseHandshakePayload.signaturePrefix + staticKey) else {
            throw .badIdentitySignature
        }
        remotePeer = Libp2pPeerID(publicKeyProtobuf: payload.identityKey)
        remoteStreamMuxers = payload.streamMuxers
    }

    /// The transport ciphers (send, receive) once the handshake is complete.
    func transportCiphers() -> (send: NoiseCipherState, receive: NoiseCipherState) {
        let (initiatorToResponder, responderToInitiator) = symmetric.split()
        return role == .initiator ? (initiatorToResponder, responderToInitiator) : (responderToInitiator, initiatorToResponder)
    }
}
