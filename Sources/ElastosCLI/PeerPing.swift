import ArgumentParser
import CarrierWire
import ElastosCarrier
import ElastosCore
import ElastosRuntime
import Foundation

struct PeerPing: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ping",
        abstract: "Connect to a libp2p peer and measure round trips with /ipfs/ping/1.0.0.",
        discussion: """
            Dials the multiaddr (e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…; with /p2p/ the peer \
            must prove that identity in the Noise handshake), prints what identify reports, then \
            pings --count times on one stream. Exits non-zero if any step fails. When a node is \
            running for the home, the ping goes from it (and the target may also be a ticket, or \
            the PeerID of a peer it is connected to); otherwise, or with --standalone, from a peer \
            of the command's own.
            """
    )

    @Argument(help: ArgumentHelp("The peer's multiaddr (through a running node also a ticket or a connected PeerID).", valueName: "multiaddr")) var address: String
    @Flag(help: "Ping from a peer of this command's own even when a node is running.") var standalone = false
    @Option(name: .shortAndLong, help: "How many pings.") var count = 3
    @Option(help: "Seconds to allow for the whole run.") var timeout = 20
    @OptionGroup var home: HomeOption

    func validate() throws {
        guard (1...10_000).contains(count) else { throw ValidationError("--count must be between 1 and 10000") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    func run() throws {
        if !standalone, let conn = ControlClient.connect(home.resolved) {
            let reply = try ControlClient.request(conn, ["op": "peer.ping", "target": address, "count": count])
            guard reply["ok"] as? Bool == true else { throw PeerNodeReply.error(reply) }
            print("Connected to \(reply["peer"] as? String ?? "?")")
            print("Agent: \(reply["agent"] as? String ?? "") protocol: \(reply["protocol_version"] as? String ?? "")")
            print("Protocols: \((reply["protocols"] as? [String] ?? []).joined(separator: " "))")
            for addr in reply["listen_addrs"] as? [String] ?? [] { print("Listens: \(addr)") }
            if let seq = reply["peer_record_seq"] as? NSNumber {
                print("Signed peer record: seq \(seq) (\((reply["certified_addrs"] as? [String] ?? []).count) addresses)")
            }
            for (i, ms) in (reply["rtt_ms"] as? [Any] ?? []).compactMap({ ($0 as? NSNumber)?.doubleValue }).enumerated() { print("Ping \(i + 1): " + String(format: "%.3f", ms) + " ms") }
            return
        }
        let target: Multiaddr
        do { target = try Multiaddr(parsing: address) } catch { throw CLIError("\(address): \(error)") }
        let key = try home.nodeKey()
        let count = self.count, timeout = self.timeout
        let lines: [String] = try runBlocking {
            let node = CarrierNode(identity: key)
            do {
                let result = try await withDeadline(seconds: timeout) {
                    var lines: [String] = []
                    let peer = try await node.dial(target)
                    lines.append("Connected to \(peer)")
                    if let info = await node.waitForIdentify(peer, timeout: .seconds(5)) {
                        lines.append("Agent: \(info.agentVersion ?? "") protocol: \(info.protocolVersion ?? "")")
                        lines.append("Protocols: \(info.protocols.joined(separator: " "))")
                        for addr in info.listenAddrs { lines.append("Listens: \(addr)") }
                        if let seq = info.peerRecordSeq {
                            lines.append("Signed peer record: seq \(seq) (\(info.certifiedAddrs?.count ?? 0) addresses)")
                        }
                    } else {
                        lines.append("Identify: no answer")
                    }
                    for (i, rtt) in try await node.ping(peer, count: count).enumerated() {
                        lines.append("Ping \(i + 1): \(formatMilliseconds(rtt)) ms")
                    }
                    return lines
                }
                await node.stop()
                return result
            } catch {
                await node.stop()
                throw CLIError("ping \(target): \(error)")
            }
        }
        for line in lines { print(line) }
    }
}

func formatMilliseconds(_ d: Duration) -> String {
    let ms = Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    return String(format: "%.3f", ms)
}

struct DeadlineExceeded: Error, CustomStringConvertible {
    let seconds: Int
    var description: String { "no result within \(seconds) s" }
}

/// Runs `body`, failing with DeadlineExceeded after `seconds`.
func withDeadline<T: Sendable>(seconds: Int, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw DeadlineExceeded(seconds: seconds)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
