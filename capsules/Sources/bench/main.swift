// bench: drives the capsule protocol for elastos-bench.
//   bench ping N          N pings
//   bench call N URI      N `read` calls of URI with the token in ELASTOS_BENCH_TOKEN (hex)
// Prints "ok N" when every request got the reply it expected, else the first error.
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
    default:
        log("bench: unknown mode \(args[1])")
        Capsule.exit(2)
    }
    Console.writeLine("ok \(count)")
} catch {
    log("bench: \(error.description)")
    Capsule.exit(1)
}
