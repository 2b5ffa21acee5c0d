// libFuzzer target: the binary elastos://did/ bodies (DIDWire) that the runtime decodes from
// capsules: verify, seal and open requests. Each input is decoded as every request; whatever is
// accepted must encode back to exactly the input (one encoding per value) and stay within the
// limits. Every error's description is rendered.

import DIDWire
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDIDWire(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = fuzzBytes(start, count)
    do {
        let r = try DIDVerifyRequest(decoding: input)
        if r.encoded() != input { propertyFailed("verify did not re-encode to its input", input: input) }
        if r.message.count > DIDWire.maxBlob || r.signature.count > DIDWire.maxBlob { propertyFailed("verify blob over the limit", input: input) }
    } catch { _ = error.description }
    do {
        let r = try DIDSealRequest(decoding: input)
        if r.encoded() != input { propertyFailed("seal did not re-encode to its input", input: input) }
        if r.recipient.utf8.count > DIDWire.maxText || r.aad.count > DIDWire.maxBlob || r.plaintext.count > DIDWire.maxBlob {
            propertyFailed("seal field over its limit", input: input)
        }
    } catch { _ = error.description }
    do {
        let r = try DIDOpenRequest(decoding: input)
        if r.encoded() != input { propertyFailed("open did not re-encode to its input", input: input) }
        if r.aad.count > DIDWire.maxBlob || r.sealed.count > DIDWire.maxSealed { propertyFailed("open field over its limit", input: input) }
    } catch { _ = error.description }
    return 0
}
