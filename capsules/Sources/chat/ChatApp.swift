import CapsuleWire
import ChatWire
import DIDWire
import ElastosGuest
import PeerWire

/// One chat client: its rooms, its tokens, the loop that waits on both the runtime's events and
/// the keyboard.
struct ChatApp {
    var nick: String
    let json: Bool
    var current: String
    /// Joined rooms by name, and which subscription feeds each.
    var rooms: [String: ChatRoom] = [:]
    var joinOrder: [String] = []
    var roomOfSubscription: [UInt32: String] = [:]
    var subscriptionOfRoom: [String: UInt32] = [:]
    var peerToken: [UInt8] = []
    var didToken: [UInt8] = []
    var me = PeerSelf(peer: "", did: "", ticket: "", addresses: [])
    /// Our capsule's name: the DID provider binds our signatures to it.
    var appName = "chat"
    /// Ids of envelopes we sent, so their local echo is not shown twice.
    var mine: Set<[UInt8]> = []
    /// When presence goes out next: soon after joining or a new peer (their subscription
    /// may not have reached us in time for the first one), then every heartbeat interval.
    var nextPresence: UInt64 = 0
    var quickPresences = 0
    var running = true
    /// Rooms whose history we have asked for (once, when someone else is first heard there).
    var historyAsked: Set<String> = []
    /// History answers we owe: to whom, in which room, when (a random short delay, so that when
    /// several members could answer, most see an earlier answer and stay quiet).
    var owedHistory: [(room: String, to: String, due: UInt64)] = []
    let connect: [String]
    let firstRoom: String
    /// `localhost://storage/apps/<app>/*`, where each room's history is kept between runs
    /// (empty if storage was not granted: the chat then keeps nothing).
    var storageToken: [UInt8] = []
    /// Rooms whose history changed since it was last saved, and when saving is due.
    var unsaved: Set<String> = []
    var nextSave: UInt64 = 0

    init(options: Options) {
        nick = options.nick
        json = options.json
        current = options.room
        firstRoom = options.room
        connect = options.connect
    }

    mutating func run() {
        start()
        while running {
            do throws(GuestError) {
                // One wait for events and typing; at least every 250 ms for housekeeping.
                if let event = try Runtime.nextEvent(timeoutMilliseconds: 250, wakeOnInput: true) {
                    handle(event)
                    continue
                }
            } catch {
                report(error: "the runtime connection failed: \(error.description)")
                Capsule.exit(1)
            }
            while running && Console.inputReady(timeoutMilliseconds: 0) {
                guard let line = Console.readLine() else { quit(); break }
                input(line)
            }
            tick()
        }
        Capsule.exit(0)
    }

    // MARK: Start

    mutating func start() {
        do throws(GuestError) {
            let info = try Runtime.info()
            appName = info.capsule ?? "chat"
            peerToken = try Runtime.requestCapability(uri: "elastos://peer/*", actions: ActionSet([.read, .write, .execute]),
                                                      reason: "chat: join rooms, send and receive messages over Carrier")
            didToken = try Runtime.requestCapability(uri: "elastos://did/*", actions: ActionSet([.read, .execute]),
                                                     reason: "chat: sign your messages with your DID and check others'")
            me = try PeerSelf(decodingReply: Runtime.call(uri: "elastos://peer/self", action: .read, token: peerToken))
        } catch {
            report(error: "cannot start: \(error.description)")
            Capsule.exit(1)
        }
        do throws(GuestError) {
            storageToken = try Runtime.requestCapability(uri: "localhost://storage/apps/\(appName)/*", actions: ActionSet([.read, .write]),
                                                         reason: "chat: keep your rooms' history between runs")
        } catch {
            info("history will not be kept between runs: \(error.description)")
        }
        for target in connect { connectTo(target) }
        _ = subscribeToPeers()
        join(firstRoom)
        if json {
            emit("{\"event\":\"ready\",\"nick\":\(ChatText.json(nick)),\"room\":\(ChatText.json(current)),\"did\":\(ChatText.json(me.did)),"
                 + "\"peer\":\(ChatText.json(me.peer)),\"app\":\(ChatText.json(appName)),\"ticket\":\(ChatText.json(me.ticket))}")
        } else {
            emit("Your ticket (others join with `elastos chat --connect <ticket>`):\n  \(me.ticket)")
            emit("Chat as '\(nick)' on \(current). Type a message and press Enter; /help lists commands.")
        }
    }

