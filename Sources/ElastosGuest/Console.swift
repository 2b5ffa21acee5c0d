/// The capsule's standard streams. Writes are unbuffered (each call is one write), so what a
/// capsule prints appears at once, in order, on whatever the runtime attached.
public enum Console {
    public static func write(_ text: String) {
        var text = text
        text.withUTF8 { _ = System.write(1, UnsafeRawBufferPointer($0)) }
    }

    public static func writeLine(_ text: String) { write(text + "\n") }

    public static func write(bytes: [UInt8]) {
        bytes.withUnsafeBytes { _ = System.write(1, $0) }
    }

    /// Writes a line to stderr (the runtime's log for this capsule).
    public static func log(_ text: String) {
        var line = text + "\n"
        line.withUTF8 { _ = System.write(2, UnsafeRawBufferPointer($0)) }
    }

    /// The next line of stdin without its line ending, nil at end of input. A last line
    /// without a newline is still returned.
    public static func readLine() -> String? {
        StdinBuffer.shared.readLine()
    }

    /// Whether ``readLine()`` has something to return without waiting long: a whole line is
    /// buffered, or stdin becomes readable (or ends) within `timeoutMilliseconds`. Lets a
    /// capsule wait for both typing and runtime events, alternating with `Runtime.nextEvent`.
    public static func inputReady(timeoutMilliseconds: Int32 = 0) -> Bool {
        StdinBuffer.shared.hasLine || System.readable(0, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Up to `maxBytes` bytes of stdin (whatever is available, at least one), nil at end of input.
    public static func read(maxBytes: Int = 64 << 10) -> [UInt8]? {
        StdinBuffer.shared.read(maxBytes: maxBytes)
    }
}

/// Writes a line to stderr: `log("cache warmed")`.
public func log(_ message: String) { Console.log(message) }

/// Buffered stdin, shared by `readLine` and `read`.
final class StdinBuffer: @unchecked Sendable {
    static let shared = StdinBuffer()
    private var bytes: [UInt8] = []
    private var start = 0
    private var atEOF = false

    private func fill() -> Bool {
        guard !atEOF else { return false }
        var chunk = [UInt8](repeating: 0, count: 4096)
        let n = chunk.withUnsafeMutableBytes { System.read(0, $0) }
        if n <= 0 { atEOF = true; return false }
        if start > 0 { bytes.removeFirst(start); start = 0 }
        bytes.append(contentsOf: chunk[0..<n])
        return true
    }

    /// A whole line (or the end of input) is already buffered.
    var hasLine: Bool { atEOF || bytes[start...].contains(0x0A) }

    func readLine() -> String? {
        var scanned = start
        while true {
            while scanned < bytes.count {
                if bytes[scanned] == 0x0A {
                    var end = scanned
                    if end > start && bytes[end - 1] == 0x0D { end -= 1 }
                    let line = String(decoding: bytes[start..<end], as: UTF8.self)
                    start = scanned + 1
                    return line
                }
                scanned += 1
            }
            let offset = scanned - start
            if !fill() {
                guard start < bytes.count else { return nil }
                let line = String(decoding: bytes[start...], as: UTF8.self)
                start = bytes.count
                return line
            }
            scanned = start + offset
        }
    }

    func read(maxBytes: Int) -> [UInt8]? {
        if start >= bytes.count && !fill() { return nil }
        let n = min(maxBytes, bytes.count - start)
        defer { start += n }
        return Array(bytes[start..<start + n])
    }
}

/// The capsule's process: arguments, environment, exit, time.
public enum Capsule {
    /// `argv`, the capsule's name first.
    public static var arguments: [String] { System.arguments() }

    /// The environment the runtime gave the capsule (nothing else is inherited).
    public static var environment: [String: String] {
        var result: [String: String] = [:]
        for entry in System.environment() {
            guard let eq = entry.utf8.firstIndex(of: 0x3D) else { continue }
            let key = String(decoding: entry.utf8[..<eq], as: UTF8.self)
            result[key] = String(decoding: entry.utf8[entry.utf8.index(after: eq)...], as: UTF8.self)
        }
        return result
    }

    /// Ends the capsule with `code` (0 is success).
    public static func exit(_ code: Int32) -> Never { System.exit(code) }

    /// A monotonic clock in nanoseconds, for measuring intervals.
    public static func monotonicNanoseconds() -> UInt64 { System.monotonicNanoseconds() }

    /// The wall clock: milliseconds since 1970 (for timestamps other machines read).
    public static func wallClockMilliseconds() -> UInt64 { System.wallClockNanoseconds() / 1_000_000 }

    /// `count` bytes from the system's secure random source.
    public static func randomBytes(_ count: Int) -> [UInt8] { System.randomBytes(count) }
}
