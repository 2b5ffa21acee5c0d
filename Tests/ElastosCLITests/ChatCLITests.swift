import CarrierWire
import ChatWire
import ElastosCore
import ElastosNode
import ElastosRuntime
import Foundation
import Synchronization
import Testing

/// One `elastos chat --json` process: its stdin to type into, its output lines as JSON objects.
final class ChatProcess: @unchecked Sendable {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    /// Output lines as they came (parsed when looked at: [String: Any] is not Sendable).
    private let lines = Mutex<[String]>([])
    private let raw = Mutex<String>("")

    /// `launcher` runs the chat through another program first (`ip netns exec <ns>`).
    init(home: String, _ args: [String], launcher: [String] = []) throws {
        process.executableURL = URL(fileURLWithPath: launcher.first ?? CLI.binary)
        process.arguments = Array(launcher.dropFirst()) + (launcher.isEmpty ? [] : [CLI.binary]) + ["chat", "--json", "--home", home] + args
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.raw.withLock { text in
                text += String(decoding: data, as: UTF8.self)
                while let newline = text.firstIndex(of: "\n") {
                    let line = String(text[..<newline])
                    text.removeSubrange(...newline)
                    self.lines.withLock { $0.append(line) }
                }
            }
        }
        try process.run()
    }

    func type(_ line: String) { input.fileHandleForWriting.write(Data((line + "\n").utf8)) }

    /// The first output object (from `start` on) that `matches`, waiting up to `seconds`.
    func wait(_ seconds: Double = 60, _ matches: ([String: Any]) -> Bool) -> [String: Any]? {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if let hit = all.first(where: matches) { return hit }
            usleep(20_000)
        } while Date() < deadline
        return nil
    }

    func event(_ name: String, _ seconds: Double = 60, where extra: @escaping ([String: Any]) -> Bool = { _ in true }) -> [String: Any]? {
        wait(seconds) { $0["event"] as? String == name && extra($0) }
    }

    func message(from nick: String, text: String, _ seconds: Double = 60) -> [String: Any]? {
        event("message", seconds) { $0["nick"] as? String == nick && $0["text"] as? String == text }
    }

    var all: [[String: Any]] {
        lines.withLock { $0 }.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// Ends the chat as a user would (end of input), then makes sure it is gone.
    func quit() {
        input.fileHandleForWriting.closeFile()
        for _ in 0..<200 where process.isRunning { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        process.waitUntilExit()
        output.fileHandleForReading.readabilityHandler = nil
    }
}

/// `elastos chat` end to end: real nodes with Carrier on loopback, the native chat capsule under
/// bubblewrap and the WASM one on WasmKit, in one room.
@Suite(.serialized) struct ChatCLITests {
    let dir = TempDir()

    static var nativeChat: String { NativeRunCLITests.native.appendingPathComponent("chat").path }
    static var wasmChat: String { CLI.packageRoot.appendingPathComponent("capsules/chat-wasm").path }

    func require() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.nativeChat + "/chat"), "run scripts/build-native-capsules.sh")
        try #require(FileManager.default.fileExists(atPath: Self.wasmChat + "/chat.wasm"), "run scripts/build-capsules.sh")
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/bwrap"), "bubblewrap is not installed: apt install bubblewrap")
    }

    /// A node home with both chat capsules installed and its node running with Carrier on loopback.
    func node(_ name: String, also: [String] = []) throws -> (CLI, Process) {
        let cli = CLI(home: dir.path + "/" + name)
        for capsule in [Self.nativeChat, Self.wasmChat] + also {
            let r = try cli.run(["capsule", "install", "--dev", capsule])
            try #require(r.status == 0, "install \(capsule): \(r.stderr)")
        }
        return (cli, try cli.startNode(["--listen", "/ip4/127.0.0.1/tcp/0"]))
    }

    @Test func nativeAndWasmOnOneNodeAndAThirdOnAnotherAllHearEachOther() throws {
        try require()
        let (a, nodeA) = try node("a"), (b, nodeB) = try node("b")
        defer { CLI.stopNode(nodeA); CLI.stopNode(nodeB) }
        let alice = try ChatProcess(home: a.home, ["--nick", "alice"])
        defer { alice.quit() }
        let ready = try #require(alice.event("ready"), "alice never got ready: \(alice.all)")
        let ticket = try #require(ready["ticket"] as? String)
        #expect(ready["app"] as? String == "chat")
        let wasmy = try ChatProcess(home: a.home, ["--nick", "wasmy", "--wasm"])
        defer { wasmy.quit() }
        #expect(wasmy.event("ready")?["app"] as? String == "chat-wasm")
        let bob = try ChatProcess(home: b.home, ["--nick", "bob", "--connect", ticket])
        defer { bob.quit() }
        #expect(bob.event("connected") != nil, "bob did not connect: \(bob.all)")

        // Presence: everyone learns of everyone.
        for (who, others) in [(alice, ["wasmy", "bob"]), (wasmy, ["alice", "bob"]), (bob, ["alice", "wasmy"])] {
            for other in others {
                #expect(who.event("joined") { $0["nick"] as? String == other } != nil, "\(other) not seen: \(who.all)")
            }
        }
        // Every direction: each one's message reaches the other two, signed and verified.
        let chats = [("alice", alice), ("wasmy", wasmy), ("bob", bob)]
        for (nick, chat) in chats {
            let text = "hello from \(nick)"
            chat.type(text)
            #expect(chat.message(from: nick, text: text)?["self"] as? Bool == true)
            for (other, listener) in chats where other != nick {
                let got = listener.message(from: nick, text: text)
                #expect(got != nil, "\(other) did not hear \(nick): \(listener.all)")
                #expect(got?["self"] as? Bool == false)
                #expect(got?["app"] as? String == (nick == "wasmy" ? "chat-wasm" : "chat"))
            }
        }
        // alice and wasmy share their node's DID (and so its key); bob's is his own node's.
        let aliceDID = bob.message(from: "alice", text: "hello from alice")?["did"] as? String
        #expect(aliceDID == bob.message(from: "wasmy", text: "hello from wasmy")?["did"] as? String)
        #expect(aliceDID != alice.message(from: "bob", text: "hello from bob")?["did"] as? String)
        // Leaving is seen.
        bob.type("/quit")
        #expect(alice.event("left", 30) { $0["nick"] as? String == "bob" } != nil)
    }

    /// Issue 7's three-mode chat: the native, WASM and microVM builds of one chat app on one
    /// runtime and one Carrier peer, and a user on a second node. Slow: the microVM boots under
    /// software emulation here (a few seconds), but it runs in CI.
    @Test func nativeWasmAndMicroVMChatsOnOneNodeAndAUserOnAnotherAllHearEachOther() throws {
        try require()
        try #require(MicroVMRunCLITests.unavailable == nil, "\(MicroVMRunCLITests.unavailable ?? "")")
        let vmChat = MicroVMRunCLITests.microvm.appendingPathComponent("chat-microvm").path
        try #require(FileManager.default.isExecutableFile(atPath: vmChat + "/chat"), "run scripts/build-native-capsules.sh chat")
        let (a, nodeA) = try node("a", also: [vmChat]), (b, nodeB) = try node("b")
        defer { CLI.stopNode(nodeA); CLI.stopNode(nodeB) }
        let alice = try ChatProcess(home: a.home, ["--nick", "alice"])
        defer { alice.quit() }
        let ticket = try #require(alice.event("ready")?["ticket"] as? String)
        let wasmy = try ChatProcess(home: a.home, ["--nick", "wasmy", "--wasm"])
        defer { wasmy.quit() }
        let vm = try ChatProcess(home: a.home, ["--nick", "vm", "--capsule", "chat-microvm"])
        defer { vm.quit() }
        #expect(vm.event("ready", 120)?["app"] as? String == "chat-microvm", "the microVM chat did not start: \(vm.all)")
        let bob = try ChatProcess(home: b.home, ["--nick", "bob", "--connect", ticket])
        defer { bob.quit() }
        let chats = [("alice", alice, "chat"), ("wasmy", wasmy, "chat-wasm"), ("vm", vm, "chat-microvm"), ("bob", bob, "chat")]
        for (nick, chat, _) in chats {
            for (other, _, _) in chats where other != nick {
                #expect(chat.event("joined", 60) { $0["nick"] as? String == other } != nil, "\(nick) never saw \(other): \(chat.all)")
            }
        }
        for (nick, chat, app) in chats {
            let text = "three modes: hello from \(nick)"
            chat.type(text)
            for (other, listener, _) in chats where other != nick {
                let got = listener.message(from: nick, text: text)
                #expect(got?["app"] as? String == app, "\(other) did not hear \(nick): \(listener.all)")
                #expect(got?["self"] as? Bool == false)
            }
        }
    }

    @Test func aLateJoinerGetsRecentHistoryCheckedAndInOrder() throws {
        try require()
        let (a, nodeA) = try node("a"), (b, nodeB) = try node("b"), (c, nodeC) = try node("c")
        defer { CLI.stopNode(nodeA); CLI.stopNode(nodeB); CLI.stopNode(nodeC) }
        let alice = try ChatProcess(home: a.home, ["--nick", "alice"])
        defer { alice.quit() }
        let ticket = try #require(alice.event("ready")?["ticket"] as? String)
        let bob = try ChatProcess(home: b.home, ["--nick", "bob", "--connect", ticket])
        defer { bob.quit() }
        #expect(alice.event("joined") { $0["nick"] as? String == "bob" } != nil)
        #expect(bob.event("joined") { $0["nick"] as? String == "alice" } != nil)
        let said = [("alice", alice, "first"), ("bob", bob, "second"), ("alice", alice, "third")]
        for (nick, chat, text) in said {
            chat.type(text)
            // Each is heard before the next is said, so the order is the order of time.
            for listener in [alice, bob] { #expect(listener.message(from: nick, text: text) != nil) }
        }
        // Carol arrives later, on a third node: the room's recent messages come to her.
        let carol = try ChatProcess(home: c.home, ["--nick", "carol", "--connect", ticket])
        defer { carol.quit() }
        for (nick, _, text) in said {
            let got = carol.message(from: nick, text: text)
            #expect(got?["history"] as? Bool == true, "carol did not get '\(text)' as history: \(carol.all)")
        }
        let order = carol.all.filter { $0["event"] as? String == "message" }.compactMap { $0["text"] as? String }
        #expect(order == said.map(\.2), "history out of order: \(order)")
        // Live messages after that are not marked as history.
        bob.type("welcome carol")
        #expect(carol.message(from: "bob", text: "welcome carol")?["history"] == nil)
    }

    @Test func aDirectMessageReachesOnlyItsRecipient() throws {
        try require()
        let (a, nodeA) = try node("a"), (b, nodeB) = try node("b"), (c, nodeC) = try node("c")
        defer { CLI.stopNode(nodeA); CLI.stopNode(nodeB); CLI.stopNode(nodeC) }
        let alice = try ChatProcess(home: a.home, ["--nick", "alice"])
        defer { alice.quit() }
        let ticketText = try #require(alice.event("ready")?["ticket"] as? String)
        let bob = try ChatProcess(home: b.home, ["--nick", "bob", "--connect", ticketText])
        defer { bob.quit() }
        let carol = try ChatProcess(home: c.home, ["--nick", "carol", "--connect", ticketText])
        defer { carol.quit() }
        let bobDID = try #require(bob.event("ready")?["did"] as? String)
        // Eve runs a bare libp2p peer on the room's topic and records every payload.
        let ticket = try Ticket(parsing: ticketText)
        let eve = Process()
        eve.executableURL = URL(fileURLWithPath: CLI.binary)
        eve.arguments = ["peer", "sub", ChatEnvelope.topic(room: "#general"), "--json", "--timeout", "90",
                         "--connect", "\(ticket.dialAddresses[0])/p2p/\(ticket.peer)", "--home", dir.path + "/eve"]
        let eveOut = Pipe()
        eve.standardOutput = eveOut
        eve.standardError = FileHandle.nullDevice
        eve.standardInput = Pipe()
        try eve.run()
        defer { if eve.isRunning { kill(eve.processIdentifier, SIGKILL) }; eve.waitUntilExit() }
        for other in ["bob", "carol"] {
            #expect(alice.event("joined") { $0["nick"] as? String == other } != nil, "\(other) not seen: \(alice.all)")
        }
        #expect(bob.event("joined") { $0["nick"] as? String == "alice" } != nil)

        alice.type("/msg bob the key is under the mat")
        let got = bob.event("direct") { $0["text"] as? String == "the key is under the mat" }
        #expect(got?["nick"] as? String == "alice", "bob did not get the direct message: \(bob.all)")
        #expect(got?["to"] as? String == bobDID)
        #expect(alice.event("direct", 5) { $0["self"] as? Bool == true } != nil)
        // A later room message reaches carol, so she was listening all along.
        alice.type("now for everyone")
        #expect(carol.message(from: "alice", text: "now for everyone") != nil)
        #expect(!carol.all.contains { ($0["text"] as? String)?.contains("under the mat") == true }, "\(carol.all)")
        #expect(!carol.all.contains { $0["event"] as? String == "direct" })

        // What eve saw: the direct envelope, signed and addressed to bob, its content sealed.
        kill(eve.processIdentifier, SIGKILL)  // ours; it has printed what it saw
        eve.waitUntilExit()
        let lines = String(decoding: eveOut.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
        let envelopes = lines.compactMap { line -> ChatEnvelope? in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let hex = o["data_hex"] as? String,
                  let bytes = PeerPubHex.bytes(hex) else { return nil }
            return try? ChatEnvelope(decoding: bytes)
        }
        let direct = try #require(envelopes.first { $0.kind == .direct }, "eve saw no direct envelope among \(envelopes.count)")
        #expect(direct.to == bobDID)
        #expect(direct.content.count == Array("the key is under the mat".utf8).count + 48)
        let secret = Array("under the mat".utf8)
        #expect(!direct.encoded().indices.contains { i in direct.encoded()[i...].starts(with: secret) })
        #expect(envelopes.contains { $0.kind == .message && $0.text == "now for everyone" })
    }

    @Test func forgedReplayedStaleAndOversizedEnvelopesAreDroppedAndTheRealOneShown() throws {
        try require()
        let (a, nodeA) = try node("a")
        defer { CLI.stopNode(nodeA) }
        let alice = try ChatProcess(home: a.home, ["--nick", "alice"])
        defer { alice.quit() }
        let ready = try #require(alice.event("ready"))
        let ticket = try Ticket(parsing: try #require(ready["ticket"] as? String))
        let target = "\(ticket.dialAddresses[0])/p2p/\(ticket.peer)"

        // Mallory runs her own libp2p peer (a separate home and key) and publishes envelopes.
        let mallory = CLI(home: dir.path + "/mallory")
        _ = try mallory.run(["identity", "show"])
        let key = try Node(home: NodeHome(path: mallory.home)).key
        let did = key.publicKey.did.description
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        func envelope(_ text: String, room: String = "#general", at ts: UInt64? = nil, signer: SigningKey? = nil) -> ChatEnvelope {
            var e = ChatEnvelope(kind: .message, room: room, sender: did, app: "chat", nick: "mallory", timestamp: ts ?? now,
                                 id: (0..<16).map { _ in UInt8.random(in: 0...255) }, content: Array(text.utf8))
            e.signature = (signer ?? key).sign(DIDProvider.statement(capsule: "chat", message: e.signingBytes), in: DIDProvider.signingDomain)
            return e
        }
        func publish(_ bytes: [UInt8], room: String = "#general") throws {
            let hex = bytes.map { String(format: "%02x", $0) }.joined()
            let r = try mallory.run(["peer", "pub", ChatEnvelope.topic(room: room), hex, "--hex", "--connect", target, "--timeout", "60"])
            try #require(r.status == 0, "peer pub: \(r.stderr)")
        }
        // Signed by someone else's key in mallory's name.
        try publish(envelope("forged", signer: SigningKey()).encoded())
        // Made for #general, then replayed as it is into the topic of #random where alice also is.
        alice.type("/join #random")
        #expect(alice.event("info") { ($0["text"] as? String) == "joined #random" } != nil)
        try publish(envelope("replayed").encoded(), room: "#random")
        // Re-timed an hour back.
        try publish(envelope("stale", at: now - 3_600_000).encoded())
        // Over the 4 KiB text limit (with a valid signature).
        try publish(envelope(String(repeating: "x", count: ChatEnvelope.maxText + 1)).encoded())
        // And one real message, which must show.
        try publish(envelope("the real one").encoded())

        #expect(alice.message(from: "mallory", text: "the real one") != nil, "the valid message was not shown: \(alice.all)")
        let dropped = alice.all.filter { $0["event"] as? String == "dropped" }.compactMap { $0["text"] as? String }
        #expect(dropped.contains { $0.contains("signature does not verify") }, "\(dropped)")
        #expect(dropped.contains { $0.contains("another room") }, "\(dropped)")
        #expect(dropped.contains { $0.contains("outside the accepted window") }, "\(dropped)")
        #expect(dropped.contains { $0.contains("at most \(ChatEnvelope.maxText)") }, "\(dropped)")
        let shown = alice.all.filter { $0["event"] as? String == "message" }.compactMap { $0["text"] as? String }
        #expect(shown == ["the real one"])
    }
}

enum PeerPubHex {
    static func bytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < digits.count {
            guard let v = UInt8(String(decoding: digits[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(v)
            i += 2
        }
        return out
    }
}
