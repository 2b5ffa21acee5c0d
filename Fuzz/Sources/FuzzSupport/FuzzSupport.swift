// Shared by the fuzz targets: turning libFuzzer's buffer into bytes and text, and failing an
// input loudly when a property does not hold (message, input in hex, then a trap, which libFuzzer
// reports as a deadly signal and saves as a crash-* artifact).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The fuzzer's input as bytes.
public func fuzzBytes(_ start: UnsafeRawPointer, _ count: Int) -> [UInt8] {
    Array(UnsafeRawBufferPointer(start: start, count: count))
}

/// The input as text: invalid UTF-8 becomes U+FFFD, as any reader of untrusted text would see it.
public func lossyText(_ bytes: some Collection<UInt8>) -> String {
    String(decoding: bytes, as: UTF8.self)
}

/// Lowercase hex, for failure reports.
public func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// Reports a broken property and aborts, so libFuzzer keeps the input.
public func propertyFailed(_ message: String, input: [UInt8], file: StaticString = #fileID, line: UInt = #line) -> Never {
    let report = """
        ==== FUZZ PROPERTY FAILED (\(file):\(line)) ====
        \(message)
        input (\(input.count) bytes, hex): \(hex(input))
        input (text): \(lossyText(input).debugDescription)

        """
    let bytes = Array(report.utf8)
    var written = 0
    while written < bytes.count {
        let n = bytes.withUnsafeBytes { write(2, $0.baseAddress! + written, $0.count - written) }
        if n <= 0 { break }
        written += n
    }
    abort()
}

/// Checks one property of the current input.
@inline(__always)
public func expect(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, input: [UInt8],
                   file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { propertyFailed(message(), input: input, file: file, line: line) }
}
