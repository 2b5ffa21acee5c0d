// libFuzzer target: DNS messages as mDNS discovery receives them from anyone on the link
// (CarrierWire/DNSMessage.swift, MDNSPeerRecords.swift). Whatever decodes must encode (without
// compression) to bytes that decode to the same message, and reading peers or queries out of it
// must not trap. Every error's description is rendered.

import CarrierWire
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDNSMessage(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = fuzzBytes(start, count)
    do {
        let message = try DNSMessage(decoding: input)
        let again: DNSMessage
        do { again = try DNSMessage(decoding: message.encoded()) } catch {
            propertyFailed("a decoded message re-encoded to bytes that do not decode: \(error)", input: input)
        }
        if again != message { propertyFailed("a decoded message re-encoded to a different message", input: input) }
        _ = MDNSPeerRecords.asksForPeers(message)
        for (peer, addresses) in MDNSPeerRecords.peers(in: message) {
            _ = peer.description
            _ = addresses.map(\.description)
        }
        _ = message.records.map(\.name.description)
    } catch { _ = error.description }
    return 0
}
