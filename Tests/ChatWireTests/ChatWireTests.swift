import ChatWire
import DIDWire
import ElastosCore
import ElastosRuntime
import Testing

/// Signs and verifies exactly as the capsules do through the DID provider (the same statement
/// and domain), with real Ed25519 keys.
struct Signer {
    let key = SigningKey()
    let app: String
    var did: String { key.publicKey.did.description }

    func sign(_ e: inout ChatEnvelope) {
        e.signature = key.sign(DIDProvider.statement(capsule: app, message: e.signingBytes), in: DIDProvider.signingDomain)
    }

    func envelope(_ kind: ChatKind = .message, room: String = "#general", nick: String = "alice", text: String = "hello",
                  at ts: UInt64, id: UInt8 = 1) -> ChatEnvelope {
        var e = ChatEnvelope(kind: kind, room: room, sender: did, app: app, nick: nick, timestamp: ts,
                             id: [UInt8](repeating: id, count: 16), content: kind == .message ? Array(text.utf8) : [])
        sign(&e)
        return e
    }

    /// What a receiving capsule's `elastos://did/verify` call answers.
    static func verifies(_ e: ChatEnvelope) -> Bool {
        guard let did = try? DIDKey(e.sender) else { return false }
        return did.publicKey.isValidSignature(e.signature, for: DIDProvider.statement(capsule: e.app, message: e.signingBytes),
                                              in: DIDProvider.signingDomain)
    }
}

@Suite struct ChatWireTests {
    let now: UInt64 = 1_796_000_000_000
    let alice = Signer(app: "chat")

    @Test func envelopesRoundTripAndVerify() throws {
        for kind in [ChatKind.message, .join, .heartbeat, .leave] {
            let e = alice.envelope(kind, at: now)
            let back = try ChatEnvelope(decoding: e.encoded())
            #expect(back == e)
            #expect(Signer.verifies(back))
        }
    }

