import ArgumentParser
import CarrierWire
import ElastosCarrier
import ElastosCore
import Foundation

struct PeerDHT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dht",
        abstract: "Use the Kademlia DHT (/ipfs/kad/1.0.0): find peers, provide keys, find providers, signed values.",
        discussion: """
            Each command starts a node, bootstraps from the --bootstrap peers (which must serve \
            /ipfs/kad/1.0.0, e.g. `elastos peer listen --dht-server` or kubo in dhtserver mode), \
            does its lookup and prints one result per line. Keys that parse as a CID stand for \
            their multihash (as kubo and py-libp2p use them); any other key is its UTF-8 bytes. \
            Values live under /elastos/<publisher PeerID>/<name> and are signed by the publisher \
            (docs/CARRIER.md, "Kademlia").
            """,
        subcommands: [PeerDHTFindPeer.self, PeerDHTProvide.self, PeerDHTFindProviders.self, PeerDHTPut.self, PeerDHTGet.self]
    )

    /// The DHT key bytes for a user's key text: a CID's multihash, else the text's UTF-8.
    static func key(_ text: String) -> [UInt8] {
        if let cid = try? CID(string: text) { return cid.multihash.bytes }
        return Array(text.utf8)
    }

    /// Writes lines at once (unbuffered): a parent process may be waiting for them on a pipe.
    static func emit(_ lines: [String]) {
        guard !lines.isEmpty else { return }
        FileHandle.standardOutput.write(Data(lines.map { $0 + "\n" }.joined().utf8))
    }
}

/// Options every DHT command shares.
struct DHTOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("A DHT server to start from (repeatable), with /p2p/<PeerID> or without.", valueName: "multiaddr"))
    var bootstrap: [String] = []
    @Option(name: .customLong("dht-protocol"), help: ArgumentHelp(
        "A protocol ID to speak instead of /ipfs/kad/1.0.0 (repeatable; kubo's LAN DHT is /ipfs/lan/kad/1.0.0).", valueName: "id"))
    var protocols: [String] = []
    @Option(help: "Seconds to allow for bootstrap and the lookup.") var timeout = 60

    func bootstrapAddresses() throws -> [Multiaddr] {
        try bootstrap.map { text in
            do { return try Multiaddr(parsing: text) } catch { throw CLIError("--bootstrap \(text): \(error)") }
        }
    }

    func config(mode: KadConfig.Mode) -> KadConfig {
        var config = KadConfig(mode: mode)
        if !protocols.isEmpty { config.protocolIDs = protocols }
        return config
    }
}

extension PeerDHT {
    /// Starts a node (listening on `listen`, if any), starts the DHT and bootstraps it, runs
    /// `body` and prints its lines, all within `options.timeout` seconds. Then, with `stay`
    /// seconds, the node keeps serving until they pass or standard input closes; then it stops.
    static func withDHT(
        key: SigningKey, options: DHTOptions, listen: [Multiaddr], mode: KadConfig.Mode, stay: Int = 0,
        _ body: @escaping @Sendable (KademliaDHT) async throws -> [String]
    ) throws {
        let bootstrap = try options.bootstrapAddresses()
        guard !bootstrap.isEmpty else { throw CLIError("give at least one --bootstrap peer") }
        let config = options.config(mode: mode), timeout = options.timeout
        let node: CarrierNode = try runBlocking {
            let node = CarrierNode(identity: key)
            do {
                let lines = try await withDeadline(seconds: timeout) {
                    if !listen.isEmpty { try await node.start(listening: listen) }
                    let dht = await node.startDHT(config)
                    try await dht.bootstrap(bootstrap)
                    return try await body(dht)
                }
                emit(lines)
                return node
            } catch {
                await node.stop()
                throw CLIError("\(error)")
            }
        }
        if stay > 0 { PeerListen.serveUntilStdinCloses(seconds: stay) }
        try runBlocking { await node.stop() }
    }
}
