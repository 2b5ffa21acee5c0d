#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// What the chat terminal shows, as a value: the rooms and their scrollback, who is in them,
/// the input line. It takes the chat capsule's JSON events (`chat --json`, docs/CHAT.md) and
/// the keys typed, and draws frames of any size; ``ChatTerminal`` does the I/O. Nothing a peer
/// sends reaches the terminal unfiltered (``TerminalText/safe(_:)``).
struct ChatScreen {
    enum Style: Equatable { case plain, dim, bold, reverse, error, own, direct, nick(Int) }

    struct Entry: Equatable {
        enum Kind: Equatable { case message(nick: String, own: Bool, note: String?), direct(nick: String, own: Bool), system, error }
        var kind: Kind
        var time: UInt64  // ms since 1970, 0 when unknown
        var text: String
    }

    struct Member: Equatable { var nick: String; var app: String }

    /// What a key asks of the program around the screen.
    enum Action: Equatable { case send(String), quit }

    static let maxEntries = 2000

    var nick = ""
    var ticket = ""
    var current = ""
    var rooms: [String] = []
    var logs: [String: [Entry]] = [:]
    var members: [String: [String: Member]] = [:]  // room → "did app" → member
    var unread: [String: Int] = [:]
    var peers: Set<String> = []
    var status = ""
    var dropped = 0
    /// Lines scrolled back from the newest, per room (0: following new messages).
    var scroll: [String: Int] = [:]
    var editor = LineEditor()
    var quitting = false
    /// The body height of the last frame: a page for PageUp/PageDown.
    var pageHeight = 10

    // MARK: Events from the capsule

    mutating func apply(_ event: [String: Any]) {
        func s(_ key: String) -> String { TerminalText.safe(event[key] as? String ?? "") }
        let room = s("room")
        switch event["event"] as? String ?? "" {
        case "ready":
            nick = s("nick"); ticket = s("ticket")
            enter(room)
            log(room, .system, "Your ticket (another node joins with `elastos chat --connect <ticket>`):")
            log(room, .system, ticket)
            log(room, .system, "Chat as '\(nick)' on \(room). Enter sends; Tab switches rooms; PgUp/PgDn scroll; /help; Ctrl+C quits.")
        case "rooms":
            rooms = (event["rooms"] as? [String] ?? []).map(TerminalText.safe)
            let now = s("current")
            if !now.isEmpty { enter(now) } else if !rooms.contains(current) { current = rooms.first ?? "" }
        case "nick":
            nick = s("nick")
        case "message":
            let own = event["self"] as? Bool ?? false
            let note: String? = event["stored"] as? Bool == true ? "saved" : event["history"] as? Bool == true ? "earlier" : nil
            if let w = event["warning"] as? String { log(room, .error, "warning: " + TerminalText.safe(w)) }
            log(room, .message(nick: s("nick"), own: own, note: note), s("text"), time: (event["ts"] as? NSNumber)?.uint64Value ?? 0)
            if !own { members[room, default: [:]][s("did") + " " + s("app")] = Member(nick: s("nick"), app: s("app")) }
            if room != current && note == nil { unread[room, default: 0] += 1 }
        case "direct":
            let own = event["self"] as? Bool ?? false
            let peer = own ? nickOf(did: s("to"), in: room) ?? "?" : s("nick")
            log(current.isEmpty ? room : current, .direct(nick: peer, own: own), s("text"), time: (event["ts"] as? NSNumber)?.uint64Value ?? 0)
        case "sent":
            if (event["recipients"] as? NSNumber)?.intValue == 0 { status = "no other node is on \(room) yet: that message reached only this node" }
        case "joined":
            members[room, default: [:]][s("did") + " " + s("app")] = Member(nick: s("nick"), app: s("app"))
            log(room, .system, "\(s("nick")) joined \(room)")
        case "left":
            members[room]?[s("did") + " " + s("app")] = nil
            log(room, .system, "\(s("nick")) left \(room)")
        case "connected", "peer-connected":
            let peer = s("peer")
            if peers.insert(peer).inserted { log(current, .system, "connected to peer \(short(peer))") }
        case "peer-disconnected":
            let peer = s("peer")
            if peers.remove(peer) != nil { log(current, .system, "peer \(short(peer)) went away") }
        case "peers":
            var list: [String: Member] = [:]
            for m in event["members"] as? [[String: Any]] ?? [] {
                let did = TerminalText.safe(m["did"] as? String ?? ""), app = TerminalText.safe(m["app"] as? String ?? "")
                list[did + " " + app] = Member(nick: TerminalText.safe(m["nick"] as? String ?? ""), app: app)
            }
            members[room] = list
            let names = list.values.map(\.nick).sorted()
            log(room, .system, names.isEmpty ? "nobody else has been heard from on \(room) yet" : "on \(room): " + names.joined(separator: ", "))
        case "ticket":
            ticket = s("ticket")
            log(current, .system, "Your ticket: " + ticket)
        case "info":
            let text = s("text")
            if text.hasPrefix("joined #") || text.hasPrefix("left #") { return }  // the rooms list says it
            if text.hasPrefix("you are now '") { nick = String(text.dropFirst(13).dropLast()) }
            log(current, .system, text)
        case "error":
            let text = s("text")
            log(current, .error, text)
            status = text
        case "dropped":
            dropped += 1
            status = "refused \(dropped) message\(dropped == 1 ? "" : "s") (last: \(s("text")))"
        default:
            break
        }
    }

