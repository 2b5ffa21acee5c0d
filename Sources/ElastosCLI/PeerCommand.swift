import ArgumentParser
import CarrierWire
import ElastosCarrier
import ElastosCore
import ElastosNode
import Foundation

struct PeerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peer",
        abstract: "This node as a libp2p peer (Carrier): its PeerID and ticket, connecting, peers, ping, listening, GossipSub pub/sub, the Kademlia DHT.",
        discussion: """
            Carrier speaks TCP + multistream-select + Noise XX + Yamux, with identify and ping, so \
            it connects to go-libp2p (kubo) and py-libp2p nodes (docs/CARRIER.md). The PeerID is the \
            node key's: the same Ed25519 key as the node's did:key.
            """,
        subcommands: [PeerIDCommand.self, PeerTicket.self, PeerConnect.self, PeerPeers.self, PeerPing.self, PeerReserve.self, PeerListen.self,
                      PeerPub.self, PeerSub.self, PeerDHT.self]
    )

    /// Addresses `peer listen` uses when none are given: loopback only, so nothing is exposed
    /// by accident. Pass --listen /ip4/0.0.0.0/tcp/4001 to accept connections from the network.
    static let defaultListenAddrs = ["/ip4/127.0.0.1/tcp/4001", "/ip6/::1/tcp/4001"]
}

/// `--listen`, shared by `peer id` and `peer listen`.
struct ListenOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("A multiaddr to listen on (repeatable); port 0 picks a free port.", valueName: "multiaddr"))
    var listen: [String] = []

    func addresses() throws -> [Multiaddr] {
        try (listen.isEmpty ? PeerCommand.defaultListenAddrs : listen).map { text in
            do { return try Multiaddr(parsing: text) } catch { throw CLIError("--listen \(text): \(error)") }
        }
    }
}

extension HomeOption {
    /// The node key, created on first run.
    func nodeKey() throws -> SigningKey {
        let nodeHome = resolved
        do {
            let loaded = try NodeKeyStore.loadOrCreate(in: nodeHome)
            if loaded.created { recordKeyCreation(home: nodeHome, key: loaded.key) }
            return loaded.key
        } catch { throw CLIError(error.description) }
    }
}

/// Runs async Carrier work from a synchronous command.
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var result: Result<T, any Error>?
    Task.detached {
        do { result = .success(try await body()) } catch { result = .failure(error) }
        done.signal()
    }
    done.wait()
    // The semaphore orders the write above before this read.
    return try result!.get()
}
