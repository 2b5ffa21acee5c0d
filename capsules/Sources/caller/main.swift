// caller: asks for one capability and uses it, for tests of the shell's policy and prompts.
//
//   caller PATTERN ACTIONS URI ACTION COUNT [step] [body=TEXT]
//
// Asks the runtime for ACTIONS (comma-separated) on PATTERN, prints "granted" or
// "refused: <code>: <message>", then makes COUNT calls of ACTION on URI with the token,
// printing "call N: ok" (with `body=`, "call N: ok: <reply>") or "call N: <code>: <message>".
// With `step`, it reads a line from stdin before each call, so a test can act (revoke, wait)
// between calls. The body of each call is TEXT, or "call N" without `body=`.
import CapsuleWire
import ElastosGuest

let args = Capsule.arguments
guard args.count >= 6, let count = Int(args[5]) else {
    Console.writeLine("usage: caller PATTERN ACTIONS URI ACTION COUNT [step]")
    Capsule.exit(2)
}

func action(_ name: Substring) -> Action? { Action(rawValue: String(name)) }

let wanted: ActionSet
switch ActionSet.parse(args[2]) {
case .success(let set): wanted = set
case .failure: Console.writeLine("unknown action in \(args[2])"); Capsule.exit(2)
}
guard let use = action(Substring(args[4])) else { Console.writeLine("unknown action \(args[4])"); Capsule.exit(2) }
let options = args.count > 6 ? Array(args[6...]) : []
let stepping = options.contains("step")
let fixedBody = options.first { $0.hasPrefix("body=") }.map { Array($0.utf8.dropFirst(5)) }

let token: [UInt8]
do throws(GuestError) {
    token = try Runtime.requestCapability(uri: args[1], actions: wanted, reason: "the caller test capsule wants \(args[2]) on \(args[1])")
    Console.writeLine("granted")
} catch {
    Console.writeLine("refused: \(error.description)")
    Capsule.exit(0)
}

for i in 1...max(count, 1) where count > 0 {
    if stepping, Console.readLine() == nil { break }
    do throws(GuestError) {
        let reply = try Runtime.call(uri: args[3], action: use, token: token, body: fixedBody ?? Array("call \(i)".utf8))
        // With body=, the reply too (storage tests read what they wrote).
        Console.writeLine("call \(i): ok" + (fixedBody == nil ? "" : ": " + String(decoding: reply, as: UTF8.self)))
    } catch {
        Console.writeLine("call \(i): \(error.description)")
    }
}
