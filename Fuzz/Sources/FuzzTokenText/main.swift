// libFuzzer target: the copy-pasteable token text form, CapabilityToken(text:), on the input as
// UTF-8 (invalid sequences decoded lossily, as a terminal or a JSON reader would hand them over).
//
// Properties: parsing either throws a TokenDecodingError or gives a token whose text is exactly
// the input without the whitespace the parser tolerates (spaces, then newlines, at either end),
// that re-parses to an equal token, and whose wire bytes decode to the same token.

import ElastosCore
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenText(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = fuzzBytes(start, count)
    let text = lossyText(input)
    let token: CapabilityToken
    do { token = try CapabilityToken(text: text) } catch { return 0 }

    let trimmed = trimTolerated(text)
    expect(token.text == trimmed, "parsed token prints as \(token.text.debugDescription), input (trimmed) was \(trimmed.debugDescription)", input: input)
    switch Result(catching: { () throws(TokenDecodingError) in try CapabilityToken(text: token.text) }) {
    case .success(let back): expect(back == token, "text form reparses to a different token", input: input)
    case .failure(let e): propertyFailed("text form \(token.text) does not reparse: \(e)", input: input)
    }
    switch Result(catching: { () throws(TokenDecodingError) in try CapabilityToken(encoded: token.encoded) }) {
    case .success(let back): expect(back == token && back.encoded == token.encoded, "wire bytes decode to a different token", input: input)
    case .failure(let e): propertyFailed("wire bytes \(hex(token.encoded)) of a parsed token do not decode: \(e)", input: input)
    }
    return 0
}

/// What `CapabilityToken(text:)` strips: spaces at both ends, then newlines at both ends.
func trimTolerated(_ s: String) -> String {
    var scalars = Array(s.unicodeScalars)
    for strip in [" ", "\n"] as [Unicode.Scalar] {
        while scalars.first == strip { scalars.removeFirst() }
        while scalars.last == strip { scalars.removeLast() }
    }
    var view = String.UnicodeScalarView()
    view.append(contentsOf: scalars)
    return String(view)
}