    /// A line from the capsule's standard error (its log): shown, dimmed, in the current room.
    mutating func capsuleLog(_ line: String) {
        log(current, .system, TerminalText.safe(line))
    }

    mutating func enter(_ room: String) {
        guard !room.isEmpty else { return }
        if !rooms.contains(room) { rooms.append(room) }
        current = room
        unread[room] = nil
    }

    mutating func log(_ room: String, _ kind: Entry.Kind, _ text: String, time: UInt64 = 0) {
        let room = room.isEmpty ? current : room
        var entries = logs[room, default: []]
        entries.append(Entry(kind: kind, time: time, text: text))
        if entries.count > Self.maxEntries { entries.removeFirst(entries.count - Self.maxEntries) }
        logs[room] = entries
        // Scrolled back: keep the same lines in view while new ones arrive below.
        if let back = scroll[room], back > 0 { scroll[room] = back + 1 }
    }

    func nickOf(did: String, in room: String) -> String? {
        members[room]?.first { $0.key.hasPrefix(did + " ") }?.value.nick
    }

    func short(_ id: String) -> String { id.count > 14 ? String(id.prefix(8)) + "…" + String(id.suffix(4)) : id }

    // MARK: Keys

    mutating func handle(_ key: TerminalKey) -> [Action] {
        switch key {
        case .control("c"), .control("q"):
            quitting = true
            return [.quit]
        case .tab, .control("n"): return switchRoom(by: 1)
        case .backTab, .control("p"): return switchRoom(by: -1)
        case .pageUp: scroll[current] = (scroll[current] ?? 0) + max(1, pageHeight - 1)
        case .pageDown: scroll[current] = max(0, (scroll[current] ?? 0) - max(1, pageHeight - 1))
        case .control("l"), .escape, .ignored: break
        case .enter:
            guard let line = editor.apply(.enter) else { return [] }
            let trimmed = line.trimmingSpaces
            if trimmed.isEmpty { return [] }
            status = ""
            scroll[current] = 0
            if trimmed == "/quit" || trimmed == "/q" || trimmed == "/exit" {
                quitting = true
                return [.quit]
            }
            if trimmed == "/clear" { logs[current] = []; return [] }
            return [.send(line)]
        default:
            _ = editor.apply(key)
        }
        return []
    }

    mutating func switchRoom(by step: Int) -> [Action] {
        guard rooms.count > 1, let i = rooms.firstIndex(of: current) else { return [] }
        let next = rooms[(i + step + rooms.count) % rooms.count]
        enter(next)
        return [.send("/join " + next)]  // the capsule sends to its current room: keep them one
    }

    // MARK: Drawing