    mutating func subscribeToPeers() -> Bool {
        do throws(GuestError) {
            _ = try Runtime.subscribe(uri: "elastos://peer/peers", token: peerToken)
            return true
        } catch {
            report(error: "cannot watch peers: \(error.description)")
            return false
        }
    }

    // MARK: Rooms

    mutating func join(_ name: String) {
        guard rooms[name] == nil else { current = name; roomsChanged(); return }
        do throws(GuestError) {
            let s = try Runtime.subscribe(uri: ChatEnvelope.topicURI(room: name), token: peerToken)
            rooms[name] = ChatRoom(name: name)
            joinOrder.removeAll { $0 == name }
            joinOrder.append(name)
            roomOfSubscription[s] = name
            subscriptionOfRoom[name] = s
            current = name
            loadHistory(name)
            publish(.join, in: name, content: [])
            quickPresences = 0
            nextPresence = Capsule.wallClockMilliseconds() + 500
            info("joined \(name)")
            roomsChanged()
        } catch {
            report(error: "cannot join \(name): \(error.description)")
        }
    }

    mutating func part(_ name: String) {
        guard let s = subscriptionOfRoom[name] else { report(error: "not in \(name)"); return }
        publish(.leave, in: name, content: [])
        save(name)
        try? Runtime.unsubscribe(s)
        rooms[name] = nil
        roomOfSubscription[s] = nil
        subscriptionOfRoom[name] = nil
        info("left \(name)")
        if current == name { current = rooms.keys.sorted().first ?? "" }
        roomsChanged()
    }

    /// For --json readers (the full-screen terminal among them): the rooms joined, in the order
    /// joined, and the current one.
    func roomsChanged() {
        guard json else { return }
        let list = joinOrder.filter { rooms[$0] != nil }.map(ChatText.json).joined(separator: ",")
        emit("{\"event\":\"rooms\",\"current\":\(ChatText.json(current)),\"rooms\":[\(list)]}")
    }

    // MARK: Sending

    /// Signs and publishes one envelope; returns it (nil if it could not be sent).
    @discardableResult
    mutating func publish(_ kind: ChatKind, in room: String, content: [UInt8], to: String = "", id: [UInt8]? = nil) -> ChatEnvelope? {
        var e = ChatEnvelope(kind: kind, room: room, sender: me.did, app: appName, nick: nick, to: to,
                             timestamp: Capsule.wallClockMilliseconds(), id: id ?? Capsule.randomBytes(ChatEnvelope.idLength), content: content)
        do throws(GuestError) {
            e.signature = try Runtime.call(uri: "elastos://did/self/sign", action: .execute, token: didToken, body: e.signingBytes)
            mine.insert(e.id)
            rooms[room]?.sent(e)
            let reply = try Runtime.call(uri: ChatEnvelope.topicURI(room: room), action: .write, token: peerToken, body: e.encoded())
            if kind == .message {
                let recipients = (try? PeerPublished(decoding: reply))?.recipients ?? 0
                if json {
                    emit("{\"event\":\"sent\",\"room\":\(ChatText.json(room)),\"id\":\"\(ChatText.hex(e.id))\",\"ts\":\(e.timestamp),\"recipients\":\(recipients)}")
                } else if recipients == 0 {
                    info("no other node is on \(room) yet: the message reached only this node")
                }
            }
            return e
        } catch {
            report(error: "cannot send on \(room): \(error.description)")
            return nil
        }
    }

    mutating func say(_ text: String) {
        guard !current.isEmpty else { report(error: "join a room first: /join #general"); return }
        let bytes = Array(text.utf8)
        guard bytes.count <= ChatEnvelope.maxText else { report(error: "a message may be at most \(ChatEnvelope.maxText) bytes"); return }
        guard let e = publish(.message, in: current, content: bytes) else { return }
        show(e, own: true, warning: nil)
    }

