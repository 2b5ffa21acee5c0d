// Section "carrier": the libp2p transport (docs/CARRIER.md) between two Swift nodes on loopback.
//
//   10a. connection set-up: TCP connect + multistream-select + Noise XX + Yamux, until the
//        dialer holds an authenticated connection (a fresh dialer node each time);
//   10b. bulk throughput over one Noise + Yamux stream: the dialer writes N MiB to a sink that
//        reads everything and answers the byte count, so the figure includes the last byte's
//        arrival; both nodes in this process, each on its own event loop thread.
// Medians over the rounds. py-libp2p and kubo comparisons are in docs/CARRIER.md (measured by
// Tests/interop scripts, not here, so the benchmark needs no Python).

import CarrierWire
import ElastosCarrier
import ElastosCore
import Foundation

extension Bench {
    func carrier(_ rows: inout [Row]) {
        print()
        print("10. carrier: libp2p over TCP loopback (Noise XX + Yamux), Swift ↔ Swift, two event loops in one process")
        let megabytes = plan.quick ? 16 : 128
        let dials = plan.quick ? 10 : 40, rounds = plan.rounds
        let result: (setup: [Double], throughput: [Double])? = blockingCarrier {
            let listener = CarrierNode(identity: SigningKey())
            listener.handle("/bench/sink/1.0.0") { stream in
                var total = 0
                while let chunk = try? await stream.read() { total += chunk.count }
                try? await stream.write(Array(String(total).utf8))
                try? await stream.closeWrite()
            }
            guard let bound = try? await listener.start(listening: [try! Multiaddr(parsing: "/ip4/127.0.0.1/tcp/0")]).first else {
                await listener.stop()
                return nil
            }
            let address = bound.appending(peer: listener.peerID)
            var setups: [Double] = []
            for _ in 0..<dials {
                let dialer = CarrierNode(identity: SigningKey())
                let start = ContinuousClock.now
                guard (try? await dialer.dial(address)) != nil else { await dialer.stop(); continue }
                setups.append((ContinuousClock.now - start).seconds)
                await dialer.stop()
            }
            var rates: [Double] = []
            let dialer = CarrierNode(identity: SigningKey())
            let chunk = [UInt8](repeating: 0x5A, count: 1 << 20)
            for _ in 0..<rounds {
                guard let peer = try? await dialer.dial(address),
                      let stream = try? await dialer.openStream(to: peer, protocol: "/bench/sink/1.0.0") else { continue }
                let start = ContinuousClock.now
                for _ in 0..<megabytes { try? await stream.write(chunk) }
                try? await stream.closeWrite()
                let reply = (try? await stream.readToEnd(limit: 64)) ?? []
                let seconds = (ContinuousClock.now - start).seconds
                guard String(decoding: reply, as: UTF8.self) == String(megabytes << 20) else {
                    print("      !! the sink counted \(String(decoding: reply, as: UTF8.self)) bytes, not \(megabytes << 20): figure is invalid")
                    continue
                }
                rates.append(Double(megabytes) * 1.048576 / seconds)
            }
            await dialer.stop()
            await listener.stop()
            return (setups, rates)
        }
        guard let result, !result.setup.isEmpty, !result.throughput.isEmpty else {
            print("  !! carrier benchmark could not run (loopback listen/dial failed)")
            return
        }
        let setup = Measurement(rates: result.setup)
        let throughput = Measurement(rates: result.throughput)
        print("  " + Format.pad("connection set-up (dial → Noise → Yamux)", 44) + String(format: "%10.2f ms", setup.median * 1000)
              + "  (\(result.setup.count) dials; min " + String(format: "%.2f", (result.setup.min() ?? 0) * 1000)
              + ", max " + String(format: "%.2f", (result.setup.max() ?? 0) * 1000) + " ms)")
        print("  " + Format.pad("bulk, one stream, \(megabytes) MiB per round", 44) + String(format: "%10.1f MB/s", throughput.median)
              + "  rounds: " + result.throughput.map { String(format: "%.1f", $0) }.joined(separator: ", "))
        rows.append(Row(figure: "carrier set-up (loopback)", median: String(format: "%.2f ms", setup.median * 1000), target: "—", pass: nil))
        rows.append(Row(figure: "carrier bulk, one stream", median: String(format: "%.1f MB/s", throughput.median), target: "—", pass: nil))
    }
}

/// Runs async benchmark work from the synchronous harness.
private func blockingCarrier<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var result: T?
    Task.detached {
        result = await body()
        done.signal()
    }
    done.wait()
    return result!
}
