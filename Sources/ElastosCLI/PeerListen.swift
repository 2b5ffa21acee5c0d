import ArgumentParser
import CarrierWire
import ElastosCarrier
import ElastosCore
import Foundation

struct PeerListen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "listen",
        abstract: "Run this node as a libp2p peer that answers identify, ping and an echo protocol.",
        discussion: """
            Prints one `LISTEN <multiaddr>/p2p/<PeerID>` line per bound address, and a \
            `PEER <PeerID> agent=… protocols=…` line when a peer has connected and identified itself; \
            serves until \
            --duration seconds pass or standard input closes (so a parent process can stop it). \
            It also answers /elastos/echo/1.0.0 (each stream's bytes back), for tests and measurements.

            With --dht-server it also serves the Kademlia DHT (/ipfs/kad/1.0.0): it stores provider             and signed value records for others and answers lookups. --bootstrap joins an existing             DHT (printing `BOOTSTRAPPED <peers in the table>`), and each --provide announces a key             (printing `PROVIDED <key> <peers that took it>`).
            """
    )

    static let echoProtocol = "/elastos/echo/1.0.0"

    @OptionGroup var listen: ListenOptions
    @Option(help: "Seconds to serve before exiting.") var duration = 300
    @Flag(help: "Serve the Kademlia DHT (/ipfs/kad/1.0.0) as a DHT server.") var dhtServer = false
    @Option(help: ArgumentHelp("A key to provide once bootstrapped (repeatable; a CID or any text). Needs --dht-server.", valueName: "key"))
    var provide: [String] = []
    @OptionGroup var dht: DHTOptions
    @OptionGroup var home: HomeOption

    func validate() throws {
        if !dhtServer, !provide.isEmpty || !dht.bootstrap.isEmpty || !dht.protocols.isEmpty {
            throw ValidationError("--provide, --bootstrap and --dht-protocol need --dht-server")
        }
    }

    func run() throws {
        let addresses = try listen.addresses()
        let bootstrap = try dht.bootstrapAddresses()
        let dhtConfig: KadConfig? = dhtServer ? dht.config(mode: .server) : nil
        let provide = self.provide, dhtTimeout = dht.timeout
        let key = try home.nodeKey()
        let duration = self.duration
        let node: CarrierNode = try runBlocking {
            let node = CarrierNode(identity: key)
            node.handle(Self.echoProtocol) { stream in
                while let chunk = try? await stream.read() {
                    guard (try? await stream.write(chunk)) != nil else { return }
                }
                try? await stream.closeWrite()
            }
            let bound: [Multiaddr]
            do { bound = try await node.start(listening: addresses) } catch {
                await node.stop()
                throw CLIError("listen: \(error)")
            }
            // Written unbuffered: a parent process waits for these lines on a pipe.
            let lines = bound.map { "LISTEN \($0.appending(peer: node.peerID))\n" }.joined()
            FileHandle.standardOutput.write(Data(lines.utf8))
            if let dhtConfig {
                let dht = await node.startDHT(dhtConfig)
                Task.detached { await Self.joinDHT(dht, bootstrap: bootstrap, provide: provide, timeout: dhtTimeout) }
            }
            Self.announcePeers(of: node)
            return node
        }
        Self.serveUntilStdinCloses(seconds: duration)
        try runBlocking { await node.stop() }
    }

    /// Prints a `PEER <PeerID> agent=… protocols=…` line for each peer once its identify arrives.
    static func announcePeers(of node: CarrierNode) {
        Task.detached {
            var announced: Set<String> = []
            while !Task.isCancelled {
                for info in await node.peers() where info.agentVersion != nil && !announced.contains(info.peer.description) {
                    announced.insert(info.peer.description)
                    let line = "PEER \(info.peer) agent=\(info.agentVersion ?? "") protocols=\(info.protocols.joined(separator: ","))\n"
                    FileHandle.standardOutput.write(Data(line.utf8))
                }
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    /// Blocks until standard input reaches EOF or `seconds` pass.
    static func serveUntilStdinCloses(seconds: Int) {
        let finished = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            while readLine() != nil {}
            finished.signal()
        }
        _ = finished.wait(timeout: .now() + .seconds(seconds))
    }

    /// Bootstraps (if given peers) and provides each key, printing a line for each step.
    static func joinDHT(_ dht: KademliaDHT, bootstrap: [Multiaddr], provide: [String], timeout: Int) async {
        _ = try? await withDeadline(seconds: timeout) {
            if !bootstrap.isEmpty {
                do { PeerDHT.emit(["BOOTSTRAPPED \(try await dht.bootstrap(bootstrap))"]) } catch {
                    FileHandle.standardError.write(Data("dht: \(error)\n".utf8))
                }
            }
            for key in provide {
                // With an empty table the record is still stored here, where lookups can find it.
                let count = (try? await dht.provide(key: PeerDHT.key(key))) ?? 0
                PeerDHT.emit(["PROVIDED \(key) \(count)"])
            }
        }
    }
}
