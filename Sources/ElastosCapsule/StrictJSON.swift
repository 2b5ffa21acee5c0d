// A small strict JSON parser (RFC 8259) for capsule.json, signature envelopes and the store index.
//
// Why not JSONSerialization: on Linux it returns booleans and numbers as the same NSNumber (so
// `"memory_mb": true` would read as 1), keeps the last of two duplicate keys without a word, and
// forgets the order of keys. This parser keeps the type of every value and the order of keys,
// refuses duplicate keys (compared as decoded strings), invalid UTF-8, lone surrogates, leading
// zeros, control characters in strings, nesting past a depth limit and trailing bytes.

/// A parsed JSON value.
package enum JSONValue: Sendable {
    case null
    case bool(Bool)
    /// The number as written (the grammar is already checked).
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Keys in document order, no duplicates.
    case object([(key: String, value: JSONValue)])

    /// The JSON type's name, for error messages.
    package var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// The value as an integer if it is written as one (no fraction, no exponent) and fits.
    package var integer: Int64? {
        guard case .number(let text) = self else { return nil }
        guard !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) else { return nil }
        return Int64(text)
    }
}

/// Where and why a JSON text was refused.
package struct JSONSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Byte offset of the problem.
    package let offset: Int
    package let reason: String

    package var description: String { "\(reason) at byte \(offset)" }
}

