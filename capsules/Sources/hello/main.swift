// hello: the smallest useful capsule. Greets, echoes stdin to stdout until end of input, then
// pings the runtime (printing the round trip) and prints what `info` says about its session.
import ElastosGuest

Console.writeLine("Hello from an Elastos capsule!")

while let line = Console.readLine() {
    Console.writeLine(line)
}

do throws(GuestError) {
    let start = Capsule.monotonicNanoseconds()
    try Runtime.ping()
    let micros = (Capsule.monotonicNanoseconds() - start) / 1000
    Console.writeLine("ping: round trip \(micros) µs")
    let info = try Runtime.info()
    Console.writeLine("info: \(info.json)")
} catch {
    log("hello: \(error.description)")
    Capsule.exit(1)
}
