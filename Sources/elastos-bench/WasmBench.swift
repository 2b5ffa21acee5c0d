// Section "wasm": the WASM substrate (docs/WASM.md) with the real Swift guests from capsules/.
//
//   7a. cold start of hello: read the module, parse and validate it, instantiate it with WASI
//       and the elastos imports, run to the first byte it writes on stdout (in a process whose
//       runtime is already up: the shared WasmKit engine exists);
//   7b. capsule-protocol round trips per second from a guest: `bench ping N`;
//   7c. one `call` per round trip, capability-checked (CapabilityVerifier with an InMemoryLedger
//       and a DiscardingAuditSink, the URI parsed per call) against the same call unchecked,
//       rounds alternating in the same run.
// Rates are timed by the handler, from the guest's first request to its last, so module start-up
// is not in them.

import CapsuleWire
import ElastosCore
import ElastosWasm
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Answers the bench guest: pongs, and calls checked by `verifier` (or not, when nil).
final class BenchHandler: CapsuleRequestHandler {
    let verifier: CapabilityVerifier?
    let caller: String
    private let times = Mutex<(first: ContinuousClock.Instant?, last: ContinuousClock.Instant?, count: Int, denied: Int, error: String?)>((nil, nil, 0, 0, nil))

    init(verifier: CapabilityVerifier?, caller: String) { self.verifier = verifier; self.caller = caller }

