// libFuzzer target: Circuit Relay v2 hop and stop messages (CarrierWire/RelayMessage.swift),
// which a relay decodes from any peer and a client from any relay, and DCUtR's HolePunch
// (CarrierWire/HolePunchMessage.swift), and the signed envelopes relays and identify carry
// with the voucher and peer record inside (CarrierWire/SignedEnvelope.swift). Each input is decoded as each of the three; whatever is accepted must survive encode → decode unchanged (unknown fields are skipped,
// so the input itself need not be reproduced). Every error's description is rendered.

import CarrierWire
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRelayWire(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = fuzzBytes(start, count)
    do {
        let hop = try HopMessage(decoding: input)
        if (try? HopMessage(decoding: hop.bytes)) != hop { propertyFailed("hop message did not round-trip", input: input) }
    } catch { _ = error.description }
    do {
        let stop = try StopMessage(decoding: input)
        if (try? StopMessage(decoding: stop.bytes)) != stop { propertyFailed("stop message did not round-trip", input: input) }
    } catch { _ = error.description }
    do {
        let punch = try HolePunchMessage(decoding: input)
        if (try? HolePunchMessage(decoding: punch.bytes)) != punch { propertyFailed("DCUtR message did not round-trip", input: input) }
    } catch { _ = error.description }
    do {
        let envelope = try SignedEnvelope(decoding: input)
        if (try? SignedEnvelope(decoding: envelope.bytes)) != envelope { propertyFailed("envelope did not round-trip", input: input) }
    } catch { _ = error.description }
    do {
        let record = try PeerRecord(decoding: input)
        if (try? PeerRecord(decoding: record.bytes)) != record { propertyFailed("peer record did not round-trip", input: input) }
        _ = record.parsedAddresses
    } catch { _ = error.description }
    do {
        let voucher = try ReservationVoucher(decoding: input)
        if (try? ReservationVoucher(decoding: voucher.bytes)) != voucher { propertyFailed("voucher did not round-trip", input: input) }
    } catch { _ = error.description }
    // A stream of length-prefixed messages, as read from a hop stream.
    var buffer = input
    while let message = try? LengthPrefixed.take(from: &buffer, limit: CircuitRelay.maxMessageLength) {
        _ = try? HopMessage(decoding: message)
    }
    return 0
}