    /// `/msg nick text`: sealed to the DID that nick belongs to (HPKE through the DID provider),
    /// signed like any envelope, and published on the current room's topic, where everyone
    /// relays it and only the recipient's node can open it.
    mutating func direct(_ rest: String) {
        let parts = rest.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2 else { report(error: "usage: /msg NICK TEXT"); return }
        let target = String(parts[0]), text = String(parts[1])
        guard !current.isEmpty, let state = rooms[current] else { report(error: "join a room first: /join #general"); return }
        guard let did = state.nicks[target] else {
            report(error: "nobody called '\(target)' has been heard from on \(current); they must join or speak first")
            return
        }
        let bytes = Array(text.utf8)
        guard bytes.count <= ChatEnvelope.maxText else { report(error: "a message may be at most \(ChatEnvelope.maxText) bytes"); return }
        let id = Capsule.randomBytes(ChatEnvelope.idLength)
        let aad = ChatEnvelope.directAAD(room: current, sender: me.did, to: did, id: id)
        let sealed: [UInt8]
        do throws(GuestError) {
            sealed = try Runtime.call(uri: "elastos://did/seal", action: .read, token: didToken,
                                      body: DIDSealRequest(recipient: did, aad: aad, plaintext: bytes).encoded())
        } catch {
            report(error: "cannot seal to \(target): \(error.description)")
            return
        }
        guard let e = publish(.direct, in: current, content: sealed, to: did, id: id) else { return }
        showDirect(e, text: text, own: true, peer: target)
    }

    // MARK: Receiving

    mutating func handle(_ event: Event) {
        let decoded: PeerEvent
        do throws(PeerWireError) { decoded = try PeerEvent(decoding: event.body) } catch {
            report(error: "a malformed event from the runtime: \(error.description)")
            return
        }
        switch decoded {
        case .message(_, _, let data, _):
            guard let room = roomOfSubscription[event.subscription] else { return }
            receive(data, room: room)
        case .peerConnected(let peer):
            quickPresences = 0
            nextPresence = min(nextPresence, Capsule.wallClockMilliseconds() + 300)
            if json { emit("{\"event\":\"peer-connected\",\"peer\":\(ChatText.json(peer))}") } else { info("connected to peer \(ChatRoom.short(peer))") }
        case .peerDisconnected(let peer):
            if json { emit("{\"event\":\"peer-disconnected\",\"peer\":\(ChatText.json(peer))}") } else { info("peer \(ChatRoom.short(peer)) went away") }
        case .lost(let count):
            report(error: "\(count) events were lost while this chat was busy")
        }
    }

    mutating func receive(_ data: [UInt8], room: String) {
        let e: ChatEnvelope
        do throws(ChatWireError) { e = try ChatEnvelope(decoding: data) } catch {
            drop("a malformed envelope on \(room): \(error.description)")
            return
        }
        if mine.contains(e.id) { return }  // our own, echoed back by the runtime
        let verified = verify(e)
        guard var state = rooms[room] else { return }
        let outcome = state.receive(e, verified: verified, now: Capsule.wallClockMilliseconds())
        rooms[room] = state
        switch outcome {
        case .show(let message, let warning) where message.kind == .direct:
            // Everyone on the topic relays it; only the recipient's node can open it.
            guard message.to == me.did else { return }
            guard let text = open(message) else {
                drop("a direct message from \(ChatRoom.short(message.sender)) does not open with this node's key")
                return
            }
            if let warning { info("warning: " + ChatText.sanitized(warning)) }
            showDirect(message, text: text, own: false, peer: message.nick)
        case .show(let message, let warning):
            show(message, own: false, warning: warning)
        case .historyRequested(let m):
            guard m.did != me.did || m.app != appName, !(state.history.isEmpty) else { break }
            if !owedHistory.contains(where: { $0.room == room && $0.to == m.did }) {
                owedHistory.append((room, m.did, Capsule.wallClockMilliseconds() + 50 + UInt64(Capsule.randomBytes(1)[0]) * 2))
            }
        case .history(let answer):
            // Someone answered this requester: ours is not needed any more.
            owedHistory.removeAll { $0.room == room && $0.to == answer.to }
            guard answer.to == me.did else { break }
            takeHistory(answer, room: room)
        case .joined(let m):
            if !historyAsked.contains(room) {
                historyAsked.insert(room)
                publish(.historyRequest, in: room, content: [])
            }
            // A newcomer learns who is here from our presence, soon rather than at the next heartbeat.
            if e.kind == .join { nextPresence = min(nextPresence, Capsule.wallClockMilliseconds() + 100 + UInt64(Capsule.randomBytes(1)[0]) * 2) }
            if json { emit(memberJSON("joined", m, room)) } else { info("\(ChatText.sanitized(m.nick)) joined \(room)") }
        case .left(let m):
            if json { emit(memberJSON("left", m, room)) } else { info("\(ChatText.sanitized(m.nick)) left \(room)") }
        case .refreshed, .duplicate:
            break
        case .rejected(let why):
            drop("refused a message on \(room) from \(ChatRoom.short(e.sender)): \(why)")
        }
    }

