/// Text as a terminal shows it: what is safe to print, how many columns it takes, where it wraps.
enum TerminalText {
    /// `text` with everything a terminal would act on replaced: C0 and C1 controls (ESC, CSI,
    /// BEL, …), DEL, and the bidirectional overrides and isolates that reorder what follows.
    /// Whatever a peer sends, it can only ever be shown, never move the cursor or change
    /// colours. (The chat capsule already does this; the terminal does not rely on it.)
    static func safe(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for s in text.unicodeScalars {
            switch s.value {
            case 0x09: out.append(" ")
            case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F, 0x061C:
                out.append("\u{FFFD}")
            default: out.append(s)
            }
        }
        return String(out)
    }

    /// Columns one character takes: 0 for combining marks and zero-width characters, 2 for East
    /// Asian wide and emoji ranges, 1 otherwise (a small wcwidth: exact enough for chat text).
    static func width(_ c: Character) -> Int {
        guard let s = c.unicodeScalars.first else { return 0 }
        let v = s.value
        if v < 0x300 { return 1 }
        if s.properties.generalCategory == .nonspacingMark || s.properties.generalCategory == .enclosingMark
            || v == 0x200B || v == 0x200C || v == 0x200D || v == 0xFEFF { return 0 }
        if (0x1100...0x115F).contains(v) || (0x2E80...0xA4CF).contains(v) || (0xAC00...0xD7A3).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0xFE30...0xFE4F).contains(v) || (0xFF00...0xFF60).contains(v)
            || (0xFFE0...0xFFE6).contains(v) || (0x1F300...0x1F64F).contains(v) || (0x1F900...0x1F9FF).contains(v)
            || (0x20000...0x3FFFD).contains(v) { return 2 }
        return 1
    }

    static func width(_ text: some StringProtocol) -> Int { text.reduce(0) { $0 + width($1) } }

    /// `text` broken into lines of at most `columns` columns: at spaces where it can, inside a
    /// word where the word alone is too long. Continuation lines are indented by `indent`.
    static func wrap(_ text: String, columns: Int, indent: Int = 0) -> [String] {
        let columns = max(columns, 1)
        let indent = min(indent, columns / 2)
        var lines: [String] = []
        var line = "", lineWidth = 0
        var word = "", wordWidth = 0
        func limit() -> Int { lines.isEmpty ? columns : columns - indent }
        func endLine() {
            lines.append(lines.isEmpty ? line : String(repeating: " ", count: indent) + line)
            line = ""; lineWidth = 0
        }
        func placeWord() {
            // A word too long for any line is cut where it stands rather than moved down.
            if lineWidth > 0 && lineWidth + wordWidth > limit() && wordWidth <= columns - indent {
                // The word does not fit after what is there: a new line (dropping the space).
                while line.last == " " { line.removeLast(); lineWidth -= 1 }
                endLine()
            }
            for ch in word {
                let w = width(ch)
                if lineWidth + w > limit() && lineWidth > 0 { endLine() }
                line.append(ch); lineWidth += w
            }
            word = ""; wordWidth = 0
        }
        for ch in text {
            if ch == " " {
                placeWord()
                if lineWidth < limit() { line.append(" "); lineWidth += 1 }
            } else {
                word.append(ch); wordWidth += width(ch)
            }
        }
        placeWord()
        if !line.isEmpty || lines.isEmpty { endLine() }
        return lines
    }

    /// The longest prefix of `text` that fits `columns`, padded with spaces to exactly `columns`.
    static func fit(_ text: String, columns: Int) -> String {
        var out = "", used = 0
        for ch in text {
            let w = width(ch)
            if used + w > columns { break }
            out.append(ch); used += w
        }
        return out + String(repeating: " ", count: max(0, columns - used))
    }
}

/// The input line: UTF-8 text with a cursor, the usual editing keys, and recall of lines sent.
struct LineEditor {
    private(set) var text: [Character] = []
    private(set) var cursor = 0
    private var recall: [String] = []
    private var recallIndex: Int?
    /// A line longer than this is refused (a chat message is at most 4096 bytes anyway).
    static let maxLength = 4096

    var line: String { String(text) }

    /// Applies an editing key; returns the line when Enter submits one.
    mutating func apply(_ key: TerminalKey) -> String? {
        switch key {
        case .text(let c):
            guard text.count < Self.maxLength else { return nil }
            text.insert(c, at: cursor); cursor += 1
        case .backspace:
            if cursor > 0 { text.remove(at: cursor - 1); cursor -= 1 }
        case .delete, .control("d"):
            if cursor < text.count { text.remove(at: cursor) }
        case .left, .control("b"): cursor = max(0, cursor - 1)
        case .right, .control("f"): cursor = min(text.count, cursor + 1)
        case .home, .control("a"): cursor = 0
        case .end, .control("e"): cursor = text.count
        case .control("u"): text.removeFirst(cursor); cursor = 0
        case .control("k"): text.removeLast(text.count - cursor)
        case .control("w"):
            var start = cursor
            while start > 0 && text[start - 1] == " " { start -= 1 }
            while start > 0 && text[start - 1] != " " { start -= 1 }
            text.removeSubrange(start..<cursor); cursor = start
        case .up:
            guard !recall.isEmpty else { return nil }
            let i = max(0, (recallIndex ?? recall.count) - 1)
            recallIndex = i
            set(recall[i])
        case .down:
            guard let i = recallIndex else { return nil }
            if i + 1 < recall.count { recallIndex = i + 1; set(recall[i + 1]) } else { recallIndex = nil; set("") }
        case .enter:
            let submitted = line
            set("")
            recallIndex = nil
            if !submitted.isEmpty {
                recall.append(submitted)
                if recall.count > 100 { recall.removeFirst() }
            }
            return submitted
        default: break
        }
        return nil
    }

    mutating func set(_ s: String) {
        text = Array(s.prefix(Self.maxLength)); cursor = text.count
    }

    /// What to show of the line in `columns` columns, and the cursor's column within it: the
    /// window slides so the cursor is always visible.
    func visible(columns: Int) -> (text: String, cursorColumn: Int) {
        guard columns > 1 else { return ("", 0) }
        var start = 0
        func widthOf(_ r: Range<Int>) -> Int { text[r].reduce(0) { $0 + TerminalText.width($1) } }
        while widthOf(start..<cursor) > columns - 1 { start += 1 }
        var end = cursor
        while end < text.count && widthOf(start..<(end + 1)) <= columns { end += 1 }
        return (String(text[start..<end]), widthOf(start..<cursor))
    }
}
