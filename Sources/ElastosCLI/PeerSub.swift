import ArgumentParser
import CarrierWire
import ElastosCarrier
import ElastosCore
import Foundation

/// `--connect` and `--listen` for the pubsub commands (no listen address by default: a
/// publisher or subscriber usually dials; pass --listen to be dialled).
struct PubsubNetworkOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("A peer to dial (repeatable), e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW….", valueName: "multiaddr"))
    var connect: [String] = []
    @Option(name: .long, help: ArgumentHelp("A multiaddr to listen on (repeatable); port 0 picks a free port.", valueName: "multiaddr"))
    var listen: [String] = []
    @Option(name: .long, help: "Heartbeat interval in milliseconds (GossipSub's default is 1000).")
    var heartbeatMs = 1000

    func validate() throws {
        guard connect.count + listen.count > 0 else { throw ValidationError("give at least one --connect or --listen") }
        guard (10...60_000).contains(heartbeatMs) else { throw ValidationError("--heartbeat-ms must be between 10 and 60000") }
    }

    func parsed() throws -> (connect: [Multiaddr], listen: [Multiaddr]) {
        func parse(_ option: String, _ text: String) throws -> Multiaddr {
            do { return try Multiaddr(parsing: text) } catch { throw CLIError("--\(option) \(text): \(error)") }
        }
        return (try connect.map { try parse("connect", $0) }, try listen.map { try parse("listen", $0) })
    }

    /// Starts a node and its router, listens, dials; prints `LISTEN` and `CONNECTED` lines.
    func startRouter(key: SigningKey) async throws -> GossipSub {
        let (dials, listens) = try parsed()
        let node = CarrierNode(identity: key)
        var config = GossipSubConfig()
        config.heartbeatInterval = .milliseconds(heartbeatMs)
        let router = GossipSub(node: node, config: config)
        do {
            let bound = try await node.start(listening: listens)
            writeLine(bound.map { "LISTEN \($0.appending(peer: node.peerID))" })
            await router.start()
            for address in dials {
                let peer = try await node.dial(address)
                writeLine(["CONNECTED \(peer)"])
            }
        } catch {
            await router.stop()
            await node.stop()
            throw CLIError("\(error)")
        }
        return router
    }
}

/// Writes lines unbuffered: a parent process waits for them on a pipe.
func writeLine(_ lines: [String]) {
    guard !lines.isEmpty else { return }
    FileHandle.standardOutput.write(Data(lines.map { $0 + "\n" }.joined().utf8))
}

struct PeerSub: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sub",
        abstract: "Subscribe to a GossipSub topic and print each verified message.",
        discussion: """
            Runs a Carrier node with the GossipSub router (/meshsub/1.1.0, /meshsub/1.0.0, \
            /floodsub/1.0.0), dials each --connect peer and listens on each --listen address \
            (printed as `LISTEN <multiaddr>/p2p/<PeerID>`), subscribes to the topic and prints \
            `SUBSCRIBED <topic>`, then `PEER <PeerID>` when a peer joins the topic and one line per \
            message whose signature verified:
              MSG from=<PeerID> seqno=<hex> data=<text, or hex:… if not printable UTF-8>
            or, with --json, one JSON object per line (topic, from, seqno, data, data_hex, \
            received_from). Exits 0 after --count messages; without --count, runs until standard \
            input closes. Exits 1 when --timeout seconds pass first.
            """
    )

    @Argument(help: "The topic.") var topic: String
    @OptionGroup var network: PubsubNetworkOptions
    @Option(name: .shortAndLong, help: "Exit after this many messages.") var count: Int?
    @Flag(help: "Print messages as JSON lines.") var json = false
    @Option(help: "Seconds before giving up.") var timeout = 300
    @OptionGroup var home: HomeOption

    func validate() throws {
        if let count { guard count > 0 else { throw ValidationError("--count must be positive") } }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    func run() throws {
        let key = try home.nodeKey()
        let topic = self.topic, count = self.count, json = self.json, network = self.network
        let finished = DispatchSemaphore(value: 0)
        let router: GossipSub = try runBlocking {
            let router = try await network.startRouter(key: key)
            let messages = await router.subscribe(topic)
            writeLine(["SUBSCRIBED \(topic)"])
            Task.detached {
                var announced: Set<Libp2pPeerID> = []
                while !Task.isCancelled {
                    for peer in await router.peers(in: topic) where !announced.contains(peer) {
                        announced.insert(peer)
                        writeLine(["PEER \(peer)"])
                    }
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
            Task.detached {
                var received = 0
                for await message in messages {
                    writeLine([json ? Self.jsonLine(message) : Self.textLine(message)])
                    received += 1
                    if let count, received >= count { break }
                }
                finished.signal()
            }
            return router
        }
        if count == nil {
            Thread.detachNewThread {
                while readLine() != nil {}
                finished.signal()
            }
        }
        let result = finished.wait(timeout: .now() + .seconds(timeout))
        try runBlocking {
            await router.stop()
            await router.node.stop()
        }
        if result == .timedOut, count != nil { throw CLIError("sub \(topic): fewer than \(count ?? 0) messages within \(timeout) s") }
    }

    static func textLine(_ m: PubsubMessage) -> String {
        "MSG from=\(m.from) seqno=\(hex(m.seqno)) data=\(printable(m.data))"
    }

    static func printable(_ data: [UInt8]) -> String {
        if let text = String(validating: data, as: UTF8.self), !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            return text
        }
        return "hex:" + hex(data)
    }

    static func jsonLine(_ m: PubsubMessage) -> String {
        var object: [String: Any] = [
            "topic": m.topic, "from": m.from.description, "seqno": hex(m.seqno), "data_hex": hex(m.data),
            "data": String(validating: m.data, as: UTF8.self) ?? NSNull(),
        ]
        object["received_from"] = m.receivedFrom?.description ?? NSNull()
        guard let encoded = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: encoded, as: UTF8.self)
    }
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
