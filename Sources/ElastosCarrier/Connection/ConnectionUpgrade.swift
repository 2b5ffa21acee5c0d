// Turns a raw TCP byte stream into an authenticated, multiplexable connection:
//   multistream-select `/noise` → Noise XX → (early muxer negotiation, or multistream-select
//   `/yamux/1.0.0` inside Noise) → Yamux.
// Driven by bytes in memory, so it can be tested without a socket.
public import CarrierWire
import ElastosCore

/// Why a connection could not be set up.
public enum ConnectionError: Error, Equatable, Sendable, CustomStringConvertible {
    case negotiation(MultistreamNegotiation.Failure)
    case noise(NoiseError)
    case muxerMismatch(remote: [String])
    case handshakeTimeout
    case closed

    public var description: String {
        switch self {
        case .negotiation(let f): f.description
        case .noise(let e): e.description
        case .muxerMismatch(let remote): "the peer offers no muxer we speak (it offers \(remote.joined(separator: ", ")))"
        case .handshakeTimeout: "the connection handshake did not finish in time"
        case .closed: "the connection closed during the handshake"
        }
    }
}

struct ConnectionUpgrade {
    static let noiseProtocol = "/noise"
    static let yamuxProtocol = "/yamux/1.0.0"

    enum Phase { case security, handshake, muxer, ready }

    let role: NoiseHandshake.Role
    let expectedPeer: Libp2pPeerID?
    private(set) var phase = Phase.security
    private var security: MultistreamNegotiation
    private var handshake: NoiseHandshake
    private var muxer: MultistreamNegotiation?
    private(set) var transport: NoiseTransport?
    private var raw: [UInt8] = []
    private var plaintext: [UInt8] = []
    private(set) var remotePeer: Libp2pPeerID?

    init(role: NoiseHandshake.Role, identity: SigningKey, expectedPeer: Libp2pPeerID?) {
        self.role = role
        self.expectedPeer = expectedPeer
        security = MultistreamNegotiation(role: role == .initiator
            ? .dialer(proposals: [Self.noiseProtocol]) : .listener(supported: [Self.noiseProtocol]))
        handshake = NoiseHandshake(role: role, identity: identity, streamMuxers: [Self.yamuxProtocol])
    }

    /// The bytes to send when the TCP connection opens.
    func start() -> [UInt8] { security.initialOutput() }

    /// Feeds received raw bytes; returns raw bytes to send. After `phase == .ready`, the
    /// remaining decrypted bytes (the start of the Yamux stream) are in `takeLeftover()`.
    mutating func receive(_ bytes: [UInt8]) throws(ConnectionError) -> [UInt8] {
        var output: [UInt8] = []
        if phase == .security || phase == .handshake {
            raw += bytes
        } else if phase == .muxer {
            do { plaintext += try transport!.decrypt(bytes) } catch { throw .noise(error) }
        }
        if phase == .security {
            do { output += try security.receive(from: &raw) } catch { throw .negotiation(error) }
            guard security.selected != nil else { return output }
            phase = .handshake
            if role == .initiator { output += try writeHandshake() }
        }
        if phase == .handshake {
            var index = 0
            while !handshake.isComplete, let (message, end) = NoiseFraming.take(from: raw, at: index) {
                index = end
                do { try handshake.readMessage(message) } catch { throw .noise(error) }
                if let peer = handshake.remotePeer, remotePeer == nil {
                    if let expectedPeer, expectedPeer != peer {
                        throw .noise(.peerMismatch(expected: expectedPeer.description, got: peer.description))
                    }
                    remotePeer = peer
                }
                if !handshake.isComplete && handshake.isOurTurn { output += try writeHandshake() }
            }
            raw.removeFirst(index)
            guard handshake.isComplete else { return output }
            let ciphers = handshake.transportCiphers()
            transport = NoiseTransport(send: ciphers.send, receive: ciphers.receive)
            do { plaintext += try transport!.decrypt(raw) } catch { throw .noise(error) }
            raw = []
            let remoteMuxers = handshake.remoteStreamMuxers
            if !remoteMuxers.isEmpty {
                guard remoteMuxers.contains(Self.yamuxProtocol) else { throw .muxerMismatch(remote: remoteMuxers) }
                phase = .ready
                return output
            }
            phase = .muxer
            let negotiation = MultistreamNegotiation(role: role == .initiator
                ? .dialer(proposals: [Self.yamuxProtocol]) : .listener(supported: [Self.yamuxProtocol]))
            muxer = negotiation
            output += try encrypt(negotiation.initialOutput())
        }
        if phase == .muxer {
            let reply: [UInt8]
            do { reply = try muxer!.receive(from: &plaintext) } catch { throw .negotiation(error) }
            if !reply.isEmpty { output += try encrypt(reply) }
            if muxer!.selected != nil { phase = .ready }
        }
        return output
    }

    private mutating func writeHandshake() throws(ConnectionError) -> [UInt8] {
        do { return NoiseFraming.frame(try handshake.writeMessage()) } catch { throw .noise(error) }
    }

    private mutating func encrypt(_ bytes: [UInt8]) throws(ConnectionError) -> [UInt8] {
        do { return try transport!.encrypt(bytes) } catch { throw .noise(error) }
    }

    /// The decrypted bytes received after the upgrade finished.
    mutating func takeLeftover() -> [UInt8] {
        defer { plaintext = [] }
        return plaintext
    }
}