    func handle(_ request: CapsuleRequest, id: UInt32) -> RuntimeMessage {
        let answer: RuntimeMessage
        switch request {
        case .ping:
            answer = .reply(body: [])
        case .info:
            answer = .reply(body: Array(#"{"session":"bench-session","capsule":"bench","cid":"","substrate":"wasm","protocol":1}"#.utf8))
        case .call(let uri, let action, let token, let body):
            if let verifier {
                guard let resource = try? ResourceURI(uri) else { answer = .error(code: .invalidURI, message: uri); break }
                switch verifier.authorize(token, for: CapabilityRequest(caller: caller, action: action, resource: resource)) {
                case .success: answer = .reply(body: body)
                case .failure(let e): answer = .error(code: .denied, message: e.description)
                }
            } else {
                answer = .reply(body: body)
            }
        default:
            answer = .error(code: .noProvider, message: "the bench handler serves ping and call")
        }
        let now = ContinuousClock.now
        times.withLock { t in
            if t.first == nil { t.first = now }
            t.last = now
            t.count += 1
            if case .error(_, let m) = answer { t.denied += 1; if t.error == nil { t.error = m } }
        }
        return answer
    }

    /// Requests per second between the first and the last request.
    var rate: Double {
        times.withLock { t in
            guard let a = t.first, let b = t.last, t.count > 1 else { return 0 }
            return Double(t.count - 1) / (b - a).seconds
        }
    }
    var problems: (denied: Int, first: String?) { times.withLock { ($0.denied, $0.error) } }
}

extension Bench {
    /// The repository root (this file is Sources/elastos-bench/WasmBench.swift).
    static var repositoryRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// The guest modules, built with scripts/build-capsules.sh if they are not there yet.
    func capsuleModules() -> (hello: [UInt8], bench: [UInt8])? {
        let root = Self.repositoryRoot
        func load() -> (hello: [UInt8], bench: [UInt8])? {
            guard let h = FileManager.default.contents(atPath: root + "/capsules/hello/hello.wasm"),
                  let b = FileManager.default.contents(atPath: root + "/capsules/bench/bench.wasm") else { return nil }
            return ([UInt8](h), [UInt8](b))
        }
        if let modules = load() { return modules }
        print("   building the guests: scripts/build-capsules.sh hello bench")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [root + "/scripts/build-capsules.sh", "hello", "bench"]
        p.currentDirectoryURL = URL(fileURLWithPath: root)
        p.standardOutput = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        p.waitUntilExit()
        return p.terminationStatus == 0 ? load() : nil
    }

    /// Runs `capsule` on a thread of its own and waits for it.
    func runToEnd(_ capsule: WasmCapsule) -> WasmExit {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var exit = WasmExit.failedToStart(reason: "did not run")
        let t = Thread { exit = capsule.run(); done.signal() }
        t.stackSize = 8 << 20
        t.start()
        done.wait()
        return exit
    }

    func wasm(_ rows: inout [Row]) {
        print()
        print("7. WASM substrate (WasmKit 0.4.2 interpreter, release; Embedded Swift guests from capsules/)")
        guard let modules = capsuleModules() else {
            print("      !! the guests could not be built (scripts/build-capsules.sh failed): section skipped")
            rows.append(Row(figure: "wasm: hello cold start", median: "not run", target: "≤ 20 ms", pass: false))
            rows.append(Row(figure: "wasm: checked calls from one guest", median: "not run", target: "≥ 50,000/s", pass: false))
            return
        }
        coldStart(&rows, module: modules.hello)
        protocolRates(&rows, module: modules.bench)
    }

    /// 7a. Time from "have the file" to the first byte hello writes.
    func coldStart(_ rows: inout [Row], module: [UInt8]) {
        let path = Self.repositoryRoot + "/capsules/hello/hello.wasm"
        let rounds = plan.quick ? 10 : 40
        var samples: [Double] = []
        var failure: String?
        for _ in 0..<rounds {
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else { failure = "pipe failed"; break }
            let start = ContinuousClock.now
            guard let bytes = FileManager.default.contents(atPath: path) else { failure = "cannot read \(path)"; break }
            let launch = WasmLaunch(module: [UInt8](bytes), name: "hello", stdin: .null, stdout: .fileDescriptor(fds[1]), stderr: .null)
            let capsule: WasmCapsule
            do { capsule = try WasmCapsule(launch, handler: BenchHandler(verifier: nil, caller: "bench-capsule-1")) } catch {
                failure = error.description; close(fds[0]); close(fds[1]); break
            }
            let done = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var exit = WasmExit.failedToStart(reason: "did not run")
            let t = Thread { exit = capsule.run(); done.signal() }
            t.stackSize = 8 << 20
            t.start()
            var byte: UInt8 = 0
            let n = read(fds[0], &byte, 1)
            let first = ContinuousClock.now
            done.wait()
            close(fds[1])
            var sink = [UInt8](repeating: 0, count: 4096)
            while read(fds[0], &sink, sink.count) > 0 {}
            close(fds[0])
            guard n == 1, exit == .exited(code: 0) else { failure = "hello did not run cleanly: \(exit)"; break }
            samples.append((first - start).seconds * 1000)
        }
        if let failure { print("      !! \(failure)") }
        guard !samples.isEmpty else {
            rows.append(Row(figure: "wasm: hello cold start", median: "failed", target: "≤ 20 ms", pass: false))
            return
        }
        let sorted = samples.sorted()
        let median = sorted[sorted.count / 2]
        print("  " + Format.pad("7a. hello cold start, file → first stdout byte", 52) + String(format: "%8.2f ms median", median)
              + String(format: "  (min %.2f, max %.2f, %d runs; %d-byte module)", sorted[0], sorted[sorted.count - 1], samples.count, module.count))
        rows.append(Row(figure: "wasm: hello cold start", median: String(format: "%.2f ms", median), target: "≤ 20 ms", pass: median <= 20))
    }

    /// 7b and 7c.
    func protocolRates(_ rows: inout [Row], module: [UInt8]) {
        let n = plan.quick ? 20_000 : 100_000
        let uri = "localhost://storage/apps/bench/notes/today"
        let token = issue()
        let v = verifier()
        _ = v.authorize(token.encoded, for: request)  // verified once: later presentations hit the signature cache
        func run(_ args: [String], _ handler: BenchHandler, environment: [String: String] = [:]) -> Double? {
            let launch = WasmLaunch(module: module, name: "bench", args: args, environment: environment, stdin: .null,
                                    stdout: .null, stderr: .inherit)
            guard let capsule = try? WasmCapsule(launch, handler: handler) else { return nil }
            let exit = runToEnd(capsule)
            let (denied, first) = handler.problems
            if exit != .exited(code: 0) || denied > 0 {
                print("      !! bench guest: \(exit); \(denied) requests refused\(first.map { " (\($0))" } ?? ""): figure is invalid")
                return nil
            }
            return handler.rate
        }

        print("   7b/7c: \(Format.count(Double(n))) requests per run from one guest, \(plan.rounds) runs each, checked and unchecked alternating")
        var pings: [Double] = [], checked: [Double] = [], unchecked: [Double] = []
        _ = run(["ping", "2000"], BenchHandler(verifier: nil, caller: request.caller))  // warm-up
        for _ in 0..<plan.rounds {
            if let r = run(["ping", "\(n)"], BenchHandler(verifier: nil, caller: request.caller)) { pings.append(r) }
        }
        let env = ["ELASTOS_BENCH_TOKEN": Hex.encode(token.encoded)]
        for _ in 0..<plan.rounds {
            if let r = run(["call", "\(n)", uri], BenchHandler(verifier: v, caller: request.caller), environment: env) { checked.append(r) }
            if let r = run(["call", "\(n)", uri], BenchHandler(verifier: nil, caller: request.caller), environment: env) { unchecked.append(r) }
        }
        guard !pings.isEmpty, !checked.isEmpty, !unchecked.isEmpty else {
            rows.append(Row(figure: "wasm: checked calls from one guest", median: "failed", target: "≥ 50,000/s", pass: false))
            return
        }
        let p = Measurement(rates: pings), c = Measurement(rates: checked), u = Measurement(rates: unchecked)
        show("7b. ping round trips from a guest", p, baseline: nil)
        show("7c. call, capability-checked", c, baseline: nil, note: "token \(token.encoded.count) bytes")
        show("7c. same call, unchecked", u, baseline: nil)
        print("      the checks cost \(Format.micros(c.median).replacingOccurrences(of: " µs", with: "")) − \(Format.micros(u.median)) "
              + "= " + String(format: "%.2f µs", 1e6 / c.median - 1e6 / u.median) + " per call ("
              + Format.ratio(u.median / c.median) + " the unchecked time)")
        rows.append(Row(figure: "wasm: ping round trips", median: Format.rate(p.median), target: "—", pass: nil))
        rows.append(Row(figure: "wasm: checked calls from one guest", median: Format.rate(c.median), target: "≥ 50,000/s", pass: c.median >= 50_000))
        rows.append(Row(figure: "wasm: same calls unchecked", median: Format.rate(u.median), target: "—", pass: nil))
    }
}
