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
        func readLine() -> String { out.readLine() }
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
        // Neither a peer to dial nor an address to listen on means "through the running node": there is none.
        let lonely = try CLI(home: pubHome.path).run(["peer", "pub", "t", "m"])
        #expect(lonely.status != 0 && lonely.stderr.contains("no node is running"), "\(lonely.stderr)")
        let deaf = try CLI(home: pubHome.path).run(["peer", "sub", "t", "--count", "1"])
        #expect(deaf.status != 0 && deaf.stderr.contains("no node is running"), "\(deaf.stderr)")
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

    /// `peer sub`, `peer pub` and `peer ping` without --connect/--listen use the running node:
    /// its PeerID signs, its connections carry, its mesh delivers.
    @Test func subPubAndPingGoThroughTheRunningNodes() throws {
        let alice = CLI(home: a.path + "/home2"), bob = CLI(home: b.path + "/home2")
        let nodeA = try alice.startNode(["--listen", "/ip4/127.0.0.1/tcp/0", "--in-process-storage", "--in-process-shell"])
        defer { CLI.stopNode(nodeA) }
        let ticketA = try alice.run(["peer", "ticket"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let nodeB = try bob.startNode(["--listen", "/ip4/127.0.0.1/tcp/0", "--connect", ticketA, "--in-process-storage", "--in-process-shell"])
        defer { CLI.stopNode(nodeB) }
        let idA = String(try #require(try alice.run(["identity", "--json"]).stdout.firstMatch(of: /"peer_id":"([1-9A-Za-z]+)"/)?.1))
        let idB = String(try #require(try bob.run(["identity", "--json"]).stdout.firstMatch(of: /"peer_id":"([1-9A-Za-z]+)"/)?.1))

        let subscriber = Process()
        subscriber.executableURL = URL(fileURLWithPath: CLI.binary)
        subscriber.arguments = ["peer", "sub", "elastos/through-node", "--json", "--count", "2", "--timeout", "60", "--home", alice.home]
        let out = Pipe()
        subscriber.standardOutput = out
        subscriber.standardError = FileHandle.nullDevice
        try subscriber.run()
        defer { if subscriber.isRunning { kill(subscriber.processIdentifier, SIGTERM); subscriber.waitUntilExit() } }
        func readLine() -> String { out.readLine() }
        #expect(readLine() == "SUBSCRIBED elastos/through-node")
        // B waits until A's subscription has reached it, then publishes under B's own PeerID.
        let text = try bob.run(["peer", "pub", "elastos/through-node", "hello through the node", "--wait-peers", "1", "--timeout", "30"])
        #expect(text.status == 0 && text.stdout.hasPrefix("PUBLISHED id=") && text.stdout.contains("peers=1"), "\(text.stdout) \(text.stderr)")
        let binary = try bob.run(["peer", "pub", "elastos/through-node", "--hex", "00ff10", "--wait-peers", "1"])
        #expect(binary.status == 0, "\(binary.stderr)")
        var messages: [[String: Any]] = []
        var peerLines: [String] = []
        while messages.count < 2 {
            let line = readLine()
            guard !line.isEmpty else { break }
            if line.hasPrefix("PEER ") { peerLines.append(line); continue }
            messages.append(try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)"))
        }
        try #require(messages.count == 2)
        // B publishes without subscribing, so it never announced the topic.
        #expect(!peerLines.contains("PEER \(idB)"), "\(peerLines)")
        #expect(messages[0]["data"] as? String == "hello through the node")
        #expect(messages[0]["from"] as? String == idB && messages[0]["received_from"] as? String == idB)
        #expect(messages[1]["data_hex"] as? String == "00ff10" && messages[1]["data"] is NSNull)
        #expect(messages[1]["topic"] as? String == "elastos/through-node")
        subscriber.waitUntilExit()
        #expect(subscriber.terminationStatus == 0)

        // Ping from node A: by the PeerID it is connected to, and by ticket.
        let byID = try alice.run(["peer", "ping", idB, "--count", "2"])
        #expect(byID.status == 0 && byID.stdout.contains("Connected to \(idB)") && byID.stdout.contains("Ping 2: "), "\(byID.stdout) \(byID.stderr)")
        #expect(byID.stdout.contains("Agent: elastos-carrier/"), "\(byID.stdout)")
        let byTicket = try bob.run(["peer", "ping", ticketA, "--count", "1"])
        #expect(byTicket.status == 0 && byTicket.stdout.contains("Connected to \(idA)"), "\(byTicket.stderr)")
        let stranger = try CLI(home: TempDir().path).run(["identity", "--json"]).stdout.firstMatch(of: /"peer_id":"([1-9A-Za-z]+)"/)?.1
        let unknown = try alice.run(["peer", "ping", String(stranger ?? "?")])
        #expect(unknown.status != 0 && unknown.stderr.contains("not connected to"), "\(unknown.stderr)")
        let noTopic = try alice.run(["peer", "pub", "", "x"])
        #expect(noTopic.status != 0 && noTopic.stderr.contains("a topic is needed"), "\(noTopic.stderr)")
    }
}

extension Pipe {
    /// One line a child process wrote (without its newline; empty at end of output), read a byte
    /// at a time so nothing after it is consumed.
    func readLine() -> String {
        var line = ""
        while !line.hasSuffix("\n") {
            let byte = fileHandleForReading.readData(ofLength: 1)
            guard !byte.isEmpty else { break }
            line += String(decoding: byte, as: UTF8.self)
        }
        return line.hasSuffix("\n") ? String(line.dropLast()) : line
    }
}
