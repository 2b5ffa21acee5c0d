// libFuzzer target: resource URIs and grant patterns (ResourceURI(_:), ResourcePattern(_:)).
//
// The input is `a` or `a\nb` (a newline can never be part of a resource, so nothing is lost).
// Properties:
//  * canonical text is a fixpoint: parsing `.text` gives the same value, and normalising never
//    lengthens the input;
//  * a URI is also a pattern, the exact one, that matches it; `u/*` never matches `u` but matches
//    `u/x`; `scheme://*` matches every URI in the scheme; no URI parses from a wildcard pattern;
//  * `matches` agrees with the structural definition (same scheme and authority, segment prefix)
//    for the URI `b`;
//  * `p.isSubset(of: q)` (delegation narrowing) holds exactly when `q` matches two distinct
//    witnesses of `p` (for `u/*`: `u/w0` and `u/w1`; for `s://*`: `s://w0` and `s://w1`; for an
//    exact `u`: `u` itself), which characterises the subset relation for these pattern shapes.

import ElastosCore
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzResource(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = fuzzBytes(start, count)
    let parts = input.split(separator: 0x0A, maxSplits: 1, omittingEmptySubsequences: false)
    let a = lossyText(parts[0])
    let b = parts.count > 1 ? lossyText(parts[1]) : nil

    let uriA = uri(a)
    let patA = pattern(a)
    if let u = uriA { checkURI(u, from: a, input: input) }
    if let p = patA { checkPattern(p, from: a, input: input) }
    if let u = uriA {
        guard let p = patA, case .exact(let e) = p.kind, e == u, p.text == u.text else {
            propertyFailed("URI \(u.text.debugDescription) parses, but as a pattern gives \(patA.map { "\($0.kind)" } ?? "an error")", input: input)
        }
    }
    if let p = patA, case .exact = p.kind {} else if patA != nil {
        expect(uriA == nil, "wildcard pattern \(a.debugDescription) also parses as a URI", input: input)
    }

    guard let b else { return 0 }
    let uriB = uri(b)
    let patB = pattern(b)
    if let v = uriB { checkURI(v, from: b, input: input) }
    if let q = patB { checkPattern(q, from: b, input: input) }
    if let p = patA, let v = uriB {
        let structural: Bool
        switch p.kind {
        case .exact(let u): structural = u == v
        case .below(let u):
            structural = v.scheme == u.scheme && v.authority == u.authority && v.segments.count > u.segments.count
                && Array(v.segments.prefix(u.segments.count)) == u.segments
        case .scheme(let s): structural = v.scheme == s
        }
        expect(p.matches(v) == structural,
               "\(p.text.debugDescription).matches(\(v.text.debugDescription)) is \(p.matches(v)), structurally \(structural)", input: input)
    }
    for (p, q) in [(patA, patB), (patB, patA)] {
        guard let p, let q, let ws = witnesses(p) else { continue }
        let sub = p.isSubset(of: q)
        let covered = ws.allSatisfy(q.matches)
        expect(sub == covered, "\(p.text.debugDescription).isSubset(of: \(q.text.debugDescription)) is \(sub), but its witnesses are \(covered ? "" : "not ")all covered", input: input)
    }
    return 0
}

func uri(_ s: String) -> ResourceURI? { try? ResourceURI(s) }
func pattern(_ s: String) -> ResourcePattern? { try? ResourcePattern(s) }

/// Room for `/w0` or `/*` after a canonical text, within the length limit.
func hasRoom(_ text: String) -> Bool { text.utf8.count + 3 <= ResourceError.maxLength }

func child(_ u: ResourceURI, _ segment: String) -> ResourceURI { try! ResourceURI(u.text + "/" + segment) }

/// Resources `p` covers that pin down what it covers (see the header); nil when they would be
/// over the length limit.
func witnesses(_ p: ResourcePattern) -> [ResourceURI]? {
    switch p.kind {
    case .exact(let u): return [u]
    case .below(let u): return hasRoom(u.text) ? [child(u, "w0"), child(u, "w1")] : nil
    case .scheme(let s): return hasRoom(s + "://") ? [try! ResourceURI(s + "://w0"), try! ResourceURI(s + "://w1")] : nil
    }
}

