// libFuzzer target: capability token wire bytes (CapabilityToken(encoded:)) and the verifier's
// byte entry point (CapabilityVerifier.authorize(_:for:)).
//
// Properties, for every input:
//  * decoding either throws a TokenDecodingError or gives a token whose `encoded` is exactly the
//    input (one encoding per token), with the chain shape the format promises (1…8 links, only
//    the root without a parent, 32-byte parents, 64-byte signatures, canonical resources,
//    printable holders, depth < 8);
//  * a decoded token's text form parses back to an equal token, also with surrounding
//    whitespace;
//  * authorize() with a runtime key made fresh for this process (so no input carries its
//    signature) always denies: `malformed`/`unsupportedVersion` exactly when decoding failed,
//    otherwise `invalidSignature` or `untrustedIssuer`; asking again (the signature-cache path),
//    checkStanding() and dryRun() give the same answer.

import ElastosCore
import FuzzSupport

enum Fixture {
    static let runtimeKey = SigningKey()
    static let request = CapabilityRequest(
        caller: "fuzz-capsule", action: .read, resource: try! ResourceURI("localhost://storage/fuzz/file"))
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenBinary(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = fuzzBytes(start, count)
    // A verifier per input: its signature cache is exercised by the repeat call below, and
    // nothing decoded outlives the input. (Tokens kept alive across inputs show up as false
    // "direct leaks": Swift stores the tag of ResourcePattern.Kind.below in spare high bits of a
    // pointer, where LeakSanitizer does not recognise the reference.)
    let verifier = CapabilityVerifier(
        runtimeKey: Fixture.runtimeKey.publicKey, ledger: InMemoryLedger(), audit: DiscardingAuditSink(),
        cacheCapacity: 4, clock: { 1_750_000_000 })
    let request = Fixture.request

    var decodeError: TokenDecodingError?
    var token: CapabilityToken?
    do { token = try CapabilityToken(encoded: input) } catch { decodeError = error }

    if let token {
        checkDecoded(token, input: input)
    }

    let first = verifier.authorize(input, for: request)
    switch first {
    case .success(let use):
        propertyFailed("authorize accepted bytes not signed by the runtime key (token \(use.tokenID))", input: input)
    case .failure(let e):
        if let decodeError {
            let expected: CapabilityError
            if case .unsupportedVersion(let v) = decodeError { expected = .unsupportedVersion(v) } else { expected = .malformed(decodeError) }
            expect(e == expected, "undecodable bytes denied with \(e), expected \(expected)", input: input)
        } else {
            switch e {
            case .invalidSignature(let link):
                expect(link >= 0 && link < token!.links.count, "invalidSignature names link \(link) of \(token!.links.count)", input: input)
                expect(!token!.links[link].hasValidSignature, "invalidSignature names link \(link), whose signature is valid", input: input)
                expect(token!.links[..<link].allSatisfy(\.hasValidSignature), "invalidSignature(link: \(link)) is not the first bad link", input: input)
            case .untrustedIssuer:
                expect(token!.links.allSatisfy(\.hasValidSignature), "untrustedIssuer although a signature is invalid", input: input)
                expect(token!.root.issuer != Fixture.runtimeKey.publicKey, "untrustedIssuer for the runtime's own root", input: input)
            default:
                propertyFailed("decoded token denied with \(e); only invalidSignature/untrustedIssuer can precede the issuer check", input: input)
            }
        }
    }
    let again = verifier.authorize(input, for: request)
    expect(again == first, "second authorize (cache path) gave \(again), first gave \(first)", input: input)
    if let token {
        let byToken = verifier.authorize(token, for: request)
        expect(byToken == first, "authorize(token) gave \(byToken), authorize(bytes) gave \(first)", input: input)
        let standing = verifier.checkStanding(token)
        expect(standing == first, "checkStanding gave \(standing), authorize gave \(first)", input: input)
        let dry = verifier.dryRun(token, for: request)
        expect(dry == first, "dryRun gave \(dry), authorize gave \(first)", input: input)
    }
    return 0
}

func checkDecoded(_ token: CapabilityToken, input: [UInt8]) {
    expect(token.encoded == input, "decoded token re-encodes to \(hex(token.encoded))", input: input)
    let links = token.links
    expect((1...CapabilityToken.maxChainLength).contains(links.count), "chain of \(links.count) links", input: input)
    expect(input.count >= 2 && input[0] == CapabilityToken.version && Int(input[1]) == links.count,
           "header does not match \(links.count) links", input: input)
    for (i, link) in links.enumerated() {
        if i == 0 {
            expect(link.parent == nil, "root link has a parent", input: input)
        } else {
            expect(link.parent?.count == 32, "link \(i) parent is \(link.parent.map { "\($0.count) bytes" } ?? "missing")", input: input)
        }
        expect(link.signature.count == 64, "link \(i) signature is \(link.signature.count) bytes", input: input)
        expect(link.id.bytes.count == 16, "link \(i) id is \(link.id.bytes.count) bytes", input: input)
        expect(link.issuer.bytes.count == 32, "link \(i) issuer is \(link.issuer.bytes.count) bytes", input: input)
        let holder = Array(link.holder.utf8)
        expect((1...256).contains(holder.count) && holder.allSatisfy { (0x21...0x7E).contains($0) },
               "link \(i) holder \(link.holder.debugDescription) is not 1-256 printable ASCII", input: input)
        expect(Int(link.delegationDepth) < CapabilityToken.maxChainLength, "link \(i) depth \(link.delegationDepth)", input: input)
        expect(!link.actions.isEmpty && link.actions.mask & ~ActionSet.validMask == 0, "link \(i) actions \(link.actions.mask)", input: input)
        expect(link.maxUses != 0, "link \(i) has maxUses 0", input: input)
        // The resource as carried is canonical: it parses to itself.
        switch Result(catching: { () throws(ResourceError) in try ResourcePattern(link.resource.text) }) {
        case .success(let p):
            expect(p == link.resource && p.text == link.resource.text,
                   "link \(i) resource \(link.resource.text.debugDescription) reparses as \(p.text.debugDescription)", input: input)
        case .failure(let e):
            propertyFailed("link \(i) resource \(link.resource.text.debugDescription) does not reparse: \(e)", input: input)
        }
        expect(link.digest.count == 32, "link \(i) digest is \(link.digest.count) bytes", input: input)
        if let did = link.holderDID {
            expect(did.description == link.holder, "link \(i) holder did:key reformats as \(did)", input: input)
        }
    }
    expect(token.leaf == links[links.count - 1] && token.root == links[0] && token.id == token.leaf.id,
           "leaf/root/id accessors disagree with links", input: input)

    // Text form: `ecap1_` + base58btc, parsing back to the same token (and the same bytes).
    let text = token.text
    expect(text.hasPrefix(CapabilityToken.textPrefix) && token.description == text, "text form \(text)", input: input)
    for spelled in [text, " \(text)\n", "\(text)\n\n", "  \(text)  "] {
        switch Result(catching: { () throws(TokenDecodingError) in try CapabilityToken(text: spelled) }) {
        case .success(let back):
            expect(back == token && back.encoded == input && back.hashValue == token.hashValue,
                   "text \(spelled.debugDescription) parses to a different token", input: input)
        case .failure(let e):
            propertyFailed("text form \(spelled.debugDescription) of a decoded token does not parse: \(e)", input: input)
        }
    }
}