    /// One frame: exactly `rows` strings, each `columns` columns wide once its SGR escapes are
    /// left out, and where the cursor goes (0-based row and column).
    mutating func frame(rows: Int, columns: Int) -> (lines: [String], cursorRow: Int, cursorColumn: Int) {
        guard rows >= 5, columns >= 20 else {
            var first = Row(columns)
            first.add("Make the window larger", .bold)
            var lines = [first.done]
            while lines.count < rows { lines.append(Row(columns).done) }
            return (Array(lines.prefix(max(rows, 0))), 0, 0)
        }
        let bodyHeight = rows - 3
        pageHeight = bodyHeight
        let sideWidth = columns >= 60 ? min(24, columns / 4) : 0
        let messageWidth = columns - (sideWidth > 0 ? sideWidth + 1 : 0)

        var lines: [String] = []
        // Header.
        let room = current.isEmpty ? "(no room)" : current
        let count = members[current]?.count ?? 0
        var header = Row(columns)
        header.add(" elastos chat ", .reverse)
        header.add(" ")
        header.add(nick, .bold)
        header.add("  ")
        header.add(room, .bold)
        header.add("  \(peers.count) peer\(peers.count == 1 ? "" : "s") · \(count) other\(count == 1 ? "" : "s") here", .dim)
        lines.append(header.done)

        // Body: the newest lines that fit, or as far back as scrolled.
        let wrapped = wrappedTail(room: current, width: messageWidth, count: bodyHeight + (scroll[current] ?? 0))
        let back = min(scroll[current] ?? 0, max(0, wrapped.count - bodyHeight))
        scroll[current] = back
        let end = wrapped.count - back
        let visible = Array(wrapped[max(0, end - bodyHeight)..<end])
        let side = sidePanel(height: bodyHeight, width: sideWidth)
        for i in 0..<bodyHeight {
            var row = Row(columns)
            let top = bodyHeight - visible.count  // messages sit at the bottom, like a terminal
            if i >= top { row.add(visible[i - top]) }
            row.pad(to: messageWidth)
            if sideWidth > 0 { row.add("│", .dim); row.add(side[i]) }
            lines.append(row.done)
        }

        // Status bar.
        var bar = Row(columns)
        if back > 0 {
            bar.add(" ↑ \(back) line\(back == 1 ? "" : "s") below — PgDn or send to return ", .reverse)
        } else if !status.isEmpty {
            bar.add(" " + status + " ", .error)
        } else {
            bar.add(" Tab: next room · PgUp/PgDn: scroll · /help · Ctrl+C: quit ", .dim)
        }
        lines.append(bar.done)

        // Input.
        let prompt = "> "
        let (text, cursor) = editor.visible(columns: columns - prompt.count)
        var input = Row(columns)
        input.add(prompt, .bold)
        input.add(text)
        lines.append(input.done)
        return (lines, rows - 1, prompt.count + cursor)
    }

    /// The last `count` wrapped lines of a room's log.
    func wrappedTail(room: String, width: Int, count: Int) -> [[(String, Style)]] {
        var out: [[[(String, Style)]]] = []
        var total = 0
        for entry in (logs[room] ?? []).reversed() {
            let lines = render(entry, width: width)
            out.append(lines)
            total += lines.count
            if total >= count { break }
        }
        return out.reversed().flatMap { $0 }
    }

    func render(_ e: Entry, width: Int) -> [[(String, Style)]] {
        let time = e.time > 0 ? Self.clock(e.time) + " " : ""
        switch e.kind {
        case .system:
            return TerminalText.wrap("* " + e.text, columns: width, indent: 2).map { [($0, .dim)] }
        case .error:
            return TerminalText.wrap("! " + e.text, columns: width, indent: 2).map { [($0, .error)] }
        case .message(let who, let own, let note):
            let head = time + (note.map { "(\($0)) " } ?? "") + "<\(who)> "
            let wrapped = TerminalText.wrap(head + e.text, columns: width, indent: min(TerminalText.width(time) + 2, 12))
            return wrapped.enumerated().map { i, line in
                guard i == 0, line.hasPrefix(head) else { return [(line, .plain)] }
                let nickStart = head.index(head.endIndex, offsetBy: -(who.count + 3))
                return [(String(head[..<nickStart]), .dim), ("<\(who)>", own ? .own : .nick(Self.colour(who))),
                        (" " + String(line.dropFirst(head.count)), .plain)]
            }
        case .direct(let peer, let own):
            let head = time + (own ? "-> *\(peer)* " : "*\(peer)* ")
            return TerminalText.wrap(head + e.text, columns: width, indent: 2).map { [($0, .direct)] }
        }
    }