func checkURI(_ u: ResourceURI, from raw: String, input: [UInt8]) {
    guard let again = uri(u.text) else {
        propertyFailed("canonical URI \(u.text.debugDescription) (from \(raw.debugDescription)) does not reparse", input: input)
    }
    expect(again == u && again.text == u.text, "canonical URI \(u.text.debugDescription) reparses as \(again.text.debugDescription)", input: input)
    expect(u.text.utf8.count <= raw.utf8.count, "canonical URI \(u.text.debugDescription) is longer than \(raw.debugDescription)", input: input)
    expect(u.description == u.text, "description differs from text", input: input)
    var rebuilt = u.scheme + "://" + u.authority
    for s in u.segments { rebuilt += "/" + s }
    expect(rebuilt == u.text, "text \(u.text.debugDescription) is not scheme://authority/segments (\(rebuilt.debugDescription))", input: input)
    expect(!u.authority.isEmpty && !u.segments.contains { $0.isEmpty || $0 == "." || $0 == ".." || $0.contains("/") },
           "URI \(u.text.debugDescription) has an empty authority or a dot/empty segment", input: input)
    expect(u.scheme == u.scheme.lowercased(), "scheme \(u.scheme.debugDescription) is not lower case", input: input)
    expect(u.text.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "*") }, "URI \(u.text.debugDescription) has a space, control, non-ASCII or '*'", input: input)

    guard let exact = pattern(u.text), case .exact(let e) = exact.kind, e == u else {
        propertyFailed("URI \(u.text.debugDescription) is not an exact pattern", input: input)
    }
    expect(exact.matches(u), "exact pattern does not match its own URI \(u.text.debugDescription)", input: input)
    guard hasRoom(u.text) else { return }
    guard let below = pattern(u.text + "/*"), case .below(let bu) = below.kind, bu == u else {
        propertyFailed("\((u.text + "/*").debugDescription) is not the pattern below \(u.text.debugDescription)", input: input)
    }
    expect(!below.matches(u), "\(below.text.debugDescription) matches \(u.text.debugDescription) itself", input: input)
    expect(below.matches(child(u, "x")), "\(below.text.debugDescription) does not match a child", input: input)
    expect(!exact.isSubset(of: below) && below.isSubset(of: below) && pattern(child(u, "x").text)!.isSubset(of: below),
           "subset relation between \(u.text.debugDescription), a child and \(below.text.debugDescription) is wrong", input: input)
    guard let all = pattern(u.scheme + "://*"), case .scheme(let s) = all.kind, s == u.scheme else {
        propertyFailed("\(u.scheme)://* is not a scheme pattern", input: input)
    }
    expect(all.matches(u) && exact.isSubset(of: all) && below.isSubset(of: all) && !all.isSubset(of: below),
           "scheme pattern \(all.text) and \(u.text.debugDescription) disagree", input: input)
}

func checkPattern(_ p: ResourcePattern, from raw: String, input: [UInt8]) {
    guard let again = pattern(p.text) else {
        propertyFailed("canonical pattern \(p.text.debugDescription) (from \(raw.debugDescription)) does not reparse", input: input)
    }
    expect(again == p && again.text == p.text, "canonical pattern \(p.text.debugDescription) reparses as \(again.text.debugDescription)", input: input)
    expect(p.text.utf8.count <= raw.utf8.count, "canonical pattern \(p.text.debugDescription) is longer than \(raw.debugDescription)", input: input)
    expect(p.isSubset(of: p), "\(p.text.debugDescription) is not a subset of itself", input: input)
    expect(ResourcePattern(kind: p.kind) == p, "pattern rebuilt from its kind differs", input: input)
    switch p.kind {
    case .exact(let u):
        expect(p.text == u.text && uri(p.text) == u && p.matches(u), "exact pattern \(p.text.debugDescription) vs its URI", input: input)
    case .below(let u):
        expect(p.text == u.text + "/*" && uri(u.text) == u, "below pattern \(p.text.debugDescription) vs its base \(u.text.debugDescription)", input: input)
        expect(!p.matches(u) && (witnesses(p) ?? []).allSatisfy(p.matches), "below pattern \(p.text.debugDescription) matching its base or children", input: input)
    case .scheme(let s):
        expect(p.text == s + "://*" && (witnesses(p) ?? []).allSatisfy(p.matches), "scheme pattern \(p.text.debugDescription)", input: input)
    }
    for w in witnesses(p) ?? [] {
        expect(pattern(w.text).map { $0.isSubset(of: p) } == true, "witness \(w.text.debugDescription) is not a subset of \(p.text.debugDescription)", input: input)
    }
}
