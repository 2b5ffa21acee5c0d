import ArgumentParser
import CarrierWire
import ElastosCarrier
import ElastosCore
import Foundation

struct PeerPub: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pub",
        abstract: "Publish one signed message to a GossipSub topic.",
        discussion: """
            Without --connect or --listen, publishes through the node running for the home \
            (`elastos node`), to the peers it is connected to; --wait-peers defaults to 0 there. \
            With them, runs a peer of its own with the GossipSub router that dials each --connect \
            peer (and listens on each --listen address, printed as `LISTEN …`); --wait-peers \
            defaults to 1. Either way it waits until --wait-peers peers have announced the topic, \
            publishes the message signed with the node key, waits until it is written to every \
            peer's stream, and prints `PUBLISHED id=<hex> seqno=<hex> peers=<n>`. Exits 1 if the \
            peers do not appear within --timeout seconds.
            """
    )

    @Argument(help: "The topic.") var topic: String
    @Argument(help: "The message (sent as its UTF-8 bytes, or with --hex the bytes it spells).") var message: String
    @Flag(name: .customLong("hex"), help: "The message is hexadecimal: publish the bytes it spells (binary payloads).") var isHex = false
    @OptionGroup var network: PubsubNetworkOptions
    @Option(help: "Peers subscribed to the topic to wait for before publishing (0: publish at once; default 0 through the running node, else 1).") var waitPeers: Int?
    @Option(help: "Seconds to allow for the whole run.") var timeout = 30
    @Option(help: "Milliseconds to stay connected after publishing, so the peers can read it.") var lingerMs = 500
    @OptionGroup var home: HomeOption

    func validate() throws {
        guard (waitPeers ?? 0) >= 0 else { throw ValidationError("--wait-peers must not be negative") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        guard (0...60_000).contains(lingerMs) else { throw ValidationError("--linger-ms must be between 0 and 60000") }
    }

    func run() throws {
        let data: [UInt8]
        if isHex {
            guard let bytes = Self.bytes(hex: message) else { throw ValidationError("--hex: \(message.prefix(40))… is not an even number of hex digits") }
            data = bytes
        } else {
            data = Array(message.utf8)
        }
        if network.throughNode {
            let reply = try carrierRequest(home, ["op": "peer.publish", "topic": topic, "data_hex": hex(data),
                                                  "wait_peers": waitPeers ?? 0, "timeout": timeout])
            print("PUBLISHED id=\(reply["id"] as? String ?? "") seqno=\(reply["seqno"] as? String ?? "") peers=\(reply["peers"] as? Int ?? 0)")
            return
        }
        let key = try home.nodeKey()
        let topic = self.topic, network = self.network
        let waitPeers = self.waitPeers ?? 1, timeout = self.timeout, linger = self.lingerMs
        let line: String = try runBlocking {
            let router = try await network.startRouter(key: key)
            do {
                let result = try await withDeadline(seconds: timeout) {
                    while await router.peers(in: topic).count < waitPeers { try await Task.sleep(for: .milliseconds(20)) }
                    let recipients = await router.peers(in: topic).count
                    let id = try await router.publish(topic, data)
                    await router.flush()
                    try await Task.sleep(for: .milliseconds(linger))
                    return "PUBLISHED id=\(hex(id)) seqno=\(hex(Array(id.suffix(8)))) peers=\(recipients)"
                }
                await router.stop()
                await router.node.stop()
                return result
            } catch {
                await router.stop()
                await router.node.stop()
                if error is DeadlineExceeded { throw CLIError("pub \(topic): fewer than \(waitPeers) peers on the topic within \(timeout) s") }
                throw CLIError("pub \(topic): \(error)")
            }
        }
        print(line)
    }
}

extension PeerPub {
    static func bytes(hex text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            case 65...70: c - 55
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count {
            guard let hi = value(digits[i]), let lo = value(digits[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
