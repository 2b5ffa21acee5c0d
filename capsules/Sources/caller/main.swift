// caller: asks for one capability and uses it, for tests of the shell's policy and prompts.
//
//   caller PATTERN ACTIONS URI ACTION COUNT [step]
//
// Asks the runtime for ACTIONS (comma-separated) on PATTERN, prints "granted" or
// "refused: <code>: <message>", then makes COUNT calls of ACTION on URI with the token,
// printing "call N: ok" or "call N: <code>: <message>" for each. With `step`, it reads a line
// from stdin before each call, so a test can act (revoke, wait) between calls.
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
let stepping = args.count > 6 && args[6] == "step"

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
        _ = try Runtime.call(uri: args[3], action: use, token: token, body: Array("call \(i)".utf8))
        Console.writeLine("call \(i): ok")
    } catch {
        Console.writeLine("call \(i): \(error.description)")
    }
}
