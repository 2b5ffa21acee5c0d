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
            """
    )

    static let echoProtocol = "/elastos/echo/1.0.0"

    @OptionGroup var listen: ListenOptions
    @Option(help: "Seconds to serve before exiting.") var duration = 300
    @OptionGroup var home: HomeOption

    func run() throws {
        let addresses = try listen.addresses()
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
            // Announce each peer once identify from it has arrived.
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
            return node
        }
        // Serve until stdin reaches EOF or the duration passes.
        let finished = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            while readLine() != nil {}
            finished.signal()
        }
        _ = finished.wait(timeout: .now() + .seconds(duration))
        try runBlocking { await node.stop() }
    }
}
