// elastos-wasm-run: runs one WASM capsule under ElastosWasm with a local handler, for the tests
// that run real (Swift) guests and for trying a guest by hand. Built in release: a debug WasmKit
// is 100× slower.
//
//   swift build -c release --product elastos-wasm-run
//   elastos-wasm-run capsules/hello/hello.wasm [options] [-- guest args…]
//
// The guest's stdio is this process's. The last line on stderr says how the guest ended:
// "elastos-wasm-run: exited with code 0", "elastos-wasm-run: stopped: wall-clock limit …".

import CapsuleWire
import ElastosCore
import ElastosWasm
import Foundation

let usage = """
    usage: elastos-wasm-run MODULE.wasm [options] [-- ARGS…]
      --name NAME            argv[0] (default: the module's file name without .wasm)
      --env KEY=VALUE        an environment variable for the guest (repeatable)
      --dir HOST:GUEST[:ro]  preopen HOST as GUEST, read-only with :ro (repeatable)
      --memory-mb N          memory cap (default 64)
      --fuel N               instruction budget (default none)
      --wall-ms N            wall-clock limit (default none)
      --cpu-ms N             CPU-time limit of the guest's thread (default none)
      --max-frame N          frame length limit (default 1 MiB)
      --stdin inherit|null   (default inherit)
      --handler echo|checked echo: ping/info/call-echo; checked: calls go through the twelve checks
      --session ID           the caller id the checked handler authorizes as (default wasm-session-1)
      --mint-tokens          checked: give the guest ELASTOS_TOKEN_OWN / _OTHER / _EXPIRED (hex)
      --audit                print audit decisions and sandbox refusals to stderr ("audit: …")
    exit status: the guest's code if it exited, else 125 (failed to start), 134 (trap),
    137 (memory), 152 (fuel or CPU time), 142 (wall clock), 143 (stopped)
    """

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("elastos-wasm-run: \(message)\n".utf8))
    exit(2)
}

/// Prints to stderr, a line at a time, from any thread.
final class Log: Sendable {
    func line(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }
}
let log = Log()

struct Options {
    var modulePath = ""
    var name = ""
    var guestArgs: [String] = []
    var environment: [String: String] = [:]
    var preopens: [Preopen] = []
    var memoryMB = 64, fuel: UInt64? = nil, wallMS: Int? = nil, cpuMS: Int? = nil, maxFrame = CapsuleFrame.defaultMaxLength
    var stdin = StdioTarget.inherit, handler = "echo", session = "wasm-session-1", mint = false, audit = false

    static func parse(_ arguments: [String]) -> Options {
        var args = arguments
        if args.isEmpty || args.contains("--help") || args.contains("-h") { print(usage); exit(args.isEmpty ? 2 : 0) }
        var o = Options()
        if let dash = args.firstIndex(of: "--") { o.guestArgs = Array(args[(dash + 1)...]); args = Array(args[..<dash]) }
        o.modulePath = args.removeFirst()
        o.name = URL(fileURLWithPath: o.modulePath).deletingPathExtension().lastPathComponent
        var i = 0
        func value() -> String {
            i += 1
            guard i < args.count else { fail("\(args[i - 1]) needs a value") }
            return args[i]
        }
        func number<T: FixedWidthInteger>(_ text: String, _ flag: String) -> T {
            guard let n = T(text), n > 0 else { fail("\(flag): '\(text)' is not a positive number") }
            return n
        }
        while i < args.count {
            let flag = args[i]
            switch flag {
            case "--name": o.name = value()
            case "--env":
                let kv = value()
                guard let eq = kv.firstIndex(of: "=") else { fail("--env: expected KEY=VALUE, got '\(kv)'") }
                o.environment[String(kv[..<eq])] = String(kv[kv.index(after: eq)...])
            case "--dir":
                var parts = value().split(separator: ":", omittingEmptySubsequences: false).map(String.init)
                let readOnly = parts.count == 3 && parts[2] == "ro"
                if readOnly { parts.removeLast() }
                guard parts.count == 2 else { fail("--dir: expected HOST:GUEST[:ro]") }
                o.preopens.append(Preopen(hostPath: parts[0], guestPath: parts[1], readOnly: readOnly))
            case "--memory-mb": o.memoryMB = number(value(), flag)
            case "--fuel": o.fuel = number(value(), flag)
            case "--wall-ms": o.wallMS = number(value(), flag)
            case "--cpu-ms": o.cpuMS = number(value(), flag)
            case "--max-frame": o.maxFrame = number(value(), flag)
            case "--stdin":
                switch value() {
                case "inherit": o.stdin = .inherit
                case "null": o.stdin = .null
                case let other: fail("--stdin: '\(other)' is neither inherit nor null")
                }
            case "--handler": o.handler = value()
            case "--session": o.session = value()
            case "--mint-tokens": o.mint = true
            case "--audit": o.audit = true
            default: fail("unknown option '\(flag)'\n\(usage)")
            }
            i += 1
        }
        return o
    }
}

let options = Options.parse(Array(CommandLine.arguments.dropFirst()))
var environment = options.environment

/// Prints audit decisions as they are made.
struct PrintingAuditSink: AuditSink {
    func record(_ event: AuditEvent) {
        log.line("audit: \(event.event) \(event.decision) \(event.subject) \(event.action) \(event.resource): \(event.reason)")
    }
}

