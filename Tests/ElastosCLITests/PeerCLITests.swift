import Foundation
import Testing

@Suite struct PeerCLITests {
    @Test func peerIDIsTheNodeKeysPeerIDWithItsListenAddrs() throws {
        let home = TempDir()
        let cli = CLI(home: home.path)
        let identity = try cli.run(["identity", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(identity.stdout.utf8)) as? [String: String])
        let peer = try #require(object["peer_id"])
        let r = try cli.run(["peer", "id", "--listen", "/ip4/127.0.0.1/tcp/4001", "--listen", "/ip6/::1/tcp/0"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("PeerID: \(peer)\n"))
        #expect(r.stdout.contains("Listen: /ip4/127.0.0.1/tcp/4001/p2p/\(peer)\n"))
        #expect(r.stdout.contains("Listen: /ip6/::1/tcp/0/p2p/\(peer)\n"))
        let bad = try cli.run(["peer", "id", "--listen", "/ip4/300.0.0.1/tcp/1"])
        #expect(bad.status != 0 && bad.stderr.contains("'300.0.0.1' is not a valid ip4 value"), "\(bad.stderr)")
    }

    @Test func pingFailsClearlyWhenNothingListens() throws {
        let home = TempDir()
        let cli = CLI(home: home.path)
        // Port 9 (discard) has no listener on loopback here.
        let r = try cli.run(["peer", "ping", "/ip4/127.0.0.1/tcp/9", "--timeout", "10"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("could not connect to /ip4/127.0.0.1/tcp/9"), "\(r.stderr)")
        // A circuit address needs the relay before /p2p-circuit and the target after it.
        let relay = try cli.run(["peer", "ping", "/p2p-circuit"])
        #expect(relay.status != 0 && relay.stderr.contains("invalid relay address: after /p2p-circuit comes exactly /p2p/<target>"), "\(relay.stderr)")
    }

    @Test func pingReachesAListeningNode() throws {
        let home = TempDir(), otherHome = TempDir()
        let listener = Process()
        listener.executableURL = URL(fileURLWithPath: CLI.binary)
        listener.arguments = ["peer", "listen", "--listen", "/ip4/127.0.0.1/tcp/0", "--duration", "30", "--home", otherHome.path]
        let out = Pipe(), input = Pipe()
        listener.standardOutput = out
        listener.standardInput = input
        listener.standardError = FileHandle.nullDevice
        try listener.run()
        defer {
            input.fileHandleForWriting.closeFile()
            listener.waitUntilExit()
        }
        var line = ""
        while !line.hasSuffix("\n") {
            let byte = out.fileHandleForReading.readData(ofLength: 1)
            guard !byte.isEmpty else { break }
            line += String(decoding: byte, as: UTF8.self)
        }
        try #require(line.hasPrefix("LISTEN /ip4/127.0.0.1/tcp/"), "\(line)")
        let address = String(line.dropFirst("LISTEN ".count).dropLast())
        let r = try CLI(home: home.path).run(["peer", "ping", address, "--count", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Agent: elastos-carrier/"))
        #expect(r.stdout.contains("Ping 2: "))
    }

    @Test func pubReachesASubscribingNodeAndSubPrintsTheVerifiedMessage() throws {
        let subHome = TempDir(), pubHome = TempDir()
        let pubPeer = try CLI(home: pubHome.path).run(["peer", "id"]).stdout
            .split(separator: "\n").first { $0.hasPrefix("PeerID: ") }.map { String($0.dropFirst("PeerID: ".count)) }
        let subscriber = Process()
        subscriber.executableURL = URL(fileURLWithPath: CLI.binary)
        subscriber.arguments = ["peer", "sub", "elastos/cli-test", "--listen", "/ip4/127.0.0.1/tcp/0", "--count", "1", "--json",
                                "--timeout", "30", "--home", subHome.path]
        let out = Pipe()
        subscriber.standardOutput = out
        subscriber.standardError = FileHandle.nullDevice
        try subscriber.run()
        defer { if subscriber.isRunning { subscriber.terminate() } }
        func readLine() -> String {
            var line = ""
            while !line.hasSuffix("\n") {
                let byte = out.fileHandleForReading.readData(ofLength: 1)
                guard !byte.isEmpty else { break }
                line += String(decoding: byte, as: UTF8.self)
            }
            return String(line.dropLast())
        }
        let listen = readLine()
        try #require(listen.hasPrefix("LISTEN /ip4/127.0.0.1/tcp/"), "\(listen)")
        #expect(readLine() == "SUBSCRIBED elastos/cli-test")
        let r = try CLI(home: pubHome.path).run(["peer", "pub", "elastos/cli-test", "hello, mesh", "--connect",
                                                  String(listen.dropFirst("LISTEN ".count))])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("PUBLISHED id=") && r.stdout.contains("peers=1"), "\(r.stdout)")
        let message = try #require(try JSONSerialization.jsonObject(with: Data(readLine().utf8)) as? [String: Any])
        #expect(message["data"] as? String == "hello, mesh")
        #expect(message["from"] as? String == pubPeer)
        #expect(message["topic"] as? String == "elastos/cli-test")
        subscriber.waitUntilExit()
        #expect(subscriber.terminationStatus == 0)
        // Neither a peer to dial nor an address to listen on is a usage error.
        let lonely = try CLI(home: pubHome.path).run(["peer", "pub", "t", "m"])
        #expect(lonely.status != 0 && lonely.stderr.contains("give at least one --connect or --listen"), "\(lonely.stderr)")
    }
}

/// Carrier inside `elastos node --listen`: the ticket printed by one node connects another
/// (`--connect` and `elastos peer connect`), and both list each other as peers.
@Suite(.serialized) struct NodeCarrierCLITests {
    let a = TempDir(), b = TempDir()

    @Test func aTicketConnectsTwoNodesAndBothListEachOther() throws {
        let alice = CLI(home: a.path + "/home"), bob = CLI(home: b.path + "/home")
        let nodeA = try alice.startNode(["--listen", "/ip4/127.0.0.1/tcp/0", "--in-process-storage", "--in-process-shell"])
        defer { CLI.stopNode(nodeA) }
        let ticket = try alice.run(["peer", "ticket"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(ticket.hasPrefix("elastos"), "\(ticket)")
        let idA = try alice.run(["identity", "--json"]).stdout.firstMatch(of: /"peer_id":"([1-9A-Za-z]+)"/)?.1
        let nodeB = try bob.startNode(["--listen", "/ip4/127.0.0.1/tcp/0", "--connect", ticket, "--in-process-storage", "--in-process-shell"])
        defer { CLI.stopNode(nodeB) }
        let idB = try bob.run(["identity", "--json"]).stdout.firstMatch(of: /"peer_id":"([1-9A-Za-z]+)"/)?.1
        #expect(idA != nil && idB != nil)
        var peersA = "", peersB = ""
        for _ in 0..<100 {
            peersA = try alice.run(["peer", "peers"]).stdout
            peersB = try bob.run(["peer", "peers", "--json"]).stdout
            if peersA.contains("elastos-carrier"), peersB.contains("elastos-carrier") { break }
            usleep(100_000)
        }
        #expect(peersA.contains(String(idB ?? "?")) && peersA.contains(" in "), "\(peersA)")
        #expect(peersB.contains("\"peer\":\"\(idA ?? "?")\"") && peersB.contains("\"outbound\":true"), "\(peersB)")
        // Connecting again by hand is answered from the open connection; damaged tickets are refused clearly.
        let again = try bob.run(["peer", "connect", ticket])
        #expect(again.status == 0 && again.stdout.contains("connected to \(idA ?? "?")"), "\(again.stderr)")
        let cut = try bob.run(["peer", "connect", String(ticket.dropLast(3))])
        #expect(cut.status != 0 && cut.stderr.contains("cut"), "\(cut.stderr)")
        // A node without --listen has no Carrier, and says so.
        let none = try CLI(home: TempDir().path).run(["peer", "ticket"])
        #expect(none.status != 0 && none.stderr.contains("no node is running"), "\(none.stderr)")
    }
}
