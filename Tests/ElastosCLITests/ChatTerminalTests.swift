@testable import ElastosCLI
import Testing

/// The full-screen chat's parts that need no terminal: key decoding, text width and wrapping,
/// the input line, and frames drawn from capsule events.
@Suite struct ChatTerminalTests {
    @Test func keysDecodeFromWhatTerminalsSend() {
        var d = TerminalKeyDecoder()
        #expect(d.feed(Array("hé".utf8)) == [.text("h"), .text("é")])
        #expect(d.feed([0x1B, 0x5B, 0x41, 0x1B, 0x4F, 0x48, 0x0D, 0x7F, 0x09, 0x1B, 0x5B, 0x5A]) == [.up, .home, .enter, .backspace, .tab, .backTab])
        #expect(d.feed(Array("\u{1B}[5~\u{1B}[6~\u{1B}[3~\u{1B}[1;5C".utf8)) == [.pageUp, .pageDown, .delete, .right])
        #expect(d.feed([0x03, 0x01, 0x17]) == [.control("c"), .control("a"), .control("w")])
        // Split across reads: nothing until the rest comes.
        #expect(d.feed([0x1B, 0x5B]) == [])
        #expect(d.hasPending)
        #expect(d.feed([0x44]) == [.left])
        #expect(d.feed([0xE2, 0x82]) == [])
        #expect(d.feed([0xAC]) == [.text("€")])
        // A lone Esc shows only when the terminal goes quiet.
        #expect(d.feed([0x1B]) == [])
        #expect(d.flushPending() == [.escape])
        // Garbage never traps and never becomes a control key.
        #expect(d.feed([0xFF, 0xC0, 0x80]).allSatisfy { if case .text = $0 { true } else { false } })
        var long: [UInt8] = [0x1B, 0x5B] + Array(repeating: 0x31, count: 100) + [0x7E]
        long += Array("x".utf8)
        #expect(d.feed(long).last == .text("x"))
    }

