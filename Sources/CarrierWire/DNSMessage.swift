// DNS messages as multicast DNS uses them, for libp2p's mDNS discovery:
//   RFC 1035 §4 (message format, §4.1.4 name compression), RFC 6762 (mDNS: the top bit of a
//   question's class asks for a unicast reply, the top bit of a record's class flushes caches),
//   https://github.com/libp2p/specs/blob/master/discovery/mdns.md (what libp2p puts in them).
//
//   message  = id:u16 ‖ flags:u16 ‖ qdcount:u16 ‖ ancount:u16 ‖ nscount:u16 ‖ arcount:u16
//              ‖ question* ‖ record* (answers, authorities, additionals)
//   question = name ‖ type:u16 ‖ class:u16
//   record   = name ‖ type:u16 ‖ class:u16 ‖ ttl:u32 ‖ rdlength:u16 ‖ rdata
//   name     = (len:u8 (1…63) ‖ label)* ‖ 0, or ending in a pointer 0b11 ‖ offset:14
//
// Decoding is strict, because every host on the link can send us these: a name longer than 255
// bytes, a label type other than 0b00 or 0b11, a compression pointer that does not point
// strictly before the pointer itself (which is what refuses loops), more than 64 jumps in one
// name, an rdata that a PTR or TXT does not fill exactly, an A or AAAA of the wrong size, a count
// that more records than the bytes could hold, and bytes after the last record are each a typed
// `WireError.dns`. Encoding never compresses; what it writes decodes to the same values.

/// A domain name: its labels, each 1 to 63 bytes, at most 255 bytes on the wire.
public struct DNSName: Sendable, Hashable, CustomStringConvertible {
    public static let maxWireLength = 255
    public static let maxLabelLength = 63
    public let labels: [[UInt8]]

    /// A name from labels; throws if one is empty or too long, or the name is over 255 bytes.
    public init(labels: [[UInt8]]) throws(WireError) {
        for label in labels {
            guard !label.isEmpty, label.count <= Self.maxLabelLength else {
                throw .dns("a label of \(label.count) bytes (a label is 1 to \(Self.maxLabelLength) bytes)")
            }
        }
        let length = labels.reduce(1) { $0 + 1 + $1.count }
        guard length <= Self.maxWireLength else { throw .dns("a name of \(length) bytes (at most \(Self.maxWireLength))") }
        self.labels = labels
    }

    /// A name from dotted text (`_p2p._udp.local`); no escapes, a trailing dot is allowed.
    public init(_ text: String) throws(WireError) {
        var parts = text.split(separator: ".", omittingEmptySubsequences: false).map { Array($0.utf8) }
        if parts.last?.isEmpty == true { parts.removeLast() }
        try self.init(labels: parts)
    }

    /// Compares as DNS does: ASCII letters case-insensitively.
    public func matches(_ other: DNSName) -> Bool {
        labels.count == other.labels.count && zip(labels, other.labels).allSatisfy { a, b in
            a.count == b.count && zip(a, b).allSatisfy { Self.lower($0) == Self.lower($1) }
        }
    }

    /// Whether this name is `other` or ends in it (`x._p2p._udp.local` is under `_p2p._udp.local`).
    public func isUnder(_ other: DNSName) -> Bool {
        guard labels.count >= other.labels.count else { return false }
        return (try? DNSName(labels: Array(labels.suffix(other.labels.count))))?.matches(other) ?? false
    }

    private static func lower(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b | 0x20 : b }

    public var description: String {
        labels.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ".") + "."
    }
}

/// The record types libp2p's mDNS reads; others are kept as opaque rdata.
public enum DNSRecordType {
    public static let a: UInt16 = 1
    public static let ptr: UInt16 = 12
    public static let txt: UInt16 = 16
    public static let aaaa: UInt16 = 28
    public static let srv: UInt16 = 33
    public static let any: UInt16 = 255
}

/// A question: which name and type the asker wants.
public struct DNSQuestion: Sendable, Hashable {
    public var name: DNSName
    public var type: UInt16
    /// The class without the unicast-response bit (1 = IN).
    public var recordClass: UInt16
    /// RFC 6762 §5.4: the asker accepts a unicast reply (the class's top bit).
    public var unicastResponse: Bool

    public init(name: DNSName, type: UInt16, recordClass: UInt16 = 1, unicastResponse: Bool = false) {
        self.name = name; self.type = type; self.recordClass = recordClass & 0x7FFF; self.unicastResponse = unicastResponse
    }
}

/// A resource record's data, decoded for the types mDNS discovery reads.
public enum DNSRecordData: Sendable, Hashable {
    case a([UInt8])
    case aaaa([UInt8])
    case ptr(DNSName)
    /// TXT: one or more character strings of 0 to 255 bytes.
    case txt([[UInt8]])
    /// Any other type: its rdata bytes as they came (names inside are not decompressed).
    case other(type: UInt16, [UInt8])