    /// Shows the messages of a history answer meant for us, each checked against its own
    /// author's signature, in time order, skipping what we have seen.
    mutating func takeHistory(_ answer: ChatEnvelope, room: String) {
        let inner: [ChatEnvelope]
        do throws(ChatWireError) { inner = try ChatHistory.decode(answer.content) } catch {
            drop("a malformed history answer from \(ChatRoom.short(answer.sender)): \(error.description)")
            return
        }
        for e in inner.sorted(by: ChatRoom.before) {
            let verified = verify(e)
            guard var state = rooms[room] else { return }
            let outcome = state.receiveHistorical(e, verified: verified)
            rooms[room] = state
            switch outcome {
            case .show(let message, let warning): show(message, own: message.sender == me.did && message.app == appName, warning: warning, earlier: true)
            case .rejected(let why): drop("refused a relayed message from \(ChatRoom.short(e.sender)): \(why)")
            default: break
            }
        }
    }

    /// Opens a direct message sealed to this node's DID (the DID provider holds the key).
    func open(_ e: ChatEnvelope) -> String? {
        let request = DIDOpenRequest(aad: e.directAAD, sealed: e.content)
        guard let plain = try? Runtime.call(uri: "elastos://did/self/open", action: .execute, token: didToken, body: request.encoded()),
              let text = String(validating: plain, as: UTF8.self), !plain.isEmpty, plain.count <= ChatEnvelope.maxText else { return nil }
        return ChatText.sanitized(text)
    }

    /// Asks the DID provider whether the sender's DID signed this envelope (for its app).
    func verify(_ e: ChatEnvelope) -> Bool {
        let request = DIDVerifyRequest(did: e.sender, capsule: e.app, message: e.signingBytes, signature: e.signature)
        guard let reply = try? Runtime.call(uri: "elastos://did/verify", action: .read, token: didToken, body: request.encoded()) else { return false }
        return reply == [1]
    }

    // MARK: History kept in storage

    func archiveURI(_ room: String) -> String {
        "localhost://storage/apps/\(appName)/history/\(room.dropFirst()).chat"
    }

    /// Shows what was kept of the room from earlier runs. Every message is checked against its
    /// author's signature again: storage is this node's, but the messages are other people's.
    mutating func loadHistory(_ room: String) {
        guard !storageToken.isEmpty else { return }
        let bytes: [UInt8]
        do throws(GuestError) {
            bytes = try Runtime.call(uri: archiveURI(room), action: .read, token: storageToken)
        } catch {
            if case .refused(let code, _) = error, code == .notFound { return }
            report(error: "cannot load the history of \(room): \(error.description)")
            return
        }
        let kept: [ChatEnvelope]
        do throws(ChatWireError) { kept = try ChatArchive.decode(bytes) } catch {
            report(error: "the saved history of \(room) is unreadable (\(error.description)); it will be replaced")
            return
        }
        for e in kept {
            let verified = verify(e)
            guard var state = rooms[room] else { return }
            let outcome = state.receiveHistorical(e, verified: verified)
            rooms[room] = state
            switch outcome {
            case .show(let message, let warning):
                show(message, own: message.sender == me.did && message.app == appName, warning: warning, earlier: true, stored: true)
            case .rejected(let why): drop("refused a saved message on \(room): \(why)")
            default: break
            }
        }
    }