package enum StrictJSON {
    /// Nesting limit for arrays and objects.
    static let maxDepth = 32

    package static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.offset == bytes.count else { throw parser.error("unexpected bytes after the JSON value") }
        return value
    }

    /// `s` as a JSON string literal, escaping only what must be escaped (plus DEL): the form
    /// every canonical text this module writes uses.
    package static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    private struct Parser {
        let bytes: [UInt8]
        var offset = 0

        func error(_ reason: String) -> JSONSyntaxError { JSONSyntaxError(offset: offset, reason: reason) }

        var peek: UInt8? { offset < bytes.count ? bytes[offset] : nil }

        mutating func skipWhitespace() {
            while let b = peek, b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { offset += 1 }
        }

        mutating func expect(_ literal: String) throws(JSONSyntaxError) {
            for b in literal.utf8 {
                guard peek == b else { throw error("invalid literal (expected '\(literal)')") }
                offset += 1
            }
        }

        mutating func value(depth: Int) throws(JSONSyntaxError) -> JSONValue {
            guard let b = peek else { throw error("unexpected end of input") }
            switch b {
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw error("unexpected character")
            }
        }

        mutating func object(depth: Int) throws(JSONSyntaxError) -> JSONValue {
            guard depth <= StrictJSON.maxDepth else { throw error("nested deeper than \(StrictJSON.maxDepth) levels") }
            offset += 1
            var members: [(key: String, value: JSONValue)] = []
            var keys = Set<[UInt8]>()
            skipWhitespace()
            if peek == UInt8(ascii: "}") { offset += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard peek == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let keyOffset = offset
                let key = try string()
                // Keys compare as UTF-8 bytes, not as Swift's canonically-equivalent Strings.
                guard keys.insert(Array(key.utf8)).inserted else {
                    throw JSONSyntaxError(offset: keyOffset, reason: "duplicate key \(StrictJSON.quote(key))")
                }
                skipWhitespace()
                guard peek == UInt8(ascii: ":") else { throw error("expected ':'") }
                offset += 1
                skipWhitespace()
                let value = try value(depth: depth)
                members.append((key, value))
                skipWhitespace()
                guard let b = peek else { throw error("unexpected end of input in an object") }
                offset += 1
                if b == UInt8(ascii: "}") { return .object(members) }
                guard b == UInt8(ascii: ",") else { offset -= 1; throw error("expected ',' or '}'") }
            }
        }

        mutating func array(depth: Int) throws(JSONSyntaxError) -> JSONValue {
            guard depth <= StrictJSON.maxDepth else { throw error("nested deeper than \(StrictJSON.maxDepth) levels") }
            offset += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if peek == UInt8(ascii: "]") { offset += 1; return .array(items) }
            while true {
                skipWhitespace()
                items.append(try value(depth: depth))
                skipWhitespace()
                guard let b = peek else { throw error("unexpected end of input in an array") }
                offset += 1
                if b == UInt8(ascii: "]") { return .array(items) }
                guard b == UInt8(ascii: ",") else { offset -= 1; throw error("expected ',' or ']'") }
            }
        }

        mutating func number() throws(JSONSyntaxError) -> String {
            let start = offset
            if peek == UInt8(ascii: "-") { offset += 1 }
            guard let first = peek, isDigit(first) else { throw error("a number needs a digit") }
            offset += 1
            if first == UInt8(ascii: "0"), let b = peek, isDigit(b) { throw error("leading zeros are not allowed") }
            while let b = peek, isDigit(b) { offset += 1 }
            if peek == UInt8(ascii: ".") {
                offset += 1
                guard let b = peek, isDigit(b) else { throw error("a fraction needs a digit") }
                while let b = peek, isDigit(b) { offset += 1 }
            }
            if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
                offset += 1
                if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { offset += 1 }
                guard let b = peek, isDigit(b) else { throw error("an exponent needs a digit") }
                while let b = peek, isDigit(b) { offset += 1 }
            }
            return String(decoding: bytes[start..<offset], as: UTF8.self)
        }

        func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

        mutating func string() throws(JSONSyntaxError) -> String {
            offset += 1
            var scalars = String.UnicodeScalarView()
            while true {
                guard let b = peek else { throw error("unterminated string") }
                switch b {
                case UInt8(ascii: "\""):
                    offset += 1
                    return String(scalars)
                case UInt8(ascii: "\\"):
                    offset += 1
                    scalars.append(try escape())
                case 0x00..<0x20:
                    throw error("control character in a string (escape it)")
                case 0x00..<0x80:
                    scalars.append(Unicode.Scalar(b))
                    offset += 1
                default:
                    scalars.append(try utf8Scalar())
                }
            }
        }

        mutating func escape() throws(JSONSyntaxError) -> Unicode.Scalar {
            guard let b = peek else { throw error("unterminated escape") }
            offset += 1
            switch b {
            case UInt8(ascii: "\""): return "\""
            case UInt8(ascii: "\\"): return "\\"
            case UInt8(ascii: "/"): return "/"
            case UInt8(ascii: "b"): return "\u{08}"
            case UInt8(ascii: "f"): return "\u{0C}"
            case UInt8(ascii: "n"): return "\n"
            case UInt8(ascii: "r"): return "\r"
            case UInt8(ascii: "t"): return "\t"
            case UInt8(ascii: "u"):
                let high = try hex4()
                if (0xD800..<0xDC00).contains(high) {
                    guard peek == UInt8(ascii: "\\") else { throw error("lone high surrogate") }
                    offset += 1
                    guard peek == UInt8(ascii: "u") else { throw error("lone high surrogate") }
                    offset += 1
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw error("high surrogate without a low one") }
                    let value = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                    guard let scalar = Unicode.Scalar(value) else { throw error("invalid surrogate pair") }
                    return scalar
                }
                guard let scalar = Unicode.Scalar(high) else { throw error("lone low surrogate") }
                return scalar
            default:
                offset -= 1
                throw error("invalid escape")
            }
        }

        mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard let b = peek else { throw error("truncated \\u escape") }
                let digit: UInt32
                switch b {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(b - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(b - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(b - UInt8(ascii: "A") + 10)
                default: throw error("invalid \\u escape")
                }
                value = value << 4 | digit
                offset += 1
            }
            return value
        }

        /// One multi-byte UTF-8 sequence, strictly (no overlongs, no surrogates, ≤ U+10FFFF).
        mutating func utf8Scalar() throws(JSONSyntaxError) -> Unicode.Scalar {
            let lead = bytes[offset]
            let count: Int
            var value: UInt32
            switch lead {
            case 0xC2...0xDF: count = 2; value = UInt32(lead & 0x1F)
            case 0xE0...0xEF: count = 3; value = UInt32(lead & 0x0F)
            case 0xF0...0xF4: count = 4; value = UInt32(lead & 0x07)
            default: throw error("invalid UTF-8")
            }
            guard offset + count <= bytes.count else { throw error("truncated UTF-8") }
            for i in 1..<count {
                let b = bytes[offset + i]
                guard b & 0xC0 == 0x80 else { throw error("invalid UTF-8") }
                value = value << 6 | UInt32(b & 0x3F)
            }
            let minimum: UInt32 = count == 2 ? 0x80 : count == 3 ? 0x800 : 0x10000
            guard value >= minimum, let scalar = Unicode.Scalar(value) else { throw error("invalid UTF-8") }
            offset += count
            return scalar
        }
    }
}
