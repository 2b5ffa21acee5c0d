#if canImport(Glibc)
import Glibc
#endif
import ElastosNode
import ElastosRuntime
import Foundation
import Synchronization

/// Where signal handlers write their one byte: 'W' resize, 'T' stop. (A handler cannot
/// capture anything, so this is a global; it is set before the handlers are installed.)
nonisolated(unsafe) private var wakeFD: Int32 = -1

/// The full-screen chat on this terminal. The chat capsule (native, WASM or microVM alike) runs
/// in the node in its `--json` mode on pipes; this process owns the terminal: raw keyboard
/// input, the alternate screen, resize, and drawing ``ChatScreen`` frames, changed rows only.
/// Terminal control is the host's job because a WASM guest has no terminal to control
/// (docs/CHAT.md, "The terminal").
struct ChatTerminal {
    let home: NodeHome
    /// The control API's `run` request, without the standard streams.
    let request: [String: Any]

    /// Runs the chat until it ends; returns the capsule's exit code.
    func run() throws -> Int32 {
        func makePipe() throws -> [Int32] {
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else { throw CLIError("cannot create a pipe: \(String(cString: strerror(errno)))") }
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }  // only the node gets them, by SCM_RIGHTS
            return fds
        }
        let input = try makePipe(), wake = try makePipe()
        var output = try makePipe(), errors = try makePipe()
        defer { for fd in [input[1], output[0], errors[0], wake[0], wake[1]] where fd >= 0 { close(fd) } }

        guard let conn = ControlClient.connect(home) else { throw CLIError("the node stopped answering on its control socket") }
        let reply: [String: Any]
        do {
            reply = try ControlClient.request(conn, request, fds: [input[0], output[1], errors[1]])
        } catch {
            for fd in [input[0], output[1], errors[1]] { close(fd) }
            throw error
        }
        for fd in [input[0], output[1], errors[1]] { close(fd) }  // the capsule has them now
        guard reply["ok"] as? Bool == true else { throw ChatRunRefused(reply["error"] as? String ?? "run failed") }

        // The end of the run arrives on the control connection: wait for it on a thread.
        let endBox = EndBox(conn: conn)
        let wakeWrite = wake[1]
        let reader = Thread {
            let end = (try? ControlClient.readReply(endBox.conn)) ?? ["code": 1, "error": "the node closed the control connection"]
            endBox.store(end)
            var b = UInt8(ascii: "E")
            _ = write(wakeWrite, &b, 1)
        }
        reader.start()

        var terminal = try RawTerminal()
        wakeFD = wake[1]
        signal(SIGPIPE, SIG_IGN)
        signal(SIGWINCH) { _ in var b = UInt8(ascii: "W"); _ = write(wakeFD, &b, 1) }
        for s in [SIGTERM, SIGHUP, SIGINT] { signal(s) { _ in var b = UInt8(ascii: "T"); _ = write(wakeFD, &b, 1) } }
        defer {
            for s in [SIGWINCH, SIGTERM, SIGHUP, SIGINT] { signal(s, SIG_DFL) }
            terminal.restore()
        }

        var screen = ChatScreen()
        var keys = TerminalKeyDecoder()
        var outLines = LineSplitter(), errLines = LineSplitter()
        var painter = Painter()
        var size = RawTerminal.size()
        var toCapsule = input[1]
        var quitAt: Double?  // when /quit was sent: the capsule gets a moment to leave its rooms
        var capsuleDone = false
        painter.paint(&screen, size)

        func send(_ line: String) {
            guard toCapsule >= 0 else { return }
            var bytes = Array((line + "\n").utf8)
            var off = 0
            while off < bytes.count {
                let n = bytes.withUnsafeMutableBytes { write(toCapsule, $0.baseAddress! + off, $0.count - off) }
                if n < 0 { if errno == EINTR { continue }; close(toCapsule); toCapsule = -1; return }
                off += n
            }
        }
        func now() -> Double { Date().timeIntervalSince1970 }

        func handle(_ actions: [ChatScreen.Action]) {
            for action in actions {
                switch action {
                case .send(let line): send(line)
                case .quit:
                    if quitAt == nil { quitAt = now(); send("/quit") }
                }
            }
        }

