// libFuzzer target: the elastos://peer/ bodies (PeerWire), which capsules decode from the
// runtime and the runtime could one day decode from capsules. Each input is decoded as every
// message; whatever is accepted must encode back to exactly the input (one encoding per value).
// Every error's description is rendered.

import FuzzSupport
import PeerWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPeerWire(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = fuzzBytes(start, count)
    do {
        if try PeerEvent(decoding: input).encoded() != input { propertyFailed("event did not re-encode to its input", input: input) }
    } catch { _ = error.description }
    do {
        if try PeerSelf(decoding: input).encoded() != input { propertyFailed("self did not re-encode to its input", input: input) }
    } catch { _ = error.description }
    do {
        if try PeerList(decoding: input).encoded() != input { propertyFailed("list did not re-encode to its input", input: input) }
    } catch { _ = error.description }
    do {
        if try PeerPublished(decoding: input).encoded() != input { propertyFailed("published did not re-encode to its input", input: input) }
    } catch { _ = error.description }
    return 0
}