    public var type: UInt16 {
        switch self {
        case .a: DNSRecordType.a
        case .aaaa: DNSRecordType.aaaa
        case .ptr: DNSRecordType.ptr
        case .txt: DNSRecordType.txt
        case .other(let type, _): type
        }
    }
}

/// A resource record.
public struct DNSRecord: Sendable, Hashable {
    public var name: DNSName
    /// The class without the cache-flush bit (1 = IN).
    public var recordClass: UInt16
    /// RFC 6762 §10.2: this record replaces cached ones of its name and type (the class's top bit).
    public var cacheFlush: Bool
    public var ttl: UInt32
    public var data: DNSRecordData

    public init(name: DNSName, data: DNSRecordData, ttl: UInt32, recordClass: UInt16 = 1, cacheFlush: Bool = false) {
        self.name = name; self.data = data; self.ttl = ttl; self.recordClass = recordClass & 0x7FFF; self.cacheFlush = cacheFlush
    }
}

/// A whole DNS message.
public struct DNSMessage: Sendable, Hashable {
    /// Larger datagrams are refused before decoding (RFC 6762 §17: 9000 bytes at most).
    public static let maxLength = 9000
    /// The header's QR bit: set in responses.
    public static let responseFlag: UInt16 = 0x8000
    /// The header's AA bit: mDNS responses set it.
    public static let authoritativeFlag: UInt16 = 0x0400

    public var id: UInt16
    public var flags: UInt16
    public var questions: [DNSQuestion]
    public var answers: [DNSRecord]
    public var authorities: [DNSRecord]
    public var additionals: [DNSRecord]

    public init(id: UInt16 = 0, flags: UInt16 = 0, questions: [DNSQuestion] = [], answers: [DNSRecord] = [],
                authorities: [DNSRecord] = [], additionals: [DNSRecord] = []) {
        self.id = id; self.flags = flags; self.questions = questions
        self.answers = answers; self.authorities = authorities; self.additionals = additionals
    }

    public var isResponse: Bool { flags & Self.responseFlag != 0 }

    /// Every record of the three record sections.
    public var records: [DNSRecord] { answers + authorities + additionals }

    // MARK: Encoding

    /// The wire form, without name compression.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        for value in [id, flags, UInt16(questions.count), UInt16(answers.count), UInt16(authorities.count), UInt16(additionals.count)] {
            Self.put16(value, &out)
        }
        for question in questions {
            Self.put(question.name, &out)
            Self.put16(question.type, &out)
            Self.put16(question.recordClass | (question.unicastResponse ? 0x8000 : 0), &out)
        }
        for record in answers + authorities + additionals {
            Self.put(record.name, &out)
            Self.put16(record.data.type, &out)
            Self.put16(record.recordClass | (record.cacheFlush ? 0x8000 : 0), &out)
            Self.put16(UInt16(record.ttl >> 16), &out)
            Self.put16(UInt16(record.ttl & 0xFFFF), &out)
            var rdata: [UInt8] = []
            switch record.data {
            case .a(let b), .aaaa(let b): rdata = b
            case .ptr(let name): Self.put(name, &rdata)
            case .txt(let strings):
                // A TXT record holds at least one string (RFC 1035 §3.3.14), if only an empty one.
                for s in strings.isEmpty ? [[]] : strings { rdata.append(UInt8(min(s.count, 255))); rdata += s.prefix(255) }
            case .other(_, let b): rdata = b
            }
            Self.put16(UInt16(min(rdata.count, 0xFFFF)), &out)
            out += rdata.prefix(0xFFFF)
        }
        return out
    }

    private static func put16(_ v: UInt16, _ out: inout [UInt8]) { out.append(UInt8(v >> 8)); out.append(UInt8(v & 0xFF)) }

    private static func put(_ name: DNSName, _ out: inout [UInt8]) {
        for label in name.labels { out.append(UInt8(label.count)); out += label }
        out.append(0)
    }

    // MARK: Decoding

    /// Decodes one datagram; every rule in the header comment is checked.
    public init(decoding bytes: [UInt8]) throws(WireError) {
        guard bytes.count <= Self.maxLength else { throw .frameTooLarge(length: bytes.count, limit: Self.maxLength) }
        var reader = DNSReader(bytes: bytes)
        id = try reader.u16("the header")
        flags = try reader.u16("the header")
        let qd = Int(try reader.u16("the header")), an = Int(try reader.u16("the header"))
        let ns = Int(try reader.u16("the header")), ar = Int(try reader.u16("the header"))
        // A question takes at least 5 bytes, a record at least 11: counts past that are lies.
        guard qd * 5 + (an + ns + ar) * 11 <= bytes.count - reader.offset else {
            throw .dns("the header counts \(qd) questions and \(an + ns + ar) records, more than \(bytes.count) bytes can hold")
        }
        var questions: [DNSQuestion] = []
        for _ in 0..<qd {
            let name = try reader.name()
            let type = try reader.u16("a question")
            let cls = try reader.u16("a question")
            questions.append(DNSQuestion(name: name, type: type, recordClass: cls & 0x7FFF, unicastResponse: cls & 0x8000 != 0))
        }
        self.questions = questions
        answers = try (0..<an).map { _ throws(WireError) in try reader.record() }
        authorities = try (0..<ns).map { _ throws(WireError) in try reader.record() }
        additionals = try (0..<ar).map { _ throws(WireError) in try reader.record() }
        guard reader.offset == bytes.count else { throw .dns("\(bytes.count - reader.offset) bytes after the last record") }
    }
}