    /// Replaces the room's saved history with its newest messages (the storage provider's
    /// writes are atomic: a crash leaves the old or the new file).
    mutating func save(_ room: String) {
        unsaved.remove(room)
        guard !storageToken.isEmpty, let state = rooms[room], !state.history.isEmpty else { return }
        do throws(GuestError) {
            _ = try Runtime.call(uri: archiveURI(room), action: .write, token: storageToken,
                                 body: Array("put\n".utf8) + ChatArchive.encode(state.history))
        } catch {
            report(error: "cannot save the history of \(room): \(error.description)")
        }
    }

    // MARK: Housekeeping

    mutating func tick() {
        let now = Capsule.wallClockMilliseconds()
        if !unsaved.isEmpty && now >= nextSave {
            for name in unsaved.sorted() { save(name) }
            nextSave = now + 1000  // at most one write per room a second, however busy the room
        }
        let due = owedHistory.filter { $0.due <= now }
        owedHistory.removeAll { $0.due <= now }
        for owed in due {
            guard let state = rooms[owed.room], !state.history.isEmpty else { continue }
            publish(.history, in: owed.room, content: ChatHistory.encode(state.history), to: owed.to)
        }
        guard now >= nextPresence else { return }
        quickPresences += 1
        nextPresence = now + (quickPresences < 4 ? 700 * UInt64(quickPresences) : ChatRoom.heartbeatInterval)
        for name in rooms.keys.sorted() {
            publish(.heartbeat, in: name, content: [])
            guard var state = rooms[name] else { continue }
            let gone = state.expire(now: now)
            rooms[name] = state
            for m in gone {
                if json { emit(memberJSON("left", m, name)) } else { info("\(ChatText.sanitized(m.nick)) is gone from \(name) (not heard from)") }
            }
        }
    }

    mutating func quit() {
        for name in rooms.keys.sorted() { publish(.leave, in: name, content: []) }
        for name in unsaved.sorted() { save(name) }
        running = false
    }

    // MARK: Commands

    mutating func input(_ line: String) {
        guard line.hasPrefix("/") else {
            if !line.isEmpty { say(line) }
            return
        }
        let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        let command = parts.first.map(String.init) ?? ""
        let rest = parts.count > 1 ? String(parts[1]) : ""
        switch command {
        case "/quit", "/q": quit()
        case "/help": help()
        case "/nick":
            if let why = ChatNick.problem(rest) {
                report(error: "/nick \(rest): \(why)")
            } else {
                nick = rest
                if json { emit("{\"event\":\"nick\",\"nick\":\(ChatText.json(nick))}") }
                info("you are now '\(rest)'")
            }
        case "/join":
            if let room = ChatRoomName.normalised(rest) { join(room) } else { report(error: "/join \(rest): " + (ChatRoomName.problem(rest) ?? "invalid room")) }
        case "/part":
            part(rest.isEmpty ? current : (ChatRoomName.normalised(rest) ?? rest))
        case "/rooms":
            info("rooms: " + rooms.keys.sorted().joined(separator: " ") + " (current \(current))")
        case "/peers": peers()
        case "/ticket":
            if json { emit("{\"event\":\"ticket\",\"ticket\":\(ChatText.json(me.ticket))}") } else { emit("Your ticket: \(me.ticket)") }
        case "/connect": connectTo(rest)
        case "/msg": direct(rest)
        default: report(error: "unknown command \(command); /help lists them")
        }
    }

    mutating func connectTo(_ target: String) {
        let text = String(target.split(separator: " ", omittingEmptySubsequences: true).first ?? "")
        guard !text.isEmpty else { report(error: "/connect needs a ticket"); return }
        do throws(GuestError) {
            let reply = try Runtime.call(uri: "elastos://peer/connect", action: .execute, token: peerToken, body: Array(text.utf8))
            let peer = (try? PeerList(decoding: reply))?.peers.first?.peer ?? "?"
            if json { emit("{\"event\":\"connected\",\"peer\":\(ChatText.json(peer))}") } else { info("connected to \(ChatRoom.short(peer))") }
        } catch {
            report(error: "cannot connect: \(error.description)")
        }
    }

