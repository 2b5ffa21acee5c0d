// libFuzzer target: capsule protocol frames (CapsuleFrame.decode, FrameStreamDecoder,
// CapsuleFrame.encoded), the bytes a capsule writes to the runtime and the runtime to a capsule.
//
// Properties:
//  * decode: a frame that decodes re-encodes (`encoded()`) to exactly the input. The format has
//    one encoding per frame (fixed-width fields, exact length prefixes, no padding, no optional
//    fields, a decoded string is already within the 4096-byte limit that encoding applies), and
//    the re-encoding decodes to an equal frame. The frame's id is `peekID(input)`.
//  * decode follows the header: `truncated` for fewer than 4 bytes, `tooLarge` for a length over
//    the limit, `tooShort` under the 6-byte header, `truncated`/`trailingBytes(n)` when the input
//    is shorter/longer than the length says, `unsupportedVersion(v)` for a version other than 1,
//    `unknownKind(k)` for a kind outside 01–06, 81–83. A lower limit changes nothing but `tooLarge`.
//  * stream: the input fed to a FrameStreamDecoder whole, in chunks whose sizes come from the
//    input (empty appends included) and, for short inputs, byte by byte gives the same items at
//    the same offsets, the same error and the same pending bytes. Each item is exactly what
//    `decode` says about the bytes it consumed: a `.frame` re-encodes to them, a `.malformed`
//    carries decode's error and the id `peekID` reads. The stream fails only on a length over its
//    limit, and otherwise stops only before an incomplete frame. Run with the default limit and
//    with a limit next to the first frame's length.
//  * encode: frames of every kind built from the input (its text as strings, its bytes as blobs,
//    ids, actions and codes from its bytes) encode with a length prefix that counts the rest and
//    decode back to the same frame, except that strings over 4096 bytes come back as their longest
//    prefix of whole UTF-8 scalars within 4096 bytes. The frames concatenated and fed to a
//    stream in chunks come back one by one.

import ElastosCore
import FuzzSupport

let knownKinds: Set<UInt8> = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x81, 0x82, 0x83]
let maxString = 4096

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCapsuleFrame(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = fuzzBytes(start, count)

    // decode, with the default limit and a limit at the first frame's length.
    let whole = decodeResult(input, maxLength: CapsuleFrame.defaultMaxLength)
    checkDecode(whole, bytes: input, maxLength: CapsuleFrame.defaultMaxLength, input: input)
    let small = smallLimit(input)
    let limited = decodeResult(input, maxLength: small)
    checkDecode(limited, bytes: input, maxLength: small, input: input)
    if case .failure(.tooLarge) = limited {} else {
        expect(sameResult(limited, whole), "decode with limit \(small) gives \(limited), with the default \(whole)", input: input)
    }

    // The stream decoder.
    for limit in [CapsuleFrame.defaultMaxLength, small] {
        checkStream(input, maxLength: limit, decoded: decodeResult(input, maxLength: limit))
    }

    // Frames built from the input.
    checkEncoding(input)
    return 0
}

// MARK: - decode

func decodeResult(_ bytes: [UInt8], maxLength: Int) -> Result<CapsuleFrame, FrameError> {
    Result { () throws(FrameError) in try CapsuleFrame.decode(bytes, maxLength: maxLength) }
}

/// Frames compared strictly: equal, and equal on the wire (Swift's String == would let two
/// canonically equivalent but different strings through).
func same(_ a: CapsuleFrame, _ b: CapsuleFrame) -> Bool { a == b && a.encoded() == b.encoded() }

func sameResult(_ a: Result<CapsuleFrame, FrameError>, _ b: Result<CapsuleFrame, FrameError>) -> Bool {
    switch (a, b) {
    case (.success(let x), .success(let y)): same(x, y)
    case (.failure(let x), .failure(let y)): x == y
    default: false
    }
}

func length(at offset: Int, in bytes: [UInt8]) -> Int {
    Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
}

/// A limit one below, at or one above the first frame's length (from the input's last byte),
/// never above the default.
func smallLimit(_ input: [UInt8]) -> Int {
    guard input.count >= 4 else { return CapsuleFrame.headerSize }
    let n = length(at: 0, in: input)
    return min(CapsuleFrame.defaultMaxLength, max(0, n + Int(input[input.count - 1] % 3) - 1))
}

