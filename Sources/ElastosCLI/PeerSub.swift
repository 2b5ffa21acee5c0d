import ArgumentParser
import CarrierWire
import ElastosCarrier
import ElastosCore
import ElastosRuntime
import Foundation
import Synchronization

/// `--connect` and `--listen` for the pubsub commands. With neither, the command goes through
/// the node running for the home (its PeerID, its connections, its mesh); with either, it runs a
/// peer of its own that dials the --connect peers and listens on the --listen addresses.
struct PubsubNetworkOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("A peer to dial (repeatable), e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW….", valueName: "multiaddr"))
    var connect: [String] = []
    @Option(name: .long, help: ArgumentHelp("A multiaddr to listen on (repeatable); port 0 picks a free port.", valueName: "multiaddr"))
    var listen: [String] = []
    @Option(name: .long, help: "Heartbeat interval in milliseconds (GossipSub's default is 1000).")
    var heartbeatMs = 1000

    /// Neither --connect nor --listen: use the running node.
    var throughNode: Bool { connect.isEmpty && listen.isEmpty }

    func validate() throws {
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
            Without --connect or --listen, subscribes through the node running for the home \
            (`elastos node`), on its connections and mesh. With them, runs a peer of its own with \
            the GossipSub router (/meshsub/1.1.0, /meshsub/1.0.0, /floodsub/1.0.0) that dials each \
            --connect peer and listens on each --listen address (printed as \
            `LISTEN <multiaddr>/p2p/<PeerID>`). Either way it subscribes to the topic and prints \
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
        if network.throughNode { return try runThroughNode() }
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

    /// Subscribes on the running node: its control API streams the topic's events to us.
    func runThroughNode() throws {
        let conn = try carrierConnection(home)
        let reply = try ControlClient.request(conn, ["op": "peer.subscribe", "topic": topic])
        guard reply["ok"] as? Bool == true else { throw PeerNodeReply.error(reply) }
        writeLine(["SUBSCRIBED \(topic)"])
        let count = self.count, json = self.json
        let finished = DispatchSemaphore(value: 0)
        let received = Mutex(0)
        // Events arrive on their own thread so standard input and the timeout can end the run.
        Thread.detachNewThread {
            while let (line, _) = try? conn.readLine(),
                  let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] {
                switch event["event"] as? String {
                case "peer":
                    writeLine(["PEER \(event["peer"] as? String ?? "?")"])
                case "dropped":
                    FileHandle.standardError.write(Data("elastos: \(event["count"] as? Int ?? 0) messages dropped (read too slowly)\n".utf8))
                case "message":
                    var message = event
                    message["event"] = nil
                    writeLine([json ? ControlServer.jsonLine(message) : Self.textLine(message)])
                    let n = received.withLock { $0 += 1; return $0 }
                    if let count, n >= count { finished.signal(); return }
                default:
                    continue
                }
            }
            finished.signal()
        }
        if count == nil {
            Thread.detachNewThread {
                while readLine() != nil {}
                finished.signal()
            }
        }
        let result = finished.wait(timeout: .now() + .seconds(timeout))
        conn.close()
        let n = received.withLock { $0 }
        if let count, n < count {
            if result == .timedOut { throw CLIError("sub \(topic): fewer than \(count) messages within \(timeout) s") }
            throw CLIError("sub \(topic): the node ended the subscription after \(n) messages")
        }
    }

    static func textLine(_ m: PubsubMessage) -> String { textLine(object(m)) }

    static func textLine(_ object: [String: Any]) -> String {
        let data = PeerPub.bytes(hex: object["data_hex"] as? String ?? "") ?? []
        return "MSG from=\(object["from"] as? String ?? "?") seqno=\(object["seqno"] as? String ?? "") data=\(printable(data))"
    }

    static func printable(_ data: [UInt8]) -> String {
        if let text = String(validating: data, as: UTF8.self), !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            return text
        }
        return "hex:" + hex(data)
    }

    /// A message as `--json` prints it and the control API's subscription sends it.
    static func object(_ m: PubsubMessage) -> [String: Any] {
        [
            "topic": m.topic, "from": m.from.description, "seqno": hex(m.seqno), "data_hex": hex(m.data),
            "data": String(validating: m.data, as: UTF8.self) ?? NSNull(),
            "received_from": m.receivedFrom?.description ?? NSNull(),
        ]
    }

    static func jsonLine(_ m: PubsubMessage) -> String { ControlServer.jsonLine(object(m)) }
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
