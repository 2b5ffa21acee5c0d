// libFuzzer target: the shell capsule's messages (ShellWire: decide requests, settle messages,
// outcomes), which cross the sandbox boundary in both directions. Each input is decoded as all
// three; whatever is accepted is encoded again and must decode to an equal value, and encoding
// that must give the same bytes. Every error's description is rendered.

import ElastosPolicy
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzShellWire(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = fuzzBytes(start, count)
    do {
        let request = try ShellWire.decodeRequest(input)
        let again = ShellWire.encode(request)
        let back = try ShellWire.decodeRequest(again)
        if back != request || ShellWire.encode(back) != again { propertyFailed("request did not round-trip", input: input) }
    } catch { _ = error.description }
    do {
        let (request, answer) = try ShellWire.decodeSettle(input)
        let again = ShellWire.encodeSettle(request, answer: answer)
        let (r2, a2) = try ShellWire.decodeSettle(again)
        if r2 != request || a2 != answer || ShellWire.encodeSettle(r2, answer: a2) != again { propertyFailed("settle did not round-trip", input: input) }
    } catch { _ = error.description }
    do {
        let outcome = try ShellWire.decodeOutcome(input)
        let again = ShellWire.encode(outcome)
        let back = try ShellWire.decodeOutcome(again)
        if back != outcome || ShellWire.encode(back) != again { propertyFailed("outcome did not round-trip", input: input) }
    } catch { _ = error.description }
    return 0
}