    func sidePanel(height: Int, width: Int) -> [[(String, Style)]] {
        guard width > 0 else { return Array(repeating: [], count: height) }
        var out: [[(String, Style)]] = [[(" Rooms", .bold)]]
        for r in rooms {
            let n = unread[r] ?? 0
            out.append(r == current ? [(" > " + r, .bold)] : [("   " + r, .plain), (n > 0 ? " (\(n))" : "", .own)])
        }
        out.append([])
        out.append([(" In " + (current.isEmpty ? "no room" : current), .bold)])
        out.append([("   " + nick + " (you)", .own)])
        for m in (members[current] ?? [:]).values.sorted(by: { ($0.nick, $0.app) < ($1.nick, $1.app) }) {
            out.append([("   " + m.nick, .nick(Self.colour(m.nick))), (m.app == "chat" ? "" : " ·" + m.app, .dim)])
        }
        if out.count > height { out = Array(out.prefix(height - 1)) + [[("   …", .dim)]] }
        while out.count < height { out.append([]) }
        return out.map { segments in
            var row = Row(width)
            for (t, s) in segments { row.add(t, s) }
            return row.segments
        }
    }

    /// `HH:MM` in local time.
    static func clock(_ ms: UInt64) -> String {
        var t = time_t(ms / 1000)
        var parts = tm()
        localtime_r(&t, &parts)
        return (parts.tm_hour < 10 ? "0" : "") + "\(parts.tm_hour):" + (parts.tm_min < 10 ? "0" : "") + "\(parts.tm_min)"
    }

    /// A stable colour per nick, so a conversation is easy to follow.
    static func colour(_ nick: String) -> Int {
        var h: UInt32 = 0
        for b in nick.utf8 { h = h &* 31 &+ UInt32(b) }
        return [1, 2, 3, 4, 5, 6][Int(h % 6)]
    }
}

/// One screen row being built: styled segments cut to a width, then padded.
struct Row {
    let columns: Int
    private(set) var segments: [(String, ChatScreen.Style)] = []
    private(set) var used = 0

    init(_ columns: Int) { self.columns = columns }

    mutating func add(_ text: String, _ style: ChatScreen.Style = .plain) {
        guard used < columns else { return }
        var piece = "", w = 0
        for ch in text {
            let cw = TerminalText.width(ch)
            if used + w + cw > columns { break }
            piece.append(ch); w += cw
        }
        if !piece.isEmpty { segments.append((piece, style)); used += w }
    }

    mutating func add(_ segments: [(String, ChatScreen.Style)]) {
        for (t, s) in segments { add(t, s) }
    }

    mutating func pad(to width: Int) {
        if used < width { add(String(repeating: " ", count: width - used)) }
    }

    var plainText: String { segments.map(\.0).joined() }

    /// The row as terminal output: each segment in its SGR style, padded to the full width.
    var done: String {
        var out = ""
        for (text, style) in segments {
            let sgr = Self.sgr(style)
            out += sgr.isEmpty ? text : "\u{1B}[\(sgr)m" + text + "\u{1B}[0m"
        }
        return out + String(repeating: " ", count: max(0, columns - used))
    }

    static func sgr(_ style: ChatScreen.Style) -> String {
        switch style {
        case .plain: ""
        case .dim: "2"
        case .bold: "1"
        case .reverse: "7"
        case .error: "31"
        case .own: "1;32"
        case .direct: "35"
        case .nick(let c): "1;3\(c)"
        }
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
