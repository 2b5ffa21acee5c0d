/// Minimal JSON text helpers for the fixed-order records the core writes.
enum JSONText {
    /// A JSON string literal. Escapes quotes, backslashes and every control character, so a
    /// value from a capsule can never break out of its field or add a line to the log.
    static func quote(_ s: String) -> String {
        var out = [UInt8]()
        appendQuoted(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        out.append(0x22)
        for c in s.utf8 {
            switch c {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, 0x6E]
            case 0x0D: out += [0x5C, 0x72]
            case 0x09: out += [0x5C, 0x74]
            case 0x00..<0x20, 0x7F:
                let hex = Array("0123456789abcdef".utf8)
                out += [0x5C, 0x75, 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 0xF)]]
            default: out.append(c)
            }
        }
        out.append(0x22)
    }
}

/// RFC 3339 timestamps in UTC with milliseconds, without Foundation's formatters.
public enum RFC3339 {
    public static func format(millis: Int64) -> String {
        var b = [UInt8]()
        append(millis: millis, to: &b)
        return String(decoding: b, as: UTF8.self)
    }

    /// Appends `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    static func append(millis: Int64, to b: inout [UInt8]) {
        let ms = Int(((millis % 1000) + 1000) % 1000)
        let secs = (millis - Int64(ms)) / 1000
        var days = secs / 86_400
        var rem = secs - days * 86_400
        if rem < 0 { rem += 86_400; days -= 1 }
        let (y, m, d) = civil(fromDays: days)
        func digits(_ v: Int, _ width: Int) {
            var div = 1
            for _ in 1..<width { div *= 10 }
            let v = max(0, v)
            while div > 0 { b.append(UInt8(0x30 + (v / div) % 10)); div /= 10 }
        }
        digits(y, 4); b.append(0x2D); digits(m, 2); b.append(0x2D); digits(d, 2); b.append(0x54)
        digits(Int(rem / 3600), 2); b.append(0x3A); digits(Int(rem % 3600 / 60), 2); b.append(0x3A)
        digits(Int(rem % 60), 2); b.append(0x2E); digits(ms, 3); b.append(0x5A)
    }

    /// Howard Hinnant's days-from-civil inverse.
    static func civil(fromDays z0: Int64) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (Int(y + (m <= 2 ? 1 : 0)), Int(m), Int(d))
    }
}
