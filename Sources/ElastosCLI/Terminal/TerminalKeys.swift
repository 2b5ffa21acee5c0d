/// A key the chat terminal understands, decoded from the bytes a terminal sends.
enum TerminalKey: Equatable, Sendable {
    case text(Character)
    case enter, backspace, delete, tab, backTab, escape
    case left, right, up, down, home, end, pageUp, pageDown
    /// Ctrl+<letter>, as the lowercase letter (Ctrl+A is `.control("a")`), for those without a
    /// meaning of their own above (Ctrl+H, Ctrl+I, Ctrl+J and Ctrl+M are backspace, tab and enter).
    case control(Character)
    /// A sequence the terminal sent that means nothing here (F-keys, mouse reports, …).
    case ignored
}

/// Turns terminal input bytes into keys: UTF-8 text, C0 controls, and the CSI (`ESC [ …`) and
/// SS3 (`ESC O x`) sequences xterm-like terminals (and tmux, and a plain SSH session) send.
/// Incomplete input is held until more arrives; a lone ESC becomes `.escape` only when
/// ``flushPending()`` says no more is coming. Never traps on any byte sequence.
struct TerminalKeyDecoder {
    private var pending: [UInt8] = []
    /// CSI parameters are short; a longer run is garbage and is dropped.
    static let maxSequence = 32

    var hasPending: Bool { !pending.isEmpty }

    mutating func feed(_ bytes: some Sequence<UInt8>) -> [TerminalKey] {
        pending.append(contentsOf: bytes)
        var keys: [TerminalKey] = []
        var i = 0
        while i < pending.count {
            guard let (key, used) = Self.decode(pending, from: i) else { break }  // incomplete: wait
            if let key { keys.append(key) }
            i += used
        }
        pending.removeFirst(i)
        return keys
    }

    /// What is held (a lone ESC, half a UTF-8 character) taken as complete: called when the
    /// terminal has been quiet for a moment.
    mutating func flushPending() -> [TerminalKey] {
        defer { pending.removeAll() }
        guard !pending.isEmpty else { return [] }
        if pending == [0x1B] { return [.escape] }
        if pending.first == 0x1B { return [.ignored] }
        return [.text("\u{FFFD}")]
    }

    /// The key at `start` and how many bytes it used (a nil key: bytes consumed for nothing);
    /// nil when more bytes are needed.
    private static func decode(_ b: [UInt8], from start: Int) -> (TerminalKey?, Int)? {
        let c = b[start]
        switch c {
        case 0x0D, 0x0A: return (.enter, 1)
        case 0x7F, 0x08: return (.backspace, 1)
        case 0x09: return (.tab, 1)
        case 0x1B: return escape(b, from: start)
        case 0x00: return (nil, 1)
        case 0x01...0x1A: return (.control(Character(Unicode.Scalar(c + 0x60))), 1)
        case 0x1C...0x1F: return (.ignored, 1)
        case 0x20...0x7E: return (.text(Character(Unicode.Scalar(c))), 1)
        default: return utf8(b, from: start)
        }
    }

    private static func escape(_ b: [UInt8], from start: Int) -> (TerminalKey?, Int)? {
        guard start + 1 < b.count else { return nil }
        let next = b[start + 1]
        switch next {
        case UInt8(ascii: "["):
            // CSI: parameter and intermediate bytes 0x20–0x3F, then a final byte 0x40–0x7E.
            var j = start + 2
            while j < b.count, (0x20...0x3F).contains(b[j]) {
                j += 1
                if j - start > maxSequence { return (.ignored, j - start) }
            }
            guard j < b.count else { return nil }
            let final = b[j]
            guard (0x40...0x7E).contains(final) else { return (.ignored, j - start) }  // malformed: drop what came
            let params = String(decoding: b[(start + 2)..<j], as: UTF8.self)
            return (csi(params, final), j - start + 1)
        case UInt8(ascii: "O"):
            guard start + 2 < b.count else { return nil }
            let key: TerminalKey = switch b[start + 2] {
            case UInt8(ascii: "A"): .up
            case UInt8(ascii: "B"): .down
            case UInt8(ascii: "C"): .right
            case UInt8(ascii: "D"): .left
            case UInt8(ascii: "H"): .home
            case UInt8(ascii: "F"): .end
            default: .ignored
            }
            return (key, 3)
        case 0x1B:
            return (.escape, 1)  // ESC ESC: the first is a lone Esc
        default:
            return (.ignored, 2)  // Alt+key: nothing here
        }
    }

    private static func csi(_ params: String, _ final: UInt8) -> TerminalKey {
        // Modifiers (";5" for Ctrl, …) are ignored: Ctrl+Left is Left.
        let first = params.split(separator: ";", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        switch final {
        case UInt8(ascii: "A"): return .up
        case UInt8(ascii: "B"): return .down
        case UInt8(ascii: "C"): return .right
        case UInt8(ascii: "D"): return .left
        case UInt8(ascii: "H"): return .home
        case UInt8(ascii: "F"): return .end
        case UInt8(ascii: "Z"): return .backTab
        case UInt8(ascii: "~"):
            switch first {
            case "1", "7": return .home
            case "4", "8": return .end
            case "3": return .delete
            case "5": return .pageUp
            case "6": return .pageDown
            default: return .ignored
            }
        default: return .ignored
        }
    }

    private static func utf8(_ b: [UInt8], from start: Int) -> (TerminalKey?, Int)? {
        let c = b[start]
        let length: Int
        switch c {
        case 0xC2...0xDF: length = 2
        case 0xE0...0xEF: length = 3
        case 0xF0...0xF4: length = 4
        default: return (.text("\u{FFFD}"), 1)  // a stray continuation byte or an invalid lead
        }
        var j = start + 1
        while j < start + length {
            guard j < b.count else { return nil }
            guard b[j] & 0xC0 == 0x80 else { return (.text("\u{FFFD}"), j - start) }
            j += 1
        }
        guard let s = String(validating: b[start..<(start + length)], as: UTF8.self), let ch = s.first else {
            return (.text("\u{FFFD}"), length)  // overlong or a surrogate
        }
        return (.text(ch), length)
    }
}
