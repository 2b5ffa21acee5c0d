// bench: drives the capsule protocol for elastos-bench.
//   bench ping N          N pings
//   bench call N URI      N `read` calls of URI with the token in ELASTOS_BENCH_TOKEN (hex)
//   bench encode N URI    (profiling) ns per call frame built by CapsuleWire's encoder
//   bench decode N        (profiling) ns per reply frame decoded by CapsuleWire
//   bench probe N URI     (profiling) ns per step of the SDK's own encoding and decoding
// Prints "ok N" when every request got the reply it expected, else the first error.
import CapsuleWire
import ElastosGuest

let args = Capsule.arguments
guard args.count >= 3, let count = Int(args[2]) else {
    log("usage: bench ping N | bench call N URI")
    Capsule.exit(2)
}

func fromHex(_ text: String) -> [UInt8] {
    var out: [UInt8] = []
    var high: UInt8? = nil
    for c in text.utf8 {
        let v: UInt8
        switch c {
        case 0x30...0x39: v = c - 0x30
        case 0x61...0x66: v = c - 0x61 + 10
        case 0x41...0x46: v = c - 0x41 + 10
        default: continue
        }
        if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
    }
    return out
}

do throws(GuestError) {
    switch args[1] {
    case "ping":
        for _ in 0..<count { try Runtime.ping() }
    case "call" where args.count >= 4:
        let token = fromHex(Capsule.environment["ELASTOS_BENCH_TOKEN"] ?? "")
        let body: [UInt8] = [1, 2, 3, 4]
        for _ in 0..<count { _ = try Runtime.call(uri: args[3], action: .read, token: token, body: body) }
    case "encode" where args.count >= 4:
        // Guest-side cost of building one call frame, without the host: prints ns per frame.
        let token = fromHex(Capsule.environment["ELASTOS_BENCH_TOKEN"] ?? "")
        let start = Capsule.monotonicNanoseconds()
        var total = 0
        for i in 0..<count {
            total &+= CapsuleFrame.request(id: UInt32(truncatingIfNeeded: i), .call(uri: args[3], action: .read, token: token, body: [1, 2, 3, 4])).encoded().count
        }
        Console.writeLine("encode: \((Capsule.monotonicNanoseconds() - start) / UInt64(count)) ns per frame (\(total / count) bytes)")
    case "probe" where args.count >= 4:
        let token = fromHex(Capsule.environment["ELASTOS_BENCH_TOKEN"] ?? "")
        let uri = args[3]
        func time(_ label: String, _ body: () -> Int) {
            let start = Capsule.monotonicNanoseconds()
            var t = 0
            for _ in 0..<count { t &+= body() }
            Console.writeLine("\(label): \((Capsule.monotonicNanoseconds() - start) / UInt64(count)) ns (\(t % 7))")
        }
        time("utf8 prefix array") { Array(uri.utf8.prefix(4096)).count }
        time("utf8 array") { Array(uri.utf8).count }
        time("append token") { var w: [UInt8] = []; w.reserveCapacity(64); w.append(contentsOf: token); return w.count }
        time("append token loop") { var w: [UInt8] = []; w.reserveCapacity(64); for b in token { w.append(b) }; return w.count }
        time("copy+patch") { var w: [UInt8] = []; w.reserveCapacity(64); w.append(contentsOf: token); var b = w; b[0] = 1; return b.count }
        time("RequestEncoder call") { RequestEncoder.encode(id: 9, .call(uri: uri, action: .read, token: token, body: [1, 2, 3, 4])).count }
        time("RequestEncoder ping") { RequestEncoder.encode(id: 9, .ping).count }
        let reply = CapsuleFrame.runtime(id: 7, .reply(body: [1, 2, 3, 4])).encoded()
        time("decode reply") { (try? CapsuleFrame.decode(reply)) == nil ? 0 : 1 }
        let pong = CapsuleFrame.runtime(id: 7, .reply(body: [])).encoded()
        time("decode pong") { (try? CapsuleFrame.decode(pong)) == nil ? 0 : 1 }
        time("ReplyDecoder reply") { reply.withUnsafeBytes { ReplyDecoder.reply($0) } == nil ? 0 : 1 }
        time("copy 256") { Array(token[0..<100]).count }
        time("stride u32") { var w: [UInt8] = []; for s in stride(from: 24, through: 0, by: -8) { w.append(UInt8(truncatingIfNeeded: 7 >> s)) }; return w.count }
    case "decode":
        let frame = CapsuleFrame.runtime(id: 7, .reply(body: [1, 2, 3, 4])).encoded()
        let start = Capsule.monotonicNanoseconds()
        var ok = 0
        for _ in 0..<count { if (try? CapsuleFrame.decode(frame)) != nil { ok += 1 } }
        Console.writeLine("decode: \((Capsule.monotonicNanoseconds() - start) / UInt64(count)) ns per frame (\(ok) ok)")
    default:
        log("bench: unknown mode \(args[1])")
        Capsule.exit(2)
    }
    Console.writeLine("ok \(count)")
} catch {
    log("bench: \(error.description)")
    Capsule.exit(1)
}
