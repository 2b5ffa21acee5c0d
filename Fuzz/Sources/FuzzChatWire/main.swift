// libFuzzer target: chat envelopes (ChatWire), which every chat capsule decodes from whoever
// publishes on a room's topic. Whatever decodes must re-encode to exactly the input (one
// encoding per value, so a signature means one envelope), and its text must come out free of
// terminal controls. The same holds for saved histories (ChatArchive), tried with and
// without their header. Every error's description is rendered.

import ChatWire
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzChatWire(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = fuzzBytes(start, count)
    do {
        let e = try ChatEnvelope(decoding: input)
        if e.encoded() != input { propertyFailed("envelope did not re-encode to its input", input: input) }
        if e.text.unicodeScalars.contains(where: { $0.value == 0x1B || $0.value == 0x9B || $0.value == 0x202E }) {
            propertyFailed("sanitized text still holds a terminal control", input: input)
        }
        var room = ChatRoom(name: e.room)
        _ = room.receive(e, verified: true, now: e.timestamp)
    } catch { _ = error.description }
    // The same bytes as a saved room history (ChatArchive): one encoding per value there too.
    for candidate in [input, ChatArchive.magic + input] {
        do {
            let kept = try ChatArchive.decode(candidate)
            if ChatArchive.encode(kept) != candidate { propertyFailed("archive did not re-encode to its input", input: input) }
        } catch { _ = error.description }
    }
    return 0
}
