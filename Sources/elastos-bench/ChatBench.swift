// Section "chat": `elastos chat` as users run it — release `elastos` processes (built beside this
// benchmark: swift build -c release --product elastos), two nodes with Carrier on loopback, the
// native chat capsule (bubblewrap) and the WASM one (WasmKit, release) — docs/CHAT.md.
//
//   13a. send → display: the time from writing a line to a chat's stdin to reading that message
//        from another chat's stdout, native → native across the two nodes and WASM → native;
//        messages 250 ms apart (receivers allow each sender DID a burst of 20, then 5 a second);
//   13b. sends per second one chat capsule sustains (each line: sign through the DID provider,
//        publish through the peer provider; the receivers' rate limit is a separate matter);
//   13c. RSS of an idle chat node: the node process and its chat capsule (bwrap and the capsule),
//        after a few seconds of quiet;
//   13d. messages per second one receiving chat shows: a separate libp2p peer floods the room
//        with valid envelopes from many signers, against the rate it published them.

import CarrierWire
import ChatWire
import ElastosCarrier
import ElastosCore
import ElastosRuntime
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One `elastos chat --json` process; each output line is stamped when read.
private final class BenchChat: @unchecked Sendable {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let lines = Mutex<[(at: ContinuousClock.Instant, line: String)]>([])
    private let partial = Mutex<String>("")

    init(_ elastos: String, home: String, _ args: [String]) throws {
        process.executableURL = URL(fileURLWithPath: elastos)
        process.arguments = ["chat", "--json", "--home", home] + args
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            let now = ContinuousClock.now
            guard let self, !data.isEmpty else { return }
            self.partial.withLock { text in
                text += String(decoding: data, as: UTF8.self)
                while let newline = text.firstIndex(of: "\n") {
                    let line = String(text[..<newline])
                    text.removeSubrange(...newline)
                    self.lines.withLock { $0.append((now, line)) }
                }
            }
        }
        try process.run()
    }

    func type(_ line: String) { input.fileHandleForWriting.write(Data((line + "\n").utf8)) }

    /// When a line containing `needle` was read, waiting up to `seconds`.
    func seen(_ needle: String, within seconds: Double = 20) -> ContinuousClock.Instant? {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        repeat {
            if let hit = lines.withLock({ $0.first { $0.line.contains(needle) } }) { return hit.at }
            usleep(1_000)
        } while ContinuousClock.now < deadline
        return nil
    }

    func count(_ needle: String) -> Int { lines.withLock { $0.filter { $0.line.contains(needle) }.count } }

    func field(_ needle: String, _ key: String) -> String? {
        guard let line = lines.withLock({ $0.first { $0.line.contains(needle) }?.line }),
              let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
        return o[key] as? String
    }

    func quit() {
        input.fileHandleForWriting.closeFile()
        for _ in 0..<100 where process.isRunning { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        output.fileHandleForReading.readabilityHandler = nil
    }
}

