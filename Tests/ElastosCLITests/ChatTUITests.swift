import ElastosRuntime
import Foundation
import Testing

/// The full-screen `elastos chat` driven through a real terminal (tmux), and history that
/// outlives a chat through localhost://storage/.
@Suite(.serialized) struct ChatTUITests {
    let dir = TempDir()
    /// Our own tmux server (its own socket), so nothing else's sessions are touched.
    let socket = "elastos-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"

    func node(_ name: String) throws -> (CLI, Process) {
        let cli = CLI(home: dir.path + "/" + name)
        for capsule in [ChatCLITests.nativeChat, ChatCLITests.wasmChat] {
            let r = try cli.run(["capsule", "install", "--dev", capsule])
            try #require(r.status == 0, "install \(capsule): \(r.stderr)")
        }
        return (cli, try cli.startNode(["--listen", "/ip4/127.0.0.1/tcp/0"]))
    }

    /// Runs tmux from a shell that first closes every descriptor but the standard three and
    /// redirects those: the tmux server the first call starts keeps running, and would hold
    /// open for ever whatever pipe it inherited (Foundation's pipes are not close-on-exec).
    @discardableResult
    func tmux(_ args: [String]) throws -> String {
        let out = dir.path + "/tmux.out"
        let quoted = (["/usr/bin/tmux", "-L", socket] + args).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let script = "for fd in $(ls /proc/$$/fd); do [ \"$fd\" -gt 2 ] && eval \"exec $fd>&-\"; done 2>/dev/null; "
            + quoted.joined(separator: " ") + " > '\(out)' 2>/dev/null < /dev/null; cat '\(out)'"
        return try CLI.exec("/bin/bash", ["-c", script]).stdout
    }

    /// The visible pane, waiting until `matches` holds (or `seconds` pass); returns the last capture.
    func screen(_ session: String, _ seconds: Double = 30, until matches: ([String]) -> Bool) throws -> [String] {
        let deadline = Date().addingTimeInterval(seconds)
        var lines: [String] = []
        repeat {
            lines = try tmux(["capture-pane", "-p", "-t", session]).components(separatedBy: "\n")
            if matches(lines) { return lines }
            usleep(100_000)
        } while Date() < deadline
        return lines
    }

    func keys(_ session: String, _ text: String, enter: Bool = true) throws {
        try tmux(["send-keys", "-t", session, "-l", text])
        if enter { try tmux(["send-keys", "-t", session, "Enter"]) }
    }

