import CarrierWire
import Foundation
import Testing

/// A network namespace of our own (root only): loopback up, nothing else, so mDNS on it reaches
/// only the processes started in it. Processes run in it through `ip netns exec`, which execs
/// the program, so the Process's pid is the program's.
final class NetworkNamespace: @unchecked Sendable {
    let name = "elastos-disc-\(UInt32.random(in: 0...UInt32.max))"

    init() throws {
        try #require(getuid() == 0, "network namespaces need root (ip netns)")
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/ip") || FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip"),
                     "iproute2 is not installed: apt install iproute2")
        let add = try CLI.exec(Self.ip, ["netns", "add", name])
        try #require(add.status == 0, "ip netns add: \(add.stderr)")
        let up = try CLI.exec(Self.ip, ["netns", "exec", name, Self.ip, "link", "set", "lo", "up"])
        try #require(up.status == 0, "ip link set lo up: \(up.stderr)")
    }

    static var ip: String { FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/usr/bin/ip" }

    /// `ip netns exec <name>`, to put before a command.
    var launcher: [String] { [Self.ip, "netns", "exec", name] }

    func remove() { _ = try? CLI.exec(Self.ip, ["netns", "delete", name]) }
}

/// `elastos chat` without a ticket: two chats meet through a bootstrap node (DHT rendezvous on the
/// room's topic), and, in a namespace of their own, through mDNS with neither ticket nor bootstrap.
/// The nodes are started by the test (as in ChatCLITests) and the chats attach to them.
@Suite(.serialized) struct ChatDiscoveryTests {
    let dir = TempDir()

    /// Installs the native chat capsule in a fresh home.
    func home(_ name: String) throws -> CLI {
        try #require(FileManager.default.isExecutableFile(atPath: ChatCLITests.nativeChat + "/chat"), "run scripts/build-native-capsules.sh")
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/bwrap"), "bubblewrap is not installed: apt install bubblewrap")
        let cli = CLI(home: dir.path + "/" + name)
        for capsule in [ChatCLITests.nativeChat] {
            let r = try cli.run(["capsule", "install", "--dev", capsule])
            try #require(r.status == 0, "install \(capsule): \(r.stderr)")
        }
        return cli
    }

    /// Starts `elastos node` for `cli`'s home with Carrier on loopback, in `namespace` if given.
    static func startNode(_ cli: CLI, _ extra: [String], in namespace: NetworkNamespace? = nil) throws -> Process {
        guard let namespace else { return try cli.startNode(["--listen", "/ip4/127.0.0.1/tcp/0"] + extra) }
        let node = Process()
        node.executableURL = URL(fileURLWithPath: namespace.launcher[0])
        node.arguments = Array(namespace.launcher.dropFirst()) + [CLI.binary, "node", "--home", cli.home, "--listen", "/ip4/127.0.0.1/tcp/0"] + extra
        node.standardError = FileHandle.nullDevice
        try node.run()
        for _ in 0..<1200 where !FileManager.default.fileExists(atPath: cli.home + "/control.sock") { usleep(50_000) }
        return node
    }