        while !capsuleDone {
            var fds = [pollfd(fd: 0, events: Int16(POLLIN), revents: 0), pollfd(fd: output[0], events: Int16(POLLIN), revents: 0),
                       pollfd(fd: errors[0], events: Int16(POLLIN), revents: 0), pollfd(fd: wake[0], events: Int16(POLLIN), revents: 0)]
            if output[0] < 0 { fds[1].fd = -1 }
            if errors[0] < 0 { fds[2].fd = -1 }
            let n = poll(&fds, nfds_t(fds.count), keys.hasPending ? 40 : 250)
            var changed = false
            if n == 0 && keys.hasPending {
                for key in keys.flushPending() { changed = true; handle(screen.handle(key)) }
            }
            if n > 0 {
                if fds[0].revents != 0 {
                    let bytes = readSome(0)
                    if bytes.isEmpty { screen.quitting = true; handle([.quit]) }  // the terminal went away
                    for key in keys.feed(bytes) { handle(screen.handle(key)) }
                    changed = true
                }
                if fds[1].revents != 0 {
                    let bytes = readSome(output[0])
                    if bytes.isEmpty { close(output[0]); output[0] = -1 }
                    for line in outLines.feed(bytes) {
                        if let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] {
                            screen.apply(event)
                        } else {
                            screen.capsuleLog(line)
                        }
                    }
                    changed = true
                }
                if fds[2].revents != 0 {
                    let bytes = readSome(errors[0])
                    if bytes.isEmpty { close(errors[0]); errors[0] = -1 }
                    for line in errLines.feed(bytes) { screen.capsuleLog(line) }
                    changed = true
                }
                if fds[3].revents != 0 {
                    for b in readSome(wake[0]) {
                        switch b {
                        case UInt8(ascii: "W"): changed = true
                        case UInt8(ascii: "T"): handle([.quit])
                        case UInt8(ascii: "E"): capsuleDone = true
                        default: break
                        }
                    }
                }
            }
            if let at = quitAt {
                // The capsule did not end after /quit: end its input (it ends at EOF), then stop waiting.
                if now() - at > 3, toCapsule >= 0 { close(toCapsule); toCapsule = -1 }
                if now() - at > 8 { break }
            }
            let newSize = RawTerminal.size()
            if newSize != size { size = newSize; painter.reset() ; changed = true }
            if changed { painter.paint(&screen, size) }
        }

        terminal.restore()
        let end = endBox.value ?? ["code": 0]
        if let e = end["error"] as? String { FileHandle.standardError.write(Data("elastos: \(e)\n".utf8)) }
        return Int32(end["code"] as? Int ?? 0)
    }

    private func readSome(_ fd: Int32) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            return n > 0 ? Array(buffer[0..<n]) : []
        }
    }
}

/// The run was refused (not installed, denied): ChatCommand explains it as for the line mode.
struct ChatRunRefused: Error { let reason: String; init(_ r: String) { reason = r } }

/// The control connection and the run's end reply, handed between the reader thread and the loop.
private final class EndBox: Sendable {
    let conn: UnixConnection
    private let end = Mutex<[String: Any]?>(nil)
    init(conn: UnixConnection) { self.conn = conn }
    func store(_ e: [String: Any]) { end.withLock { $0 = UncheckedReply(e).value } }
    var value: [String: Any]? { end.withLock { $0 } }
}

/// [String: Any] is not Sendable; this reply is made and read once, under the lock.
private struct UncheckedReply: @unchecked Sendable { let value: [String: Any]; init(_ v: [String: Any]) { value = v } }

/// Bytes into lines (a partial last line is kept for the next read; overlong lines are cut).
struct LineSplitter {
    private var pending: [UInt8] = []
    mutating func feed(_ bytes: [UInt8]) -> [String] {
        pending += bytes
        var lines: [String] = []
        while let nl = pending.firstIndex(of: 0x0A) {
            lines.append(String(decoding: pending[..<nl], as: UTF8.self))
            pending.removeFirst(nl + 1)
        }
        if pending.count > 1 << 20 { lines.append(String(decoding: pending, as: UTF8.self)); pending = [] }
        return lines
    }
}

/// Draws frames: the first one whole, later ones only the rows that changed.
struct Painter {
    private var previous: [String] = []

    mutating func reset() { previous = [] }

    mutating func paint(_ screen: inout ChatScreen, _ size: (rows: Int, columns: Int)) {
        let frame = screen.frame(rows: size.rows, columns: size.columns)
        var out = "\u{1B}[?25l"
        if previous.count != frame.lines.count { out += "\u{1B}[2J"; previous = [] }
        for (i, line) in frame.lines.enumerated() where i >= previous.count || previous[i] != line {
            out += "\u{1B}[\(i + 1);1H" + line + "\u{1B}[0m"
        }
        out += "\u{1B}[\(frame.cursorRow + 1);\(frame.cursorColumn + 1)H\u{1B}[?25h"
        previous = frame.lines
        var bytes = Array(out.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress! + off, $0.count - off) }
            if n < 0 { if errno == EINTR { continue }; return }
            off += n
        }
    }
}

/// The terminal in raw mode on the alternate screen, and back as it was.
struct RawTerminal {
    private var saved = termios()
    private var active = false

    init() throws {
        guard tcgetattr(0, &saved) == 0 else { throw CLIError("standard input is not a terminal") }
        var raw = saved
        cfmakeraw(&raw)
        raw.c_oflag |= tcflag_t(OPOST)
        guard tcsetattr(0, TCSAFLUSH, &raw) == 0 else { throw CLIError("cannot put the terminal in raw mode") }
        active = true
        Self.write("\u{1B}[?1049h\u{1B}[2J")
    }

    mutating func restore() {
        guard active else { return }
        active = false
        Self.write("\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l")
        tcsetattr(0, TCSAFLUSH, &saved)
    }

    static func size() -> (rows: Int, columns: Int) {
        var ws = winsize()
        if ioctl(1, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_row > 0, ws.ws_col > 0 { return (Int(ws.ws_row), Int(ws.ws_col)) }
        return (24, 80)
    }

    private static func write(_ s: String) {
        var b = Array(s.utf8)
        _ = b.withUnsafeMutableBytes { Glibc.write(1, $0.baseAddress, $0.count) }
    }
}
