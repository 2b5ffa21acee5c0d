// Section "gossipsub" (12): GossipSub delivery latency across a 10-node mesh on loopback.
//
// Ten Swift nodes in one process, each on its own event loop thread, each dialling the next three
// (a ring with chords: six neighbours each), all subscribed to one topic with the default
// parameters (D = 6, 1 s heartbeat, flood publishing). After the meshes have formed, messages are
// published one every 10 ms from rotating publishers; the latency of a delivery is the time from
// the publish call to the subscriber's stream yielding the verified message (signing, flood to
// neighbours, verification at every hop and mesh forwarding included). p50/p99 over all
// deliveries; every message must reach all nine other nodes, or the figure is marked invalid.

import CarrierWire
import ElastosCarrier
import ElastosCore
import Foundation

extension Bench {
    func gossipsub(_ rows: inout [Row]) {
        print()
        print("12. gossipsub: delivery latency, 10 Swift nodes on TCP loopback (six neighbours each), one process")
        let nodes = 10, messages = plan.quick ? 60 : 400
        let result: (latencies: [Double], expected: Int, meshes: [Int])? = blockingGossip {
            var members: [(node: CarrierNode, router: GossipSub, address: Multiaddr)] = []
            for _ in 0..<nodes {
                let node = CarrierNode(identity: SigningKey())
                guard let bound = try? await node.start(listening: [try! Multiaddr(parsing: "/ip4/127.0.0.1/tcp/0")]).first else { return nil }
                let router = GossipSub(node: node)
                await router.start()
                members.append((node, router, bound.appending(peer: node.peerID)))
            }
            let clock = ContinuousClock()
            let published = LatencyLog(count: messages)
            var readers: [Task<Void, Never>] = []
            for (index, member) in members.enumerated() {
                let stream = await member.router.subscribe("bench")
                readers.append(Task {
                    for await message in stream where message.receivedFrom != nil {
                        guard message.data.count == 4 else { continue }
                        let n = Int(message.data[0]) << 24 | Int(message.data[1]) << 16 | Int(message.data[2]) << 8 | Int(message.data[3])
                        await published.received(n, by: index, at: clock.now)
                    }
                })
            }
            for i in 0..<nodes {
                for step in 1...3 { _ = try? await members[i].node.dial(members[(i + step) % nodes].address) }
            }
            // Let subscriptions spread and two heartbeats fill the meshes.
            let settle = clock.now + .seconds(10)
            while clock.now < settle {
                var ready = true
                for m in members {
                    if await m.router.meshPeers(for: "bench").count < 5 { ready = false }
                }
                if ready { break }
                try? await Task.sleep(for: .milliseconds(50))
            }
            try? await Task.sleep(for: .seconds(2))
            var meshes: [Int] = []
            for m in members { meshes.append(await m.router.meshPeers(for: "bench").count) }
            for n in 0..<messages {
                let publisher = members[n % nodes].router
                let data = [UInt8(n >> 24 & 0xff), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)]
                await published.published(n, by: n % nodes, at: clock.now)
                _ = try? await publisher.publish("bench", data)
                try? await Task.sleep(for: .milliseconds(10))
            }
            try? await Task.sleep(for: .seconds(2))
            for reader in readers { reader.cancel() }
            for m in members {
                await m.router.stop()
                await m.node.stop()
            }
            return (await published.latencies(), messages * (nodes - 1), meshes)
        }
        guard let result, !result.latencies.isEmpty else {
            print("  !! gossipsub benchmark could not run (loopback listen/dial failed)")
            return
        }
        let sorted = result.latencies.sorted()
        func percentile(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)] }
        let p50 = percentile(0.50) * 1000, p99 = percentile(0.99) * 1000, worst = (sorted.last ?? 0) * 1000
        let complete = result.latencies.count == result.expected
        print("  mesh sizes: " + result.meshes.map(String.init).joined(separator: " ") + "; \(messages) messages, "
              + "\(result.latencies.count) of \(result.expected) deliveries")
        print("  " + Format.pad("delivery latency p50", 44) + String(format: "%10.2f ms", p50))
        print("  " + Format.pad("delivery latency p99", 44) + String(format: "%10.2f ms", p99) + String(format: "  (max %.2f ms)", worst))
        if !complete { print("      !! \(result.expected - result.latencies.count) deliveries missing: figure is invalid") }
        rows.append(Row(figure: "gossipsub latency p50 (10 nodes)", median: String(format: "%.2f ms", p50), target: "—", pass: nil))
        rows.append(Row(figure: "gossipsub latency p99 (10 nodes)", median: String(format: "%.2f ms", p99), target: "≤ 50 ms",
                        pass: complete && p99 <= 50))
    }
}

/// Publish times and first-delivery latencies, per message and receiving node.
private actor LatencyLog {
    private var sentAt: [ContinuousClock.Instant?]
    private var publisherOf: [Int]
    private var delivered: [Int: Set<Int>] = [:]
    private var values: [Double] = []

    init(count: Int) {
        sentAt = Array(repeating: nil, count: count)
        publisherOf = Array(repeating: -1, count: count)
    }

    func published(_ n: Int, by node: Int, at instant: ContinuousClock.Instant) {
        sentAt[n] = instant
        publisherOf[n] = node
    }

    func received(_ n: Int, by node: Int, at instant: ContinuousClock.Instant) {
        guard n >= 0, n < sentAt.count, let start = sentAt[n], node != publisherOf[n] else { return }
        guard delivered[n, default: []].insert(node).inserted else { return }
        values.append((instant - start).seconds)
    }

    func latencies() -> [Double] { values }
}

func blockingGossip<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var result: T?
    Task.detached {
        result = await body()
        done.signal()
    }
    done.wait()
    return result!
}