func checkDecode(_ result: Result<CapsuleFrame, FrameError>, bytes: [UInt8], maxLength: Int, input: [UInt8]) {
    // What the header alone decides.
    var expected: FrameError?
    if bytes.count < 4 {
        expected = .truncated
    } else {
        let n = length(at: 0, in: bytes)
        if n > maxLength { expected = .tooLarge(length: n, limit: maxLength) }
        else if n < CapsuleFrame.headerSize { expected = .tooShort(length: n) }
        else if bytes.count - 4 < n { expected = .truncated }
        else if bytes.count - 4 > n { expected = .trailingBytes(bytes.count - 4 - n) }
        else if bytes[4] != CapsuleFrame.version { expected = .unsupportedVersion(bytes[4]) }
        else if !knownKinds.contains(bytes[5]) { expected = .unknownKind(bytes[5]) }
    }
    switch result {
    case .failure(let e):
        if let expected { expect(e == expected, "decode fails with \(e), the header says \(expected)", input: input) }
        else {
            // Only the payload can be wrong now; a header error here would be a misreport.
            switch e {
            case .tooLarge, .tooShort, .unsupportedVersion, .unknownKind:
                propertyFailed("decode fails with \(e) on a frame whose header is fine", input: input)
            default: break
            }
        }
    case .success(let frame):
        if let expected { propertyFailed("decode accepts a frame the header rules out (\(expected)): \(frame)", input: input) }
        let again = frame.encoded()
        expect(again == bytes, "decoded \(frame) re-encodes to \(hex(again))", input: input)
        expect(frame.id == CapsuleFrame.peekID(bytes), "frame id \(frame.id), peekID \(String(describing: CapsuleFrame.peekID(bytes)))", input: input)
        switch decodeResult(again, maxLength: maxLength) {
        case .success(let back): expect(same(back, frame), "the re-encoding decodes to \(back), not \(frame)", input: input)
        case .failure(let e): propertyFailed("the re-encoding \(hex(again)) of \(frame) does not decode: \(e)", input: input)
        }
        let kind = bytes[5]
        switch frame {
        case .request: expect(kind < 0x80, "kind 0x\(String(kind, radix: 16)) decodes as a request", input: input)
        case .runtime: expect(kind >= 0x80, "kind 0x\(String(kind, radix: 16)) decodes as a runtime message", input: input)
        }
    }
}

// MARK: - Stream

/// What a stream made of an input: items with the offset each ended at, and how it stopped.
struct StreamRun {
    var items: [(item: FrameStreamDecoder.Item, end: Int)] = []
    var error: FrameError?
    /// Input consumed when the error was thrown or the feeding ended.
    var consumed = 0
    var pending = 0
}

func sameItem(_ a: FrameStreamDecoder.Item, _ b: FrameStreamDecoder.Item) -> Bool {
    switch (a, b) {
    case (.frame(let x), .frame(let y)): same(x, y)
    default: a == b
    }
}

/// Feeds `input` in pieces of the given sizes (nil: all at once), draining after each.
func feed(_ input: [UInt8], sizes: [Int]?, maxLength: Int) -> StreamRun {
    var decoder = FrameStreamDecoder(maxLength: maxLength)
    var run = StreamRun()
    var appended = 0
    let given = sizes ?? [input.count]
    let pieces = given + [input.count - min(input.count, given.reduce(0, +))]  // the rest, if any
    for size in pieces {
        let n = min(size, input.count - appended)
        decoder.append(input[appended..<(appended + n)])
        appended += n
        while true {
            do {
                guard let item = try decoder.next() else { break }
                run.items.append((item, appended - decoder.pendingBytes))
            } catch {
                run.error = error
                run.consumed = appended - decoder.pendingBytes
                run.pending = decoder.pendingBytes
                return run
            }
        }
    }
    run.consumed = appended - decoder.pendingBytes
    run.pending = decoder.pendingBytes
    return run
}

/// Sizes of chunks covering `count` bytes, taken from `input` read from its end: mostly 0–18
/// bytes, now and then up to 765.
func chunkSizes(_ input: [UInt8], covering count: Int) -> [Int] {
    guard !input.isEmpty else { return [0, count, 0] }
    var sizes: [Int] = []
    var total = 0
    var k = 0
    while total < count {
        let b = input[input.count - 1 - k % input.count]
        var n = k % 7 == 3 ? Int(b) * 3 : Int(b % 19)
        if k > 4 * count + 8 { n = count - total }  // all-zero input: finish
        n = min(n, count - total)
        sizes.append(n)
        total += n
        k += 1
    }
    return sizes
}

