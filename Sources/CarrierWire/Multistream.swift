// multistream-select 1.0: https://github.com/multiformats/multistream-select
// Each message is varint(len) ‖ text ‖ "\n", where len counts the newline. The dialer and listener
// both send the header `/multistream/1.0.0`; the dialer proposes a protocol, the listener echoes
// it to accept or answers `na`. `ls` is not supported (answered with `na`).

public enum Multistream {
    public static let header = "/multistream/1.0.0"
    public static let notAvailable = "na"
    /// go-libp2p's simultaneous-open proposal; we never take the role it negotiates.
    public static let simultaneousConnect = "/libp2p/simultaneous-connect"
    /// Longest message accepted (protocol ids are short; the spec's limit is 64 KiB, we keep 1 KiB).
    public static let maxMessageLength = 1024

    public static func encode(_ text: String) -> [UInt8] {
        LengthPrefixed.encode(Array(text.utf8) + [0x0a])
    }

    /// Takes one message (without its newline) off the front of `buffer`, nil if incomplete.
    public static func take(from buffer: inout [UInt8]) throws(WireError) -> String? {
        guard let raw = try LengthPrefixed.take(from: &buffer, limit: maxMessageLength) else { return nil }
        guard raw.last == 0x0a else { throw .multistream("message does not end in a newline") }
        let body = raw.dropLast()
        guard !body.contains(0x0a) else { throw .multistream("message holds more than one line") }
        guard let text = String(validating: body, as: UTF8.self) else { throw .invalidUTF8("multistream message") }
        return text
    }
}