    @Test func randomBytesNeverTrapTheDecoder() {
        var rng = SystemRandomNumberGenerator()
        var d = TerminalKeyDecoder()
        for _ in 0..<2000 {
            let n = Int.random(in: 0...12, using: &rng)
            _ = d.feed((0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) })
            if Bool.random(using: &rng) { _ = d.flushPending() }
        }
    }

    @Test func peerTextCannotControlTheTerminal() {
        let hostile = "hi\u{1B}[2J\u{1B}]0;owned\u{07}\u{9B}31m\u{202E}evil\r\n"
        let safe = TerminalText.safe(hostile)
        #expect(!safe.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0.value == 0x202E })
        #expect(safe.hasPrefix("hi"))
        var screen = ChatScreen()
        screen.apply(["event": "ready", "nick": "alice", "room": "#general", "ticket": "t"])
        screen.apply(["event": "message", "room": "#general", "nick": "m\u{1B}[31allory", "text": hostile, "self": false, "did": "did:key:z", "app": "chat"])
        let frame = screen.frame(rows: 12, columns: 80)
        // The only escapes in the frame are the SGR styles the screen itself writes.
        for line in frame.lines {
            var rest = Substring(line)
            while let esc = rest.firstIndex(of: "\u{1B}") {
                let after = rest[rest.index(after: esc)...]
                #expect(after.hasPrefix("["))
                let body = after.dropFirst().prefix { $0 != "m" }
                #expect(body.allSatisfy { $0.isNumber || $0 == ";" }, "unexpected escape in \(line.debugDescription)")
                rest = after.dropFirst()
            }
        }
    }

    @Test func widthsAndWrapping() {
        #expect(TerminalText.width("abc") == 3)
        #expect(TerminalText.width("日本") == 4)
        #expect(TerminalText.width("e\u{301}") == 1)
        let lines = TerminalText.wrap("the quick brown fox jumps over the lazy dog", columns: 12, indent: 2)
        #expect(lines.allSatisfy { TerminalText.width($0) <= 12 })
        #expect(lines.dropFirst().allSatisfy { $0.hasPrefix("  ") })
        #expect(lines.map { $0.trimmingSpaces }.joined(separator: " ") == "the quick brown fox jumps over the lazy dog")
        let word = TerminalText.wrap(String(repeating: "x", count: 25), columns: 10)
        #expect(word.map(\.count) == [10, 10, 5])
        #expect(TerminalText.wrap("日本語のテキスト", columns: 5).allSatisfy { TerminalText.width($0) <= 5 })
        #expect(TerminalText.fit("hello world", columns: 5) == "hello")
        #expect(TerminalText.fit("hi", columns: 5) == "hi   ")
    }

    @Test func theInputLineEdits() {
        var e = LineEditor()
        for c in "hello wrld" { _ = e.apply(.text(c)) }
        for _ in 0..<3 { _ = e.apply(.left) }
        _ = e.apply(.text("o"))
        #expect(e.line == "hello world")
        _ = e.apply(.control("w"))
        #expect(e.line == "hello rld")
        _ = e.apply(.end)
        _ = e.apply(.backspace)
        #expect(e.line == "hello rl")
        _ = e.apply(.home)
        _ = e.apply(.delete)
        #expect(e.line == "ello rl")
        #expect(e.apply(.enter) == "ello rl")
        #expect(e.line.isEmpty)
        _ = e.apply(.up)
        #expect(e.line == "ello rl")
        _ = e.apply(.down)
        #expect(e.line.isEmpty)
        for c in String(repeating: "ab", count: 50) { _ = e.apply(.text(c)) }
        let (text, cursor) = e.visible(columns: 20)
        #expect(TerminalText.width(text) <= 20)
        #expect(cursor == 19)  // the cursor stays in view at the end of a long line
        _ = e.apply(.control("u"))
        #expect(e.line.isEmpty)
    }

    func screen(rooms: [String] = ["#general"]) -> ChatScreen {
        var s = ChatScreen()
        s.apply(["event": "rooms", "current": rooms[0], "rooms": rooms])
        s.apply(["event": "ready", "nick": "alice", "room": rooms[0], "ticket": "elastos1ticket"])
        return s
    }

    func plain(_ line: String) -> String {
        var out = "", inEscape = false
        for ch in line {
            if ch == "\u{1B}" { inEscape = true; continue }
            if inEscape { if ch == "m" { inEscape = false }; continue }
            out.append(ch)
        }
        return out
    }

    @Test func framesFitAnySizeAndKeepTheInputLine() {
        var s = screen()
        for c in "a draft" { _ = s.handle(.text(c)) }
        for i in 0..<40 {
            s.apply(["event": "message", "room": "#general", "nick": "bob", "did": "did:key:zBob", "app": "chat", "ts": 1_700_000_000_000,
                     "text": "message number \(i) with some words to wrap around the edge", "self": false])
        }
        for (rows, columns) in [(24, 80), (10, 30), (40, 132), (5, 20), (3, 10)] {
            let f = s.frame(rows: rows, columns: columns)
            #expect(f.lines.count == rows)
            for line in f.lines { #expect(TerminalText.width(plain(line)) == columns, "\(rows)×\(columns): \(plain(line))") }
            if rows >= 5 && columns >= 20 {
                #expect(plain(f.lines[rows - 1]).hasPrefix("> a draft"))
                #expect(f.cursorRow == rows - 1 && f.cursorColumn == 9)
                #expect(plain(f.lines[rows - 3]).contains("message number 39") || plain(f.lines[rows - 3]).contains("edge"))
            }
        }
        // A wide frame has the side panel: rooms and who is here.
        let wide = s.frame(rows: 24, columns: 100).lines.map(plain)
        #expect(wide.contains { $0.contains("│ > #general") })
        #expect(wide.contains { $0.contains("bob") && $0.contains("│") && $0.hasSuffix(String(repeating: " ", count: 3)) })
    }

    @Test func scrollbackHoldsItsPlaceWhileMessagesArrive() {
        var s = screen()
        for i in 0..<60 { s.apply(["event": "message", "room": "#general", "nick": "bob", "did": "d", "app": "chat", "text": "line \(i)", "self": false]) }
        _ = s.frame(rows: 12, columns: 40)
        _ = s.handle(.pageUp)
        let before = s.frame(rows: 12, columns: 40).lines.map(plain)
        #expect(!before.contains { $0.contains("line 59") })
        #expect(before[10].contains("below"))
        s.apply(["event": "message", "room": "#general", "nick": "bob", "did": "d", "app": "chat", "text": "line 60", "self": false])
        let after = s.frame(rows: 12, columns: 40).lines.map(plain)
        #expect(Array(before[1..<10]) == Array(after[1..<10]))  // the same lines stay in view
        _ = s.handle(.pageDown)
        _ = s.handle(.pageDown)
        #expect(s.frame(rows: 12, columns: 40).lines.map(plain).contains { $0.contains("line 60") })
    }

    @Test func roomsSwitchWithTabAndTellTheCapsule() {
        var s = screen(rooms: ["#general", "#rust"])
        s.apply(["event": "message", "room": "#rust", "nick": "carol", "did": "d", "app": "chat", "text": "over here", "self": false])
        #expect(s.unread["#rust"] == 1)
        #expect(s.handle(.tab) == [.send("/join #rust")])
        #expect(s.current == "#rust" && s.unread["#rust"] == nil)
        #expect(s.frame(rows: 10, columns: 80).lines.map(plain).contains { $0.contains("<carol> over here") })
        #expect(s.handle(.backTab) == [.send("/join #general")])
        for c in "hi all" { _ = s.handle(.text(c)) }
        #expect(s.handle(.enter) == [.send("hi all")])
        for c in "/quit" { _ = s.handle(.text(c)) }
        #expect(s.handle(.enter) == [.quit])
        #expect(s.handle(.control("c")) == [.quit])
    }

    @Test func presenceFillsThePeerList() {
        var s = screen()
        s.apply(["event": "joined", "room": "#general", "nick": "bob", "did": "did:key:zB", "app": "chat"])
        s.apply(["event": "joined", "room": "#general", "nick": "carol", "did": "did:key:zC", "app": "chat-wasm"])
        #expect(s.members["#general"]?.count == 2)
        s.apply(["event": "left", "room": "#general", "nick": "bob", "did": "did:key:zB", "app": "chat"])
        let f = s.frame(rows: 16, columns: 90).lines.map(plain)
        #expect(f.contains { $0.contains("carol ·chat-wasm") })
        #expect(!f.contains { $0.contains("│   bob") })
        #expect(f[0].contains("1 other here"))
    }
}