    func peers() {
        guard let state = rooms[current] else { report(error: "not in a room"); return }
        let members = state.members.values.sorted { $0.nick < $1.nick }
        if json {
            let list = members.map { "{\"nick\":\(ChatText.json($0.nick)),\"did\":\(ChatText.json($0.did)),\"app\":\(ChatText.json($0.app))}" }
            emit("{\"event\":\"peers\",\"room\":\(ChatText.json(current)),\"members\":[\(list.joined(separator: ","))]}")
        } else if members.isEmpty {
            info("nobody else has been heard from on \(current) yet")
        } else {
            info("on \(current): " + members.map { "\(ChatText.sanitized($0.nick)) (\(ChatRoom.short($0.did)), \($0.app))" }.joined(separator: ", "))
        }
    }

    func help() {
        let lines = [
            "/join #room   join a room (and make it current)", "/part [#room] leave a room",
            "/rooms        the rooms you are in", "/nick NAME    change your nick",
            "/peers        who is in the current room", "/ticket       your ticket, for others to --connect",
            "/connect T    connect to a peer by its ticket", "/msg NICK T   a direct message, end-to-end encrypted to NICK's DID",
            "/quit         leave every room and exit",
        ]
        for l in lines { info(l) }
    }

    // MARK: Output

    mutating func show(_ e: ChatEnvelope, own: Bool, warning: String?, earlier: Bool = false, stored: Bool = false) {
        if !stored { unsaved.insert(e.room) }
        if json {
            var line = "{\"event\":\"message\",\"room\":\(ChatText.json(e.room)),\"nick\":\(ChatText.json(e.nick)),\"did\":\(ChatText.json(e.sender)),"
                + "\"app\":\(ChatText.json(e.app)),\"ts\":\(e.timestamp),\"id\":\"\(ChatText.hex(e.id))\",\"text\":\(ChatText.json(e.text)),\"self\":\(own)"
            if earlier { line += ",\"history\":true" }
            if stored { line += ",\"stored\":true" }
            if let warning { line += ",\"warning\":\(ChatText.json(warning))" }
            emit(line + "}")
        } else {
            if let warning { info("warning: " + ChatText.sanitized(warning)) }
            let prefix = (stored ? "(saved) " : earlier ? "(earlier) " : "") + (rooms.count > 1 ? "[\(e.room)] " : "")
            emit(prefix + "<\(ChatText.sanitized(e.nick))> " + e.text)
        }
    }

    func showDirect(_ e: ChatEnvelope, text: String, own: Bool, peer: String) {
        if json {
            emit("{\"event\":\"direct\",\"room\":\(ChatText.json(e.room)),\"nick\":\(ChatText.json(e.nick)),\"did\":\(ChatText.json(e.sender)),"
                 + "\"to\":\(ChatText.json(e.to)),\"app\":\(ChatText.json(e.app)),\"ts\":\(e.timestamp),\"id\":\"\(ChatText.hex(e.id))\",\"text\":\(ChatText.json(text)),\"self\":\(own)}")
        } else {
            emit(own ? "-> *\(ChatText.sanitized(peer))* \(text)" : "*\(ChatText.sanitized(peer))* \(text)")
        }
    }

    func memberJSON(_ event: String, _ m: ChatMember, _ room: String) -> String {
        "{\"event\":\"\(event)\",\"room\":\(ChatText.json(room)),\"nick\":\(ChatText.json(m.nick)),\"did\":\(ChatText.json(m.did)),\"app\":\(ChatText.json(m.app))}"
    }

    func info(_ text: String) {
        if json { emit("{\"event\":\"info\",\"text\":\(ChatText.json(text))}") } else { emit("* " + text) }
    }

    func report(error text: String) {
        if json { emit("{\"event\":\"error\",\"text\":\(ChatText.json(text))}") } else { emit("! " + text) }
    }

    /// A refused envelope: said on stderr (the runtime's log for this capsule), never shown as chat.
    func drop(_ text: String) {
        if json { emit("{\"event\":\"dropped\",\"text\":\(ChatText.json(text))}") } else { Console.log("chat: " + text) }
    }

    func emit(_ line: String) { Console.writeLine(line) }
}

extension PeerSelf {
    init(decodingReply body: [UInt8]) throws(GuestError) {
        do throws(PeerWireError) { try self.init(decoding: body) } catch {
            throw .unexpectedReply("elastos://peer/self: \(error.description)")
        }
    }
}