    /// The pids of `elastos node --home <home>` processes (such as the node `elastos chat` started).
    static func nodePIDs(home: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> Int32? in
            guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
            let args = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard args.count >= 4, args[1] == "node", let i = args.firstIndex(of: "--home"), i + 1 < args.count, args[i + 1] == home else { return nil }
            return pid
        }
    }

    /// The ticket of a running node, and its first address with `/p2p/<id>`.
    static func bootstrapAddress(_ cli: CLI) throws -> String {
        let r = try cli.run(["peer", "ticket"])
        try #require(r.status == 0, "peer ticket: \(r.stderr)")
        let ticket = try Ticket(parsing: r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        return try #require(ticket.dialAddresses.first).description
    }

    /// alice and bob, each in a chat that started its own node, hear each other both ways.
    func expectConversation(_ alice: ChatProcess, _ bob: ChatProcess) {
        #expect(alice.event("joined", 45) { $0["nick"] as? String == "bob" } != nil, "alice never saw bob: \(alice.all)")
        #expect(bob.event("joined", 45) { $0["nick"] as? String == "alice" } != nil, "bob never saw alice: \(bob.all)")
        alice.type("hello bob, found you without a ticket")
        #expect(bob.message(from: "alice", text: "hello bob, found you without a ticket") != nil, "bob did not hear alice: \(bob.all)")
        bob.type("hello alice")
        #expect(alice.message(from: "bob", text: "hello alice") != nil, "alice did not hear bob: \(alice.all)")
    }

    @Test func twoChatsMeetThroughABootstrapNodeWithoutATicket() throws {
        let (a, b) = (try home("a"), try home("b"))
        // The bootstrap node is in no room: it only serves the DHT.
        let c = CLI(home: dir.path + "/c")
        let bootstrap = try Self.startNode(c, ["--no-mdns", "--in-process-storage", "--in-process-shell"])
        defer { CLI.stopNode(bootstrap) }
        let address = try Self.bootstrapAddress(c)
        // mDNS off: on this host's loopback it would find the other node by itself.
        let nodeA = try Self.startNode(a, ["--bootstrap", address, "--no-mdns"])
        defer { CLI.stopNode(nodeA) }
        let nodeB = try Self.startNode(b, ["--bootstrap", address, "--no-mdns"])
        defer { CLI.stopNode(nodeB) }
        let alice = try ChatProcess(home: a.home, ["--nick", "alice", "--room", "#rendezvous"])
        defer { alice.quit() }
        #expect(alice.event("ready") != nil, "alice never got ready: \(alice.all)")
        let bob = try ChatProcess(home: b.home, ["--nick", "bob", "--room", "#rendezvous"])
        defer { bob.quit() }
        expectConversation(alice, bob)
    }

    @Test func chatPassesBootstrapAndNoMDNSToTheNodeItStarts() throws {
        let a = try home("a")
        let peer = "12D3KooWPmQnDoPJwgmteyLBB4qeBNop2VNJmWKtxe2RnA3rVXj2"
        // Nothing listens on port 1: the node keeps retrying, and says what it runs with.
        let r = try CLI.exec("/usr/bin/timeout", ["60", CLI.binary, "chat", "--json", "--home", a.home, "--nick", "alice",
                                                   "--listen", "/ip4/127.0.0.1/tcp/0", "--bootstrap", "/ip4/127.0.0.1/tcp/1/p2p/\(peer)", "--no-mdns"],
                             stdin: "")
        defer { for pid in Self.nodePIDs(home: a.home) { kill(pid, SIGTERM) } }
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stderr.contains("started the node"), "\(r.stderr)")
        let log = (try? String(contentsOfFile: a.home + "/node.log", encoding: .utf8)) ?? ""
        #expect(log.contains("elastos node: discovery: DHT through 1 bootstrap peer(s), rendezvous on joined topics\n"), "\(log)")
        #expect(!log.contains("mDNS"), "\(log)")
        #expect(Self.nodePIDs(home: a.home).count == 1)
    }

    @Test func twoNodesOnOneLinkFindEachOtherByMDNS() throws {
        let ns = try NetworkNamespace()
        defer { ns.remove() }
        let (a, b) = (CLI(home: dir.path + "/ma"), CLI(home: dir.path + "/mb"))
        let nodes = try [a, b].map { try Self.startNode($0, ["--in-process-storage", "--in-process-shell"], in: ns) }
        defer { nodes.forEach(CLI.stopNode) }
        let idLine = try #require(try b.run(["peer", "id"]).stdout.split(separator: "\n").first { $0.hasPrefix("PeerID: ") })
        let peerB = String(idLine.dropFirst("PeerID: ".count))
        var listed = ""
        for _ in 0..<200 {
            listed = try a.run(["peer", "peers"]).stdout
            if listed.contains(peerB) { break }
            usleep(100_000)
        }
        #expect(listed.contains(peerB), "A's peers: \(listed); B is \(peerB)")
    }

    @Test func twoChatsWithNoTicketAndNoBootstrapMeetByMDNS() throws {
        let ns = try NetworkNamespace()
        defer { ns.remove() }
        let (a, b) = (try home("a"), try home("b"))
        // The nodes run in the namespace; the chats attach through their control sockets.
        let nodes = try [a, b].map { try Self.startNode($0, [], in: ns) }
        defer { nodes.forEach(CLI.stopNode) }
        let alice = try ChatProcess(home: a.home, ["--nick", "alice", "--room", "#lan"])
        defer { alice.quit() }
        let bob = try ChatProcess(home: b.home, ["--nick", "bob", "--room", "#lan"])
        defer { bob.quit() }
        expectConversation(alice, bob)
    }
}