func checkStream(_ input: [UInt8], maxLength: Int, decoded: Result<CapsuleFrame, FrameError>) {
    let whole = feed(input, sizes: nil, maxLength: maxLength)
    var others = [("chunked", feed(input, sizes: chunkSizes(input, covering: input.count), maxLength: maxLength))]
    if input.count <= 512 {
        others.append(("byte by byte", feed(input, sizes: Array(repeating: 1, count: input.count), maxLength: maxLength)))
    }
    for (how, run) in others {
        expect(run.items.count == whole.items.count
               && zip(run.items, whole.items).allSatisfy { sameItem($0.item, $1.item) && $0.end == $1.end },
               "limit \(maxLength): fed \(how) the stream gives \(run.items.map { "\($0.item)@\($0.end)" }), fed whole \(whole.items.map { "\($0.item)@\($0.end)" })",
               input: input)
        expect(run.error == whole.error && run.consumed == whole.consumed,
               "limit \(maxLength): fed \(how) the stream stops with \(String(describing: run.error)) after \(run.consumed) bytes, fed whole with \(String(describing: whole.error)) after \(whole.consumed)",
               input: input)
        if run.error == nil {
            expect(run.pending == whole.pending, "limit \(maxLength): fed \(how) \(run.pending) bytes pending, fed whole \(whole.pending)", input: input)
        }
    }

    // Each item is what decode says about the bytes it consumed.
    var offset = 0
    for (item, end) in whole.items {
        expect(end - offset >= 4 && end <= input.count, "an item spans bytes \(offset)..<\(end)", input: input)
        let slice = Array(input[offset..<end])
        expect(length(at: 0, in: slice) == slice.count - 4, "an item spans \(slice.count) bytes, its length prefix says \(length(at: 0, in: slice))", input: input)
        let result = decodeResult(slice, maxLength: maxLength)
        switch (item, result) {
        case (.frame(let f), .success(let g)):
            expect(same(f, g), "the stream reads \(f) where decode reads \(g) at \(offset)", input: input)
            expect(f.encoded() == slice, "the stream's frame \(f) at \(offset) re-encodes to \(hex(f.encoded()))", input: input)
        case (.malformed(let id, let e), .failure(let d)):
            expect(e == d, "the stream reports \(e) where decode reports \(d) at \(offset)", input: input)
            expect(id == CapsuleFrame.peekID(slice), "the stream names id \(String(describing: id)), peekID \(String(describing: CapsuleFrame.peekID(slice))) at \(offset)", input: input)
        default:
            propertyFailed("the stream gives \(item) where decode gives \(result) for bytes \(offset)..<\(end)", input: input)
        }
        offset = end
    }
    expect(whole.consumed == offset, "the stream consumed \(whole.consumed) bytes but its items end at \(offset)", input: input)
    let rest = input.count - offset
    if let error = whole.error {
        guard rest >= 4 else { propertyFailed("the stream fails with \(error) on \(rest) bytes", input: input) }
        let n = length(at: offset, in: input)
        expect(error == .tooLarge(length: n, limit: maxLength) && n > maxLength,
               "the stream fails with \(error) before a frame of length \(n) (limit \(maxLength))", input: input)
    } else {
        expect(whole.pending == rest, "\(whole.pending) bytes pending, \(rest) not consumed", input: input)
        expect(rest < 4 || 4 + length(at: offset, in: input) > rest,
               "the stream stopped with a complete frame of \(4 + length(at: offset, in: input)) bytes in its \(rest) pending bytes", input: input)
    }
    if case .success(let f) = decoded {
        expect(whole.error == nil && whole.items.count == 1 && whole.pending == 0 && whole.items.first.map({ sameItem($0.item, .frame(f)) }) == true,
               "decode reads one frame \(f) but the stream gives \(whole.items.map(\.item)), \(String(describing: whole.error))", input: input)
    }
}

// MARK: - Encoding

/// The longest prefix of whole scalars within `maxString` UTF-8 bytes: what the wire keeps of `s`.
func kept(_ s: String) -> [UInt8] {
    var n = 0
    for scalar in s.unicodeScalars {
        let width = UTF8.width(scalar)
        if n + width > maxString { break }
        n += width
    }
    return Array(s.utf8.prefix(n))
}

