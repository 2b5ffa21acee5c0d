// `/ipfs/ping/1.0.0`: https://github.com/libp2p/specs/blob/master/ping/ping.md
// The dialer sends 32 random bytes, the listener echoes them; repeated on one stream.
import Crypto

public enum PingService {
    public static let protocolID = "/ipfs/ping/1.0.0"
    static let size = 32

    static func serve(_ stream: CarrierStream) async {
        // At most this many pings per stream, so a peer cannot hold a handler forever.
        for _ in 0..<10_000 {
            guard let payload = try? await stream.read(exactly: size) else { break }
            guard (try? await stream.write(payload)) != nil else { return }
        }
        try? await stream.closeWrite()
    }

    static func ping(_ stream: CarrierStream, count: Int) async throws(CarrierError) -> [Duration] {
        var rtts: [Duration] = []
        let clock = ContinuousClock()
        for _ in 0..<max(1, count) {
            var payload = [UInt8](repeating: 0, count: size)
            for i in payload.indices { payload[i] = UInt8.random(in: 0...255) }
            let start = clock.now
            try await stream.write(payload)
            let echo = try await stream.read(exactly: size)
            rtts.append(clock.now - start)
            guard echo == payload else { stream.reset(); throw .pingMismatch }
        }
        try? await stream.closeWrite()
        return rtts
    }
}
