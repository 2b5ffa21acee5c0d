// The Noise transport phase: 2-byte length-framed ChaChaPoly messages in each direction, with
// writes larger than one frame split into 65519-byte chunks. The decrypted side is a byte stream.
import CarrierWire

struct NoiseTransport: Sendable {
    private var sendCipher: NoiseCipherState
    private var receiveCipher: NoiseCipherState
    private var pending: [UInt8] = []

    init(send: NoiseCipherState, receive: NoiseCipherState) {
        sendCipher = send
        receiveCipher = receive
    }

    /// Frames and encrypts `plaintext` (any length).
    mutating func encrypt(_ plaintext: [UInt8]) throws(NoiseError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(plaintext.count + (plaintext.count / NoiseFraming.maxPlaintextLength + 1) * 18)
        var start = 0
        repeat {
            let end = min(start + NoiseFraming.maxPlaintextLength, plaintext.count)
            let sealed = try sendCipher.encrypt(plaintext[start..<end], ad: [])
            out.append(UInt8(sealed.count >> 8))
            out.append(UInt8(sealed.count & 0xff))
            out += sealed
            start = end
        } while start < plaintext.count
        return out
    }

    /// Adds received bytes and returns the plaintext of every complete frame among them.
    mutating func decrypt(_ received: [UInt8]) throws(NoiseError) -> [UInt8] {
        if pending.isEmpty { pending = received } else { pending += received }
        var plaintext: [UInt8] = []
        var index = 0
        while let (message, end) = NoiseFraming.take(from: pending, at: index) {
            let opened = try receiveCipher.decrypt(message, ad: [])
            if plaintext.isEmpty { plaintext = opened } else { plaintext += opened }
            index = end
        }
        if index > 0 { pending.removeFirst(index) }
        return plaintext
    }
}