func checkEncoding(_ input: [UInt8]) {
    // Parts of the input, split at 0xFF: strings, a token, an id.
    let parts = input.split(separator: 0xFF, maxSplits: 3, omittingEmptySubsequences: false).map { Array($0) }
    func part(_ i: Int) -> [UInt8] { i < parts.count ? parts[i] : [] }
    func byte(_ i: Int) -> UInt8 { input.isEmpty ? 0 : input[i % input.count] }
    func word(_ i: Int) -> UInt32 { (0..<4).reduce(UInt32(0)) { $0 << 8 | UInt32(byte(i + $1)) } }
    let uri = lossyText(part(0)), text = lossyText(part(1)), token = part(2), body = input
    let id = word(0), sub = word(4)
    let action = Action.allCases[Int(byte(8)) % Action.allCases.count]
    let actions = ActionSet(mask: byte(9) & ActionSet.validMask) ?? ActionSet([.read])
    let code = CapsuleErrorCode.allCases[Int(byte(10)) % CapsuleErrorCode.allCases.count]

    let frames: [CapsuleFrame] = [
        .request(id: id, .call(uri: uri, action: action, token: token, body: body)),
        .request(id: id, .requestCapability(uri: uri, actions: actions, reason: text)),
        .request(id: id, .ping),
        .request(id: id, .info),
        .request(id: id, .subscribe(uri: uri, token: token)),
        .request(id: id, .unsubscribe(subscription: sub)),
        .runtime(id: id, .reply(body: body)),
        .runtime(id: id, .error(code: code, message: text)),
        .runtime(id: sub, .event(subscription: id, uri: uri, body: token)),
    ]
    var stream: [UInt8] = []
    var ends: [Int] = []
    for frame in frames {
        let bytes = frame.encoded()
        expect(bytes.count >= 4 + CapsuleFrame.headerSize && length(at: 0, in: bytes) == bytes.count - 4,
               "\(frame) encodes to \(bytes.count) bytes with length prefix \(bytes.count >= 4 ? length(at: 0, in: bytes) : -1)", input: input)
        switch decodeResult(bytes, maxLength: CapsuleFrame.defaultMaxLength) {
        case .failure(let e):
            propertyFailed("a frame built from the input does not decode (\(e)): \(frame) as \(hex(bytes.prefix(64)))…", input: input)
        case .success(let back):
            expect(back.id == frame.id && back.encoded() == bytes, "\(frame) decodes to \(back), which encodes differently", input: input)
            checkKept(frame, back, input: input)
        }
        stream += bytes
        ends.append(stream.count)
    }
    let run = feed(stream, sizes: chunkSizes(input, covering: stream.count), maxLength: CapsuleFrame.defaultMaxLength)
    expect(run.error == nil && run.pending == 0 && run.items.map(\.end) == ends,
           "the encoded frames fed as a stream give \(run.items.count) items ending at \(run.items.map(\.end)), error \(String(describing: run.error)), \(run.pending) pending; expected ends \(ends)",
           input: input)
    for ((item, _), frame) in zip(run.items, frames) {
        guard case .frame(let f) = item, f.encoded() == frame.encoded() else {
            propertyFailed("the stream gives \(item) for \(frame)", input: input)
        }
    }
}

/// The strings the wire kept of `sent`'s, and everything else unchanged.
func keptFields(_ sent: CapsuleFrame, _ got: CapsuleFrame) -> String? {
    func str(_ name: String, _ s: String, _ g: String) -> String? {
        Array(g.utf8) == kept(s) ? nil : "\(name): sent \(s.utf8.count) bytes, got back \(g.utf8.count) bytes, expected \(kept(s).count)"
    }
    guard sent.id == got.id else { return "id \(sent.id) came back as \(got.id)" }
    switch (sent, got) {
    case (.request(_, .call(let u, let a, let t, let b)), .request(_, .call(let u2, let a2, let t2, let b2))):
        return str("uri", u, u2) ?? (a == a2 && t == t2 && b == b2 ? nil : "action, token or body changed")
    case (.request(_, .requestCapability(let u, let a, let r)), .request(_, .requestCapability(let u2, let a2, let r2))):
        return str("uri", u, u2) ?? str("reason", r, r2) ?? (a == a2 ? nil : "actions changed")
    case (.request(_, .ping), .request(_, .ping)), (.request(_, .info), .request(_, .info)):
        return nil
    case (.request(_, .subscribe(let u, let t)), .request(_, .subscribe(let u2, let t2))):
        return str("uri", u, u2) ?? (t == t2 ? nil : "token changed")
    case (.request(_, .unsubscribe(let s)), .request(_, .unsubscribe(let s2))):
        return s == s2 ? nil : "subscription changed"
    case (.runtime(_, .reply(let b)), .runtime(_, .reply(let b2))):
        return b == b2 ? nil : "body changed"
    case (.runtime(_, .error(let c, let m)), .runtime(_, .error(let c2, let m2))):
        return str("message", m, m2) ?? (c == c2 ? nil : "code changed")
    case (.runtime(_, .event(let s, let u, let b)), .runtime(_, .event(let s2, let u2, let b2))):
        return str("uri", u, u2) ?? (s == s2 && b == b2 ? nil : "subscription or body changed")
    default:
        return "another kind of frame"
    }
}

func checkKept(_ sent: CapsuleFrame, _ got: CapsuleFrame, input: [UInt8]) {
    if let problem = keptFields(sent, got) { propertyFailed("\(sent) came back as \(got): \(problem)", input: input) }
}