/// Reads a DNS message front to back; names may point back into what was already read.
struct DNSReader {
    static let maxJumps = 64
    let bytes: [UInt8]
    var offset = 0

    mutating func u8(_ what: String) throws(WireError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated(what) }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u16(_ what: String) throws(WireError) -> UInt16 {
        guard bytes.count - offset >= 2 else { throw .truncated(what) }
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    mutating func u32(_ what: String) throws(WireError) -> UInt32 {
        UInt32(try u16(what)) << 16 | UInt32(try u16(what))
    }

    /// A name at `offset`; afterwards `offset` is just past its end in place (the first pointer
    /// or the zero byte), wherever the pointers led.
    mutating func name() throws(WireError) -> DNSName {
        var labels: [[UInt8]] = []
        var length = 1
        var position = offset
        var resume: Int?
        var jumps = 0
        while true {
            guard position < bytes.count else { throw .truncated("a name") }
            let byte = bytes[position]
            switch byte >> 6 {
            case 0b00:
                if byte == 0 {
                    offset = resume ?? position + 1
                    return try DNSName(labels: labels)
                }
                let count = Int(byte)
                guard bytes.count - position - 1 >= count else { throw .truncated("a label") }
                length += 1 + count
                guard length <= DNSName.maxWireLength else { throw .dns("a name over \(DNSName.maxWireLength) bytes") }
                labels.append(Array(bytes[(position + 1)..<(position + 1 + count)]))
                position += 1 + count
            case 0b11:
                guard bytes.count - position >= 2 else { throw .truncated("a compression pointer") }
                let target = Int(byte & 0x3F) << 8 | Int(bytes[position + 1])
                // Only backwards, strictly before this pointer: no name can then point to itself
                // or forwards, so following pointers always ends.
                guard target < position else { throw .dns("a compression pointer at \(position) to \(target), not before it") }
                jumps += 1
                guard jumps <= Self.maxJumps else { throw .dns("a name with more than \(Self.maxJumps) compression pointers") }
                if resume == nil { resume = position + 2 }
                position = target
            default:
                throw .dns("label type 0b\(String(byte >> 6, radix: 2)) (only plain labels and pointers are allowed)")
            }
        }
    }

    mutating func record() throws(WireError) -> DNSRecord {
        let name = try name()
        let type = try u16("a record")
        let cls = try u16("a record")
        let ttl = try u32("a record")
        let length = Int(try u16("a record"))
        guard bytes.count - offset >= length else { throw .truncated("a record's data") }
        let end = offset + length
        let data: DNSRecordData
        switch type {
        case DNSRecordType.a, DNSRecordType.aaaa:
            let size = type == DNSRecordType.a ? 4 : 16
            guard length == size else { throw .dns("an \(type == DNSRecordType.a ? "A" : "AAAA") record of \(length) bytes, not \(size)") }
            let b = Array(bytes[offset..<end])
            data = type == DNSRecordType.a ? .a(b) : .aaaa(b)
            offset = end
        case DNSRecordType.ptr:
            // The name may point back before the record, but must end inside the rdata.
            let target = try self.name()
            guard offset == end else { throw .dns("a PTR record whose name does not fill its \(length) bytes of data") }
            data = .ptr(target)
        case DNSRecordType.txt:
            var strings: [[UInt8]] = []
            var position = offset
            while position < end {
                let count = Int(bytes[position])
                guard end - position - 1 >= count else { throw .dns("a TXT string running past its record's data") }
                strings.append(Array(bytes[(position + 1)..<(position + 1 + count)]))
                position += 1 + count
            }
            guard !strings.isEmpty else { throw .dns("a TXT record with no string") }
            data = .txt(strings)
            offset = end
        default:
            data = .other(type: type, Array(bytes[offset..<end]))
            offset = end
        }
        return DNSRecord(name: name, data: data, ttl: ttl, recordClass: cls & 0x7FFF, cacheFlush: cls & 0x8000 != 0)
    }
}
