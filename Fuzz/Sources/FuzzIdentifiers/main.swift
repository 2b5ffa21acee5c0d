// libFuzzer target: the identifier parsers — did:key (DIDKey), libp2p PeerID, CID text and
// binary forms, and multibase. The input is used both as text (lossy UTF-8) and as bytes.
//
// Properties (each parser is strict, so every accepted value has exactly one spelling):
//  * DIDKey(s): `description == s`; `PeerID(publicKey:)` of the same key parses back to it;
//  * PeerID(s): legacy base58btc (`1…`) text is exactly `description`; the CID form (`k51…`,
//    `bafz…`, `z…`) is exactly `cid.string(in:)` in the base its prefix names, and is a
//    libp2p-key CIDv1 of the identity multihash; both spellings parse to the same PeerID;
//  * CID(string: s): v0 text is exactly `description` (bare base58btc, 46 chars, `Qm`); v1 text is
//    exactly `string(in:)` the base of its prefix, and every base's spelling parses back;
//  * CID(bytes: b): `bytes == b`, and `CID(string: description)` is the same CID;
//  * Multibase.decode(s): `Multibase.encode(bytes, as: base) == s`.

import ElastosCore
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIdentifiers(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = fuzzBytes(start, count)
    let text = lossyText(input)
    checkDIDKey(text, input: input)
    checkPeerID(text, input: input)
    checkCIDText(text, input: input)
    checkCIDBytes(input)
    checkMultibase(text, input: input)
    return 0
}

func checkDIDKey(_ text: String, input: [UInt8]) {
    guard let did = try? DIDKey(text) else { return }
    expect(did.description == text, "did:key \(text.debugDescription) reformats as \(did.description)", input: input)
    expect(did.multibaseValue.hasPrefix("z6Mk") && did.keyID == did.description + "#" + did.multibaseValue,
           "did:key multibase/keyID of \(did)", input: input)
    expect((try? DIDKey(did.description)) == did && DIDKey(publicKey: did.publicKey) == did && did.publicKey.did == did,
           "did:key \(did) does not reparse to itself", input: input)
    let peer = PeerID(publicKey: did.publicKey)
    expect((try? PeerID(peer.description))?.publicKey == did.publicKey, "PeerID of did:key \(did) does not round-trip", input: input)
}

func checkPeerID(_ text: String, input: [UInt8]) {
    guard let peer = try? PeerID(text) else { return }
    if text.hasPrefix("1") || text.hasPrefix("Qm") {
        expect(peer.description == text, "PeerID \(text.debugDescription) reformats as \(peer.description)", input: input)
    } else {
        guard let base = text.unicodeScalars.first.flatMap({ Multibase(rawValue: Character($0)) }) else {
            propertyFailed("PeerID \(text.debugDescription) parsed from text without a multibase prefix", input: input)
        }
        expect(peer.cid.string(in: base) == text, "PeerID CID \(text.debugDescription) reformats as \(peer.cid.string(in: base))", input: input)
    }
    expect(peer.cid.version == .v1 && peer.cid.codec == .libp2pKey && peer.multihash.code == .identityHash
           && peer.multihash.digest == peer.publicKeyProtobuf, "PeerID \(peer) is not an identity libp2p-key CID", input: input)
    expect(peer.description.hasPrefix("12D3KooW"), "Ed25519 PeerID \(peer) does not start 12D3KooW", input: input)
    for spelling in [peer.description, peer.cid.description, peer.cid.string(in: .base36Lower), peer.cid.string(in: .base58btc)] {
        expect((try? PeerID(spelling)) == peer, "PeerID spelling \(spelling) of \(text.debugDescription) does not parse back", input: input)
    }
    expect((try? DIDKey(peer.publicKey.did.description))?.publicKey == peer.publicKey, "did:key of PeerID \(peer) does not round-trip", input: input)
}

func checkCIDText(_ text: String, input: [UInt8]) {
    guard let cid = try? CID(string: text) else { return }
    switch cid.version {
    case .v0:
        expect(cid.description == text && text.utf8.count == 46 && text.hasPrefix("Qm"),
               "CIDv0 \(text.debugDescription) reformats as \(cid.description)", input: input)
        expect(cid.codec == .dagPB && cid.multihash.code == .sha2_256 && cid.bytes.count == 34, "CIDv0 \(cid) shape", input: input)
    case .v1:
        guard let base = text.unicodeScalars.first.flatMap({ Multibase(rawValue: Character($0)) }) else {
            propertyFailed("CIDv1 \(text.debugDescription) parsed from text without a multibase prefix", input: input)
        }
        expect(cid.string(in: base) == text, "CIDv1 \(text.debugDescription) reformats as \(cid.string(in: base))", input: input)
        for other in Multibase.allCases {
            let spelled = cid.string(in: other)
            expect((try? CID(string: spelled)) == cid, "CID \(text.debugDescription) in \(other.name) (\(spelled)) does not parse back", input: input)
        }
    }
    expect(CID(cid.description) == cid, "CID description \(cid.description) does not parse back", input: input)
    expect((try? CID(bytes: cid.bytes)) == cid, "binary form of CID \(text.debugDescription) does not parse back", input: input)
    expect(CID.supportedCodecs.contains(cid.codec), "CID with unsupported codec \(cid.codec)", input: input)
}

func checkCIDBytes(_ input: [UInt8]) {
    guard let cid = try? CID(bytes: input) else { return }
    expect(cid.bytes == input, "binary CID re-encodes to \(hex(cid.bytes))", input: input)
    expect((try? CID(string: cid.description)) == cid, "binary CID's text \(cid.description) does not parse back", input: input)
    expect((try? CID(version: cid.version, codec: cid.codec, multihash: cid.multihash)) == cid,
           "binary CID \(cid) is not a valid version/codec/multihash combination", input: input)
    expect((try? Multihash(bytes: cid.multihash.bytes)) == cid.multihash, "multihash of CID \(cid) does not round-trip", input: input)
}

func checkMultibase(_ text: String, input: [UInt8]) {
    guard let (base, bytes) = try? Multibase.decode(text) else { return }
    let again = Multibase.encode(bytes, as: base)
    expect(again == text, "multibase \(text.debugDescription) (\(base.name)) re-encodes as \(again.debugDescription)", input: input)
}