    @Test func theFullScreenChatShowsRepliesKeepsTheInputLineSwitchesRoomsAndResizes() throws {
        try ChatCLITests().require()
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"), "tmux is not installed: apt install tmux")
        let (a, nodeA) = try node("a"), (b, nodeB) = try node("b")
        defer { CLI.stopNode(nodeA); CLI.stopNode(nodeB) }
        let session = "alice"
        try tmux(["new-session", "-d", "-s", session, "-x", "100", "-y", "30",
                  "TERM=xterm-256color \(CLI.binary) chat --home \(a.home) --nick alice; sleep 30"])
        defer { _ = try? tmux(["kill-server"]) }

        var pane = try screen(session) { $0.contains { $0.contains("elastos chat") && $0.contains("alice") } && $0.contains { $0.contains("Your ticket") } }
        #expect(pane.first?.contains("#general") == true, "\(pane.joined(separator: "\n"))")
        let ticket = try a.run(["peer", "ticket"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let bob = try ChatProcess(home: b.home, ["--nick", "bob", "--connect", ticket])
        defer { bob.quit() }
        #expect(bob.event("joined", 60) { $0["nick"] as? String == "alice" } != nil, "bob never saw alice: \(bob.all)")

        // The peer's reply appears; ours reaches the peer.
        bob.type("hello alice")
        pane = try screen(session) { $0.contains { $0.contains("<bob> hello alice") } }
        #expect(pane.contains { $0.contains("<bob> hello alice") }, "\(pane.joined(separator: "\n"))")
        try keys(session, "hi bob, from the terminal")
        #expect(bob.message(from: "alice", text: "hi bob, from the terminal") != nil, "bob did not hear alice: \(bob.all)")
        pane = try screen(session) { $0.contains { $0.contains("<alice> hi bob, from the terminal") } }
        #expect(pane.contains { $0.contains("<alice> hi bob, from the terminal") })

        // A half-typed line survives messages arriving.
        try keys(session, "half a thought", enter: false)
        bob.type("are you there?")
        pane = try screen(session) { $0.contains { $0.contains("<bob> are you there?") } }
        #expect(pane.contains { $0.contains("<bob> are you there?") })
        #expect(pane.last { !$0.isEmpty }?.hasPrefix("> half a thought") == true, "\(pane.joined(separator: "\n"))")
        // The peer list beside the messages names bob.
        #expect(pane.contains { $0.contains("│") && $0.contains("bob") })

        // Resize: the frame is redrawn to the new size, the input line intact.
        try tmux(["resize-window", "-t", session, "-x", "64", "-y", "16"])
        pane = try screen(session) { lines in lines.count <= 17 && lines.last { !$0.isEmpty }?.hasPrefix("> half a thought") == true && lines.first?.contains("elastos chat") == true }
        #expect(pane.first?.contains("elastos chat") == true, "\(pane.joined(separator: "\n"))")
        #expect(pane.allSatisfy { $0.count <= 64 })
        #expect(pane.contains { $0.contains("<bob> are you there?") })
        #expect(pane.last { !$0.isEmpty }?.hasPrefix("> half a thought") == true)

        // Rooms: /join makes a second room current; Tab goes back; messages land in their room.
        try tmux(["send-keys", "-t", session, "C-u"])
        try keys(session, "/join #side")
        pane = try screen(session) { $0.first?.contains("#side") == true }
        #expect(pane.first?.contains("#side") == true, "\(pane.joined(separator: "\n"))")
        bob.type("/join #side")
        #expect(bob.event("joined", 60) { $0["nick"] as? String == "alice" && $0["room"] as? String == "#side" } != nil)
        bob.type("on the side")
        pane = try screen(session) { $0.contains { $0.contains("<bob> on the side") } }
        #expect(pane.contains { $0.contains("<bob> on the side") })
        try tmux(["send-keys", "-t", session, "Tab"])
        pane = try screen(session) { $0.first?.contains("#general") == true }
        #expect(pane.first?.contains("#general") == true)
        #expect(!pane.contains { $0.contains("<bob> on the side") })  // that one is in #side
        try keys(session, "back in general")
        #expect(bob.message(from: "alice", text: "back in general")?["room"] as? String == "#general")

        // Ctrl+C leaves the rooms and gives the terminal back.
        try tmux(["send-keys", "-t", session, "C-c"])
        #expect(bob.event("left", 30) { $0["nick"] as? String == "alice" } != nil, "bob did not see alice leave: \(bob.all)")
        pane = try screen(session, 15) { !$0.contains { $0.contains("elastos chat") } }
        #expect(!pane.contains { $0.contains("elastos chat") }, "the chat screen stayed: \(pane.joined(separator: "\n"))")
    }

    @Test func historyOutlivesTheChatAndIsCheckedAgainWhenLoaded() throws {
        try ChatCLITests().require()
        let (a, nodeA) = try node("a"), (b, nodeB) = try node("b")
        defer { CLI.stopNode(nodeA); CLI.stopNode(nodeB) }
        let alice = try ChatProcess(home: a.home, ["--nick", "alice"])
        defer { alice.quit() }
        let ticket = try #require(alice.event("ready")?["ticket"] as? String)
        var bob = try ChatProcess(home: b.home, ["--nick", "bob", "--connect", ticket])
        #expect(bob.event("joined", 60) { $0["nick"] as? String == "alice" } != nil)
        for text in ["first", "second", "third"] {
            alice.type(text)
            #expect(bob.message(from: "alice", text: text) != nil)
        }
        bob.type("and mine")
        #expect(alice.message(from: "bob", text: "and mine") != nil)
        bob.type("/quit")
        bob.quit()

        // Alone this time (alice's chat ends first, so no peer can send history): what bob
        // sees is what his node kept.
        alice.type("/quit")
        alice.quit()
        bob = try ChatProcess(home: b.home, ["--nick", "bob"])
        defer { bob.quit() }
        #expect(bob.event("ready") != nil)
        let kept = bob.all.filter { $0["event"] as? String == "message" && $0["stored"] as? Bool == true }
        #expect(kept.map { $0["text"] as? String ?? "" } == ["first", "second", "third", "and mine"], "\(bob.all)")
        #expect(kept.allSatisfy { $0["history"] as? Bool == true })
        #expect(kept.last?["self"] as? Bool == true)
        // And a node that never chatted has nothing.
        let (c, nodeC) = try node("c")
        defer { CLI.stopNode(nodeC) }
        let carol = try ChatProcess(home: c.home, ["--nick", "carol"])
        defer { carol.quit() }
        #expect(carol.event("ready") != nil)
        #expect(!carol.all.contains { $0["stored"] as? Bool == true })
        #expect(!carol.all.contains { $0["event"] as? String == "error" }, "\(carol.all)")
    }
}