/// ping, info, echoing calls (a call needs some token), nothing granted.
struct EchoHandler: CapsuleRequestHandler {
    let session: String, capsule: String, audit: Bool
    func handle(_ request: CapsuleRequest, id: UInt32) -> RuntimeMessage {
        switch request {
        case .ping: return .reply(body: [])
        case .info: return .reply(body: Array(#"{"session":"\#(session)","capsule":"\#(capsule)","cid":"","substrate":"wasm","protocol":1}"#.utf8))
        case .call(_, _, let token, let body):
            return token.isEmpty ? .error(code: .missingToken, message: "a call needs a token") : .reply(body: body)
        case .requestCapability: return .error(code: .capabilityRefused, message: "this runner grants nothing")
        case .subscribe: return .error(code: .noProvider, message: "this runner has no events")
        case .unsubscribe(let s): return .error(code: .unknownSubscription, message: "no subscription \(s)")
        case .served, .serveFailed: return .error(code: .invalidRequest, message: "this runner hands guests no calls to answer")
        }
    }
    func sandboxRefused(_ refusal: SandboxRefusal) { if audit { log.line("audit: sandbox.refused \(refusal)") } }
}

/// Calls authorized by the twelve checks against a runtime key made for this run, then echoed.
struct CheckedHandler: CapsuleRequestHandler {
    let echo: EchoHandler
    let verifier: CapabilityVerifier
    func handle(_ request: CapsuleRequest, id: UInt32) -> RuntimeMessage {
        guard case .call(let uri, let action, let token, let body) = request else { return echo.handle(request, id: id) }
        guard !token.isEmpty else {
            verifier.audit.record(AuditEvent(event: "capability.missing_token", subject: echo.session, resource: uri,
                                             action: action.rawValue, decision: .deny, reason: "a call without a token"))
            return .error(code: .missingToken, message: "a call needs a token")
        }
        let resource: ResourceURI
        do { resource = try ResourceURI(uri) } catch { return .error(code: .invalidURI, message: error.description) }
        switch verifier.authorize(token, for: CapabilityRequest(caller: echo.session, action: action, resource: resource)) {
        case .success: return .reply(body: body)
        case .failure(let e): return .error(code: .denied, message: e.description)
        }
    }
    func sandboxRefused(_ refusal: SandboxRefusal) { echo.sandboxRefused(refusal) }
}

let clock: @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970) }
let echo = EchoHandler(session: options.session, capsule: options.name, audit: options.audit)
let handler: any CapsuleRequestHandler
switch options.handler {
case "echo":
    handler = echo
case "checked":
    let key = SigningKey()
    let sink: any AuditSink = options.audit ? PrintingAuditSink() : DiscardingAuditSink()
    let verifier = CapabilityVerifier(runtimeKey: key.publicKey, ledger: InMemoryLedger(), audit: sink, clock: clock)
    handler = CheckedHandler(echo: echo, verifier: verifier)
    if options.mint {
        let issuer = TokenIssuer(key: key), now = clock()
        func mintToken(_ holder: String, _ pattern: String, _ actions: [Action], issuedAt: UInt64, expiry: UInt64) -> String {
            do {
                let grant = Grant(holder: holder, resource: try ResourcePattern(pattern), actions: ActionSet(actions), expiry: expiry)
                return Hex.encode(try issuer.issue(grant, epoch: 0, now: issuedAt).encoded)
            } catch { fail("cannot mint a token for \(holder): \(error)") }
        }
        environment["ELASTOS_TOKEN_OWN"] = mintToken(options.session, "localhost://storage/apps/intruder/public/*", [.read], issuedAt: now, expiry: now + 3600)
        environment["ELASTOS_TOKEN_OTHER"] = mintToken("wasm-session-other", "localhost://storage/apps/intruder/*", [.read, .write], issuedAt: now, expiry: now + 3600)
        environment["ELASTOS_TOKEN_EXPIRED"] = mintToken(options.session, "localhost://storage/apps/intruder/*", [.read], issuedAt: now - 7200, expiry: now - 3600)
    }
default:
    fail("--handler: '\(options.handler)' is neither echo nor checked")
}

guard let bytes = FileManager.default.contents(atPath: options.modulePath) else { fail("cannot read \(options.modulePath)") }
let launch = WasmLaunch(
    module: [UInt8](bytes), name: options.name, args: options.guestArgs, environment: environment, stdin: options.stdin,
    preopens: options.preopens, memoryLimitBytes: options.memoryMB << 20, fuel: options.fuel,
    wallClockLimit: options.wallMS.map { .milliseconds($0) }, cpuTimeLimit: options.cpuMS.map { .milliseconds($0) }, maxFrameLength: options.maxFrame)
let capsule: WasmCapsule
do { capsule = try WasmCapsule(launch, handler: handler) } catch { fail(error.description) }

// Run on a thread with a roomy stack; SIGINT/SIGTERM stop the guest instead of killing us.
let done = DispatchSemaphore(value: 0)
nonisolated(unsafe) var outcome = WasmExit.failedToStart(reason: "did not run")
let guest = Thread {
    outcome = capsule.run()
    done.signal()
}
guest.stackSize = 8 << 20
signal(SIGINT, SIG_IGN); signal(SIGTERM, SIG_IGN)
let signals = [SIGINT, SIGTERM].map { sig in
    let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
    source.setEventHandler { capsule.stop(reason: sig == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)") }
    source.resume()
    return source
}
guest.start()
done.wait()
withExtendedLifetime(signals) {}
log.line("elastos-wasm-run: \(outcome)")
switch outcome {
case .exited(let code): exit(code)
case .failedToStart: exit(125)
case .trapped: exit(134)
case .memoryLimitExceeded: exit(137)
case .fuelExhausted, .cpuTimeExceeded: exit(152)
case .wallClockExceeded: exit(142)
case .stopped: exit(143)
}
