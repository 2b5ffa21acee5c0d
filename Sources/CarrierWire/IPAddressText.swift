// IPv4 dotted-quad and IPv6 text (RFC 4291 §2.2 parsing, RFC 5952 canonical output), without
// Foundation or the C library so the parser can be fuzzed in isolation.

enum IPAddressText {
    static func parseIPv4(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for part in parts {
            // No leading zeros (go refuses them: they could be read as octal).
            guard !part.isEmpty, part.utf8.count <= 3, part.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  part.count == 1 || part.first != "0", let v = UInt8(part) else { return nil }
            out.append(v)
        }
        return out
    }

    static func formatIPv4(_ b: [UInt8]) -> String {
        b.map { String($0) }.joined(separator: ".")
    }

    static func parseIPv6(_ text: String) -> [UInt8]? {
        guard text.utf8.count <= 45, !text.isEmpty else { return nil }
        let halves = text.components(separatedByDoubleColon: ())
        guard halves.count <= 2 else { return nil }
        func groups(_ s: Substring, allowTrailingIPv4: Bool) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            let items = s.split(separator: ":", omittingEmptySubsequences: false)
            for (i, item) in items.enumerated() {
                if allowTrailingIPv4 && i == items.count - 1 && item.contains(".") {
                    guard let v4 = parseIPv4(String(item)) else { return nil }
                    out.append(UInt16(v4[0]) << 8 | UInt16(v4[1]))
                    out.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                    continue
                }
                guard !item.isEmpty, item.utf8.count <= 4, let v = UInt16(item, radix: 16),
                      item.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) || ($0 >= 0x41 && $0 <= 0x46) })
                else { return nil }
                out.append(v)
            }
            return out
        }
        var words: [UInt16]
        if halves.count == 2 {
            guard let head = groups(halves[0], allowTrailingIPv4: false),
                  let tail = groups(halves[1], allowTrailingIPv4: true),
                  head.count + tail.count <= 7 else { return nil }
            words = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard let all = groups(halves[0], allowTrailingIPv4: true), all.count == 8 else { return nil }
            words = all
        }
        return words.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
    }

    static func formatIPv6(_ b: [UInt8]) -> String {
        guard b.count == 16 else { return "" }
        let words = (0..<8).map { UInt16(b[2 * $0]) << 8 | UInt16(b[2 * $0 + 1]) }
        // The longest run of two or more zero words is shown as "::" (the first, on a tie).
        var bestStart = -1, bestLength = 0, i = 0
        while i < 8 {
            if words[i] == 0 {
                var j = i
                while j < 8 && words[j] == 0 { j += 1 }
                if j - i > bestLength && j - i >= 2 { bestStart = i; bestLength = j - i }
                i = j
            } else { i += 1 }
        }
        func hex(_ range: Range<Int>) -> String { range.map { String(words[$0], radix: 16) }.joined(separator: ":") }
        if bestStart < 0 { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }
}

extension String {
    /// Splits at every "::" (two or more means the text is invalid IPv6).
    fileprivate func components(separatedByDoubleColon: ()) -> [Substring] {
        var out: [Substring] = []
        var start = startIndex
        var i = startIndex
        while i < endIndex {
            let next = index(after: i)
            if self[i] == ":" && next < endIndex && self[next] == ":" {
                out.append(self[start..<i])
                start = index(after: next)
                i = start
                // ":::" is invalid: the third colon starts an empty group, refused by the caller.
                continue
            }
            i = next
        }
        out.append(self[start..<endIndex])
        return out
    }
}