extension Bench {
    func chat(_ rows: inout [Row]) {
        print()
        print("13. Chat (release elastos: two nodes on loopback; native chat under bubblewrap, WASM chat on WasmKit)")
        let elastos = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("elastos").path
        let native = Self.repositoryRoot + "/capsules/native/chat", wasm = Self.repositoryRoot + "/capsules/chat-wasm"
        func skip(_ why: String) {
            print("      !! \(why): section skipped")
            rows.append(Row(figure: "chat: send → display p99", median: "not run", target: "≤ 20 ms", pass: false))
        }
        guard FileManager.default.isExecutableFile(atPath: elastos) else { return skip("\(elastos) is missing (swift build -c release --product elastos)") }
        guard FileManager.default.isExecutableFile(atPath: native + "/chat"), FileManager.default.fileExists(atPath: wasm + "/chat.wasm") else {
            return skip("the chat capsules are missing (scripts/build-native-capsules.sh chat, scripts/build-capsules.sh chat)")
        }
        let base = NSTemporaryDirectory() + "elastos-bench-chat-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: base) }
        var nodes: [Process] = []
        defer { for n in nodes where n.isRunning { kill(n.processIdentifier, SIGTERM); n.waitUntilExit() } }
        func startNode(_ name: String) -> String? {
            let home = base + "/" + name
            for dir in [native, wasm] {
                let install = Process()
                install.executableURL = URL(fileURLWithPath: elastos)
                install.arguments = ["capsule", "install", "--dev", dir, "--home", home]
                install.standardOutput = FileHandle.nullDevice
                install.standardError = FileHandle.nullDevice
                guard (try? install.run()) != nil else { return nil }
                install.waitUntilExit()
            }
            let node = Process()
            node.executableURL = URL(fileURLWithPath: elastos)
            node.arguments = ["node", "--home", home, "--listen", "/ip4/127.0.0.1/tcp/0"]
            node.standardError = FileHandle.nullDevice
            node.standardOutput = FileHandle.nullDevice
            guard (try? node.run()) != nil else { return nil }
            nodes.append(node)
            for _ in 0..<400 where !FileManager.default.fileExists(atPath: home + "/control.sock") { usleep(25_000) }
            return home
        }
        guard let homeA = startNode("a"), let homeB = startNode("b") else { return skip("cannot start the nodes") }
        var chats: [BenchChat] = []
        defer { for c in chats { c.quit() } }
        guard let alice = try? BenchChat(elastos, home: homeA, ["--nick", "alice"]) else { return skip("cannot start chat") }
        chats.append(alice)
        guard alice.seen("\"ready\"") != nil, let ticket = alice.field("\"ready\"", "ticket") else { return skip("alice's chat did not start") }
        guard let bob = try? BenchChat(elastos, home: homeB, ["--nick", "bob", "--connect", ticket]),
              let wasmy = try? BenchChat(elastos, home: homeA, ["--nick", "wasmy", "--wasm"]) else { return skip("cannot start chat") }
        chats += [bob, wasmy]
        for (who, other) in [(alice, "bob"), (bob, "alice"), (bob, "wasmy"), (wasmy, "bob")] {
            guard who.seen("\"joined\",\"room\":\"#general\",\"nick\":\"\(other)\"", within: 30) != nil else {
                return skip("presence did not reach everyone within 30 s")
            }
        }

        // 13a. send → display.
        let count = plan.quick ? 12 : 40
        func latencies(from sender: BenchChat, to receiver: BenchChat, tag: String) -> [Double] {
            var out: [Double] = []
            for i in 0..<count {
                let text = "\(tag)-\(i)-\(UInt32.random(in: 0...UInt32.max))"
                let start = ContinuousClock.now
                sender.type(text)
                if let at = receiver.seen("\"text\":\"\(text)\"", within: 10) { out.append((at - start).seconds * 1000) }
                usleep(250_000)
            }
            return out
        }
        func report(_ name: String, _ values: [Double]) -> Double? {
            guard !values.isEmpty else { print("      !! \(name): nothing arrived"); return nil }
            let s = values.sorted()
            func percentile(_ p: Double) -> Double { s[min(s.count - 1, Int((Double(s.count) * p).rounded(.up)) - 1)] }
            let p50 = percentile(0.5), p99 = percentile(0.99)
            print("  " + Format.pad("\(name) p50", 44) + String(format: "%10.2f ms", p50))
            print("  " + Format.pad("\(name) p99", 44) + String(format: "%10.2f ms", p99)
                  + String(format: "  (%d of %d arrived, max %.2f ms)", values.count, count, s.last ?? 0))
            rows.append(Row(figure: "chat: \(name) p50", median: String(format: "%.2f ms", p50), target: "—", pass: nil))
            rows.append(Row(figure: "chat: \(name) p99", median: String(format: "%.2f ms", p99), target: "≤ 20 ms",
                            pass: values.count == count && p99 <= 20))
            return p99
        }
        _ = report("send → display, native → native", latencies(from: bob, to: alice, tag: "nn"))
        _ = report("send → display, WASM → native", latencies(from: wasmy, to: bob, tag: "wn"))

        // 13b. sends per second from one chat capsule.
        let burst = plan.quick ? 200 : 1000
        let before = alice.count("\"event\":\"sent\"")
        let start = ContinuousClock.now
        for i in 0..<burst { alice.type("burst \(i)") }
        var sent = before
        while sent < before + burst, (ContinuousClock.now - start).seconds < 60 {
            usleep(2_000)
            sent = alice.count("\"event\":\"sent\"")
        }
        let elapsed = (ContinuousClock.now - start).seconds
        let rate = Double(sent - before) / elapsed
        print("  " + Format.pad("sends per second, one native chat", 44) + String(format: "%10.0f /s", rate)
              + String(format: "  (%d lines; bob showed %d: receivers allow 20, then 5/s per sender)", sent - before, bob.count("\"text\":\"burst ")))
        rows.append(Row(figure: "chat: sends per second (one capsule)", median: String(format: "%.0f /s", rate), target: "—", pass: nil))

        // 13c. idle RSS: node A with alice's and wasmy's capsules, after a quiet spell.
        sleep(plan.quick ? 3 : 8)
        let node = nodes[0].processIdentifier
        let nodeRSS = Self.residentKiB(node) ?? 0
        let capsules = Self.descendants(of: node).reduce(0) { $0 + (Self.residentKiB($1) ?? 0) }
        print("  " + Format.pad("idle chat node RSS (node process)", 44) + String(format: "%10.1f MiB", Double(nodeRSS) / 1024)
              + "  (WASM chat runs inside it)")
        print("  " + Format.pad("idle native chat capsule RSS (bwrap + chat)", 44) + String(format: "%10.1f MiB", Double(capsules) / 1024))
        rows.append(Row(figure: "chat: idle node RSS (node + WASM chat)", median: String(format: "%.1f MiB", Double(nodeRSS) / 1024),
                        target: "≤ 50 MiB", pass: nodeRSS > 0 && nodeRSS <= 50 * 1024))
        rows.append(Row(figure: "chat: idle native chat capsule RSS", median: String(format: "%.1f MiB", Double(capsules) / 1024), target: "—", pass: nil))

        // 13d. messages per second one receiving chat sustains (after 13c, so the flood does not
        // count in the idle figure).
        receiveRate(into: &rows, ticket: ticket, alice: alice)
    }