    @Test func changingAnyFieldBreaksTheSignature() throws {
        let e = alice.envelope(at: now)
        var changes: [ChatEnvelope] = []
        var c = e; c.room = "#random"; changes.append(c)
        c = e; c.nick = "mallory"; changes.append(c)
        c = e; c.timestamp += 1; changes.append(c)
        c = e; c.id[0] ^= 1; changes.append(c)
        c = e; c.content = Array("hellO".utf8); changes.append(c)
        c = e; c.app = "chat-wasm"; changes.append(c)
        c = e; c.kind = .join; c.content = []; changes.append(c)
        c = e; c.sender = Signer(app: "chat").did; changes.append(c)
        for changed in changes { #expect(!Signer.verifies(changed)) }
        // A chat signature is not a signature over the bare bytes, nor a capability token's.
        #expect(!alice.key.publicKey.isValidSignature(e.signature, for: e.signingBytes, in: DIDProvider.signingDomain))
        #expect(!alice.key.publicKey.isValidSignature(e.signature, for: e.signingBytes, in: .capabilityToken))
    }

    @Test func theRoomAcceptsOnlyVerifiedFreshOnceAndForItsOwnName() {
        var room = ChatRoom(name: "#general")
        let e = alice.envelope(at: now)
        #expect(room.receive(e, verified: false, now: now) == .rejected("signature does not verify for \(alice.did)"))
        guard case .show(let shown, nil) = room.receive(e, verified: true, now: now) else { Issue.record("not shown"); return }
        #expect(shown == e)
        #expect(room.receive(e, verified: true, now: now + 10) == .duplicate)
        // Replayed into another room: its signature is fine, but it names #general.
        var other = ChatRoom(name: "#random")
        guard case .rejected(let why) = other.receive(e, verified: true, now: now) else { Issue.record("replay accepted"); return }
        #expect(why.contains("another room"))
        // Re-timed beyond the window, old or from the future.
        var late = ChatRoom(name: "#general")
        guard case .rejected = late.receive(e, verified: true, now: now + ChatRoom.freshness + 1) else { Issue.record("stale accepted"); return }
        guard case .rejected = late.receive(alice.envelope(at: now + ChatRoom.maxClockSkew + 1_000, id: 9), verified: true, now: now) else {
            Issue.record("future accepted"); return
        }
    }

    @Test func extremeTimestampsAreRefusedNotOverflowed() {
        // Found by FuzzChatWire: a timestamp near UInt64.max trapped in the freshness check.
        var room = ChatRoom(name: "#general")
        guard case .rejected = room.receive(alice.envelope(at: .max - 5, id: 1), verified: true, now: now) else { Issue.record("accepted"); return }
        guard case .rejected = room.receive(alice.envelope(at: 0, id: 2), verified: true, now: now) else { Issue.record("accepted"); return }
        guard case .show = room.receive(alice.envelope(at: .max - 5, id: 3), verified: true, now: .max - 5) else { Issue.record("refused"); return }
        #expect(room.expire(now: .max).isEmpty)  // 5 ms later: still present
        var early = ChatRoom(name: "#general")
        guard case .show = early.receive(alice.envelope(at: 10, id: 4), verified: true, now: 10) else { Issue.record("refused at the epoch"); return }
        #expect(early.expire(now: 5).isEmpty)
    }

    @Test func oversizedAndMalformedEnvelopesAreTypedErrors() {
        var big = alice.envelope(at: now)
        big.content = [UInt8](repeating: 65, count: ChatEnvelope.maxText + 1)
        #expect(throws: ChatWireError.invalid(field: "content", reason: "is \(ChatEnvelope.maxText + 1) bytes; at most \(ChatEnvelope.maxText)")) {
            _ = try ChatEnvelope(decoding: big.encoded())
        }
        let good = alice.envelope(at: now).encoded()
        for n in 0..<good.count {
            #expect(throws: ChatWireError.self) { _ = try ChatEnvelope(decoding: Array(good.prefix(n))) }
        }
        #expect(throws: ChatWireError.trailingBytes(1)) { _ = try ChatEnvelope(decoding: good + [0]) }
        #expect(throws: ChatWireError.unsupportedVersion(2)) { _ = try ChatEnvelope(decoding: [2] + good.dropFirst()) }
        var badKind = good
        badKind[1] = 77
        #expect(throws: ChatWireError.unknownKind(77)) { _ = try ChatEnvelope(decoding: badKind) }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<5_000 {
            var bytes = good
            for _ in 0..<Int.random(in: 1...4, using: &rng) { bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            if let e = try? ChatEnvelope(decoding: bytes) { #expect(e.encoded() == bytes) }
        }
    }

    @Test func namesAndNicksFollowTheRules() {
        #expect(ChatRoomName.normalised("General") == "#general")
        #expect(ChatRoomName.normalised("#dev-ops_2") == "#dev-ops_2")
        #expect(ChatRoomName.normalised("#no spaces") == nil)
        #expect(ChatRoomName.normalised("#") == nil)
        #expect(ChatNick.problem("alice") == nil)
        #expect(ChatNick.problem("al ice") != nil)
        #expect(ChatNick.problem("a\u{202E}ecila") != nil)
        #expect(ChatNick.problem(String(repeating: "x", count: 33)) != nil)
        #expect(ChatEnvelope.topic(room: "#general") == "elastos/chat/1/#general")
        #expect(ChatEnvelope.topicURI(room: "#general") == "elastos://peer/topic/elastos%2Fchat%2F1%2F%23general")
    }

    @Test func terminalControlsFromPeersNeverReachTheTerminal() {
        let hostile = "hi\u{1B}]0;owned\u{07}\u{1B}[2J\r\u{202E}gnp.exe\u{9B}31m"
        let safe = ChatText.sanitized(hostile)
        #expect(!safe.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x0D || $0.value == 0x202E || $0.value == 0x9B })
        #expect(safe.hasPrefix("hi\u{FFFD}]0;owned"))
        #expect(ChatText.json("a\"b\\c\n\u{1}") == "\"a\\\"b\\\\c\\n\\u0001\"")
    }

    @Test func aNickBelongsToTheFirstDIDThatUsedIt() {
        var room = ChatRoom(name: "#general")
        let impostor = Signer(app: "chat")
        _ = room.receive(alice.envelope(at: now, id: 1), verified: true, now: now)
        guard case .show(_, let warning?) = room.receive(impostor.envelope(nick: "alice", at: now, id: 2), verified: true, now: now) else {
            Issue.record("no warning for a second DID using the nick"); return
        }
        #expect(warning.contains("first used by"))
        #expect(room.nicks["alice"] == alice.did)
    }

    @Test func aFlooderIsCutOffAndOthersAreNot() {
        var room = ChatRoom(name: "#general")
        let flooder = Signer(app: "chat")
        var shown = 0, refused = 0
        for i in 0..<100 {
            var e = flooder.envelope(nick: "flood", at: now, id: 0)
            e.id = [UInt8(i), 0xF0] + [UInt8](repeating: 0, count: 14)
            flooder.sign(&e)
            if case .show = room.receive(e, verified: true, now: now) { shown += 1 } else { refused += 1 }
        }
        #expect(shown == Int(ChatRoom.burst))
        #expect(refused == 100 - Int(ChatRoom.burst))
        guard case .show = room.receive(alice.envelope(at: now, id: 7), verified: true, now: now) else { Issue.record("alice was limited too"); return }
        // A second later the flooder may send five more.
        var later = 0
        for i in 0..<10 {
            var e = flooder.envelope(nick: "flood", at: now, id: 0)
            e.id = [UInt8(i), 0xF1] + [UInt8](repeating: 0, count: 14)
            if case .show = room.receive(e, verified: true, now: now + 1000) { later += 1 }
        }
        #expect(later == Int(ChatRoom.perSecond))
    }

    @Test func presenceJoinsRefreshesLeavesAndExpires() {
        var room = ChatRoom(name: "#general")
        let bob = Signer(app: "chat-wasm")
        guard case .joined(let m) = room.receive(bob.envelope(.join, nick: "bob", at: now, id: 1), verified: true, now: now) else {
            Issue.record("no join"); return
        }
        #expect(m.nick == "bob" && m.app == "chat-wasm")
        #expect(room.receive(bob.envelope(.heartbeat, nick: "bob", at: now + 1, id: 2), verified: true, now: now + 1) == .refreshed)
        #expect(room.expire(now: now + 10_000).isEmpty)
        #expect(room.expire(now: now + 1 + ChatRoom.presenceTTL + 1).map(\.nick) == ["bob"])
        _ = room.receive(bob.envelope(.join, nick: "bob", at: now + 50_000, id: 3), verified: true, now: now + 50_000)
        guard case .left = room.receive(bob.envelope(.leave, nick: "bob", at: now + 50_001, id: 4), verified: true, now: now + 50_001) else {
            Issue.record("no leave"); return
        }
        #expect(room.members.isEmpty)
    }

    @Test func historyIsOrderedByTimeThenIdWhateverTheArrivalOrder() {
        var room = ChatRoom(name: "#general")
        let arrivals: [(UInt64, UInt8)] = [(30, 1), (10, 9), (20, 5), (10, 2), (20, 4)]
        for (t, id) in arrivals { _ = room.receive(alice.envelope(at: now + t, id: id), verified: true, now: now + 100) }
        #expect(room.history.map { [UInt8]([UInt8($0.timestamp - now), $0.id[0]]) } == [[10, 2], [10, 9], [20, 4], [20, 5], [30, 1]])
    }

    @Test func historyAnswersCarryTheNewestSignedMessagesAndAreCheckedOneByOne() throws {
        var source = ChatRoom(name: "#general")
        // A second apart, inside the rate limit.
        for i in 0..<60 { _ = source.receive(alice.envelope(text: "m\(i)", at: now + UInt64(i) * 1000, id: UInt8(i)), verified: true, now: now + UInt64(i) * 1000) }
        let content = ChatHistory.encode(source.history)
        let inner = try ChatHistory.decode(content)
        #expect(inner.count == ChatHistory.maxMessages)
        #expect(inner.map(\.text) == (10..<60).map { "m\($0)" })  // the newest 50, oldest first
        #expect(inner.allSatisfy(Signer.verifies))
        var late = ChatRoom(name: "#general")
        var shown = 0
        for e in inner { if case .show = late.receiveHistorical(e, verified: Signer.verifies(e)) { shown += 1 } }
        #expect(shown == 50)
        #expect(late.receiveHistorical(inner[0], verified: true) == .duplicate)
        // Forged, foreign-room and non-message entries are refused; old age is not a reason.
        var forged = alice.envelope(text: "forged", at: now - 86_400_000, id: 200)
        forged.content = Array("changed".utf8)
        guard case .rejected = late.receiveHistorical(forged, verified: Signer.verifies(forged)) else { Issue.record("forged accepted"); return }
        let old = alice.envelope(text: "a day ago", at: now - 86_400_000, id: 201)
        guard case .show = late.receiveHistorical(old, verified: Signer.verifies(old)) else { Issue.record("old refused"); return }
        guard case .rejected = late.receiveHistorical(alice.envelope(room: "#random", at: now, id: 202), verified: true) else { Issue.record("foreign accepted"); return }
        // An answer holding presence instead of messages does not decode.
        var w: [UInt8] = [0, 1]
        let join = alice.envelope(.join, at: now, id: 203).encoded()
        w += [UInt8(join.count >> 24), UInt8((join.count >> 16) & 0xFF), UInt8((join.count >> 8) & 0xFF), UInt8(join.count & 0xFF)] + join
        #expect(throws: ChatWireError.self) { _ = try ChatHistory.decode(w) }
        #expect(throws: ChatWireError.self) { _ = try ChatHistory.decode([0xFF, 0xFF]) }
        #expect(throws: ChatWireError.self) { _ = try ChatHistory.decode(content + [0]) }
    }

    @Test func aSavedHistoryKeepsTheNewest500AndEveryTruncationIsATypedError() throws {
        var room = ChatRoom(name: "#general")
        for i in 0..<520 {
            var e = alice.envelope(text: "m\(i)", at: now + UInt64(i), id: 0)
            e.id = [UInt8(i & 0xFF), UInt8(i >> 8)] + [UInt8](repeating: 7, count: 14)
            alice.sign(&e)
            room.sent(e)
        }
        let saved = ChatArchive.encode(room.history)
        #expect(saved.starts(with: ChatArchive.magic))
        let kept = try ChatArchive.decode(saved)
        #expect(kept.count == ChatArchive.maxMessages)
        #expect(kept.first?.text == "m20" && kept.last?.text == "m519")
        #expect(kept.allSatisfy(Signer.verifies))
        #expect(ChatArchive.encode(kept) == saved)
        // A history answer is not an archive (no header), nor the reverse.
        #expect(throws: ChatWireError.self) { _ = try ChatArchive.decode(ChatHistory.encode(room.history)) }
        #expect(throws: ChatWireError.self) { _ = try ChatHistory.decode(saved) }
        let small = ChatArchive.encode(Array(room.history.suffix(3)))
        for n in 0..<small.count { #expect(throws: ChatWireError.self) { _ = try ChatArchive.decode(Array(small.prefix(n))) } }
        #expect(throws: ChatWireError.self) { _ = try ChatArchive.decode(small + [0]) }
        #expect(try ChatArchive.decode(ChatArchive.encode([])).isEmpty)
    }
}