    /// A separate libp2p peer floods #general with valid envelopes from many signers (each within
    /// the receivers' burst of 20, so no rate limit applies) as fast as GossipSub takes them;
    /// the figure is how many alice's chat shows per second, each one checked through the DID
    /// provider, put in order and written out. Beside it, the rate the publisher put them on
    /// the wire (the baseline the chat is measured against).
    private func receiveRate(into rows: inout [Row], ticket text: String, alice: BenchChat) {
        let senders = plan.quick ? 50 : 150, each = 20, total = senders * each
        guard let ticket = try? Ticket(parsing: text), let address = ticket.dialAddresses.first else {
            print("      !! receive rate: alice's ticket does not parse")
            return
        }
        guard let target = try? Multiaddr(parsing: "\(address)/p2p/\(ticket.peer)") else { return }
        let topic = ChatEnvelope.topic(room: "#general")
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        var envelopes: [[UInt8]] = []
        envelopes.reserveCapacity(total)
        for s in 0..<senders {
            let key = SigningKey(), did = key.publicKey.did.description
            for i in 0..<each {
                var e = ChatEnvelope(kind: .message, room: "#general", sender: did, app: "chat", nick: "flood\(s)", timestamp: now + UInt64(i),
                                     id: (0..<16).map { _ in UInt8.random(in: 0...255) }, content: Array("flood \(s)-\(i)".utf8))
                e.signature = key.sign(DIDProvider.statement(capsule: "chat", message: e.signingBytes), in: DIDProvider.signingDomain)
                envelopes.append(e.encoded())
            }
        }
        // Interleaved, as many people talking at once would be.
        let order = (0..<total).map { ($0 % senders) * each + $0 / senders }
        let before = alice.count("\"text\":\"flood ")
        let lostBefore = alice.count("events were lost")
        let batch = envelopes
        // Closed loop, a window of 25 at a time: the next window goes out when the chat has
        // shown this one (or stalled for 3 s), so what is measured is the rate it sustains, not
        // how much a burst overflows its socket (overflow is dropped and reported as lost).
        let window = 25
        let measured: (seconds: Double, openLoop: Double)? = blockingGossip {
            let node = CarrierNode(identity: SigningKey())
            let router = GossipSub(node: node)
            guard (try? await node.start(listening: [])) != nil else { await node.stop(); return nil }
            await router.start()
            guard (try? await node.dial(target)) != nil else { await router.stop(); await node.stop(); return nil }
            let deadline = ContinuousClock.now + .seconds(20)
            while await router.peers(in: topic).isEmpty, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
            let start = ContinuousClock.now
            var publishing: Duration = .zero
            var expected = before
            for first in stride(from: 0, to: total, by: window) {
                let t0 = ContinuousClock.now
                for i in order[first..<min(first + window, total)] { _ = try? await router.publish(topic, batch[i]) }
                await router.flush()
                publishing += ContinuousClock.now - t0
                expected += min(window, total - first)
                var last = alice.count("\"text\":\"flood "), lastChange = ContinuousClock.now
                while last < expected, (ContinuousClock.now - lastChange).seconds < 3 {
                    try? await Task.sleep(for: .milliseconds(2))
                    let now = alice.count("\"text\":\"flood ")
                    if now != last { last = now; lastChange = ContinuousClock.now }
                }
            }
            let seconds = (ContinuousClock.now - start).seconds
            await router.stop()
            await node.stop()
            return (seconds, Double(total) / publishing.seconds)
        }
        guard let measured else {
            print("      !! receive rate: the flooding peer could not reach alice's node")
            return
        }
        let arrived = alice.count("\"text\":\"flood ") - before
        let lost = alice.count("events were lost") - lostBefore
        let rate = Double(arrived) / measured.seconds
        print("  " + Format.pad("messages shown per second, one receiving chat", 44) + String(format: "%10.0f /s", rate)
              + String(format: "  (%d of %d from %d signers in %.2f s, %d loss reports; the publisher alone: %.0f /s)",
                       arrived, total, senders, measured.seconds, lost, measured.openLoop))
        rows.append(Row(figure: "chat: messages shown per second (receiver)", median: String(format: "%.0f /s", rate), target: "—", pass: nil))
    }

    /// VmRSS of a process, in KiB.
    static func residentKiB(_ pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        return Int(line.split(separator: " ").dropFirst().first ?? "")
    }

    /// Every process below `pid`.
    static func descendants(of pid: Int32) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var parent: [Int32: Int32] = [:]
        for e in entries {
            guard let p = Int32(e), let stat = try? String(contentsOfFile: "/proc/\(e)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let pp = Int32(fields[1]) { parent[p] = pp }
        }
        return parent.keys.filter { p in
            var cursor = parent[p]
            while let c = cursor, c > 1 { if c == pid { return true }; cursor = parent[c] }
            return false
        }
    }
}
