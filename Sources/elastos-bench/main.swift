// elastos-bench: throughput of the trusted core's hot paths, measured in one run and compared
// against raw Ed25519 verification on the same machine. A report, not a test: it always exits 0.
//
//   swift build -c release --product elastos-bench && .build/release/elastos-bench [--quick]
//
// Figures: (1) raw Ed25519 verifications/s, the baseline; (2) cold token validation, each token
// new to the verifier, as a cost ratio to (1); (3) warm validation (cache hit), with a discarding
// and with a real audit sink; (4) issuance; (5) batched audit appends; (6) validation of a
// use-limited token, whose every use is an fsynced ledger append; (7) the WASM substrate;
// (8) encrypted storage against plain files; (9) the native substrate's spawn → first reply against a plain fork+exec;
// (10) Carrier (libp2p) connection set-up and bulk stream throughput on loopback.
// (11) the microVM substrate: spawn → first reply, channel round trip, QEMU RSS (MicroVMBench.swift).
// (12) GossipSub delivery latency p50/p99 across a 10-node mesh on loopback (GossipSubBench.swift).

import ElastosCore
import ElastosNode
import Foundation

let arguments = CommandLine.arguments.dropFirst()
if arguments.contains("--help") || arguments.contains("-h") {
    print("""
        usage: elastos-bench [--quick] [--only SECTIONS]
          --quick          fewer, shorter rounds (CI smoke runs, < 20 s)
          --only SECTIONS  comma-separated subset of cold,warm,warm-audit,issue,audit,uses,wasm,storage,native,carrier,microvm,gossipsub,chat (for profiling;
                           the raw Ed25519 baseline always runs)
        """)
    exit(0)
}
var bench = Bench(plan: Plan(quick: arguments.contains("--quick")))
if let i = arguments.firstIndex(of: "--only"), i + 1 < arguments.endIndex {
    bench.only = Set(arguments[i + 1].split(separator: ",").map(String.init))
}
bench.run()
exit(0)

/// One line of the closing table.
struct Row {
    let figure: String
    let median: String
    let target: String
    /// nil when the figure has no target.
    let pass: Bool?
}

struct Bench {
    let plan: Plan
    let runtimeKey = SigningKey()
    var issuer: TokenIssuer { TokenIssuer(key: runtimeKey) }
    let grant: Grant
    let request: CapabilityRequest
    let now = Node.systemClock()

    init(plan: Plan) {
        self.plan = plan
        grant = Grant(holder: "bench-capsule-1", resource: try! ResourcePattern("localhost://storage/apps/bench/*"),
                      actions: ActionSet([.read, .write]))
        request = CapabilityRequest(caller: "bench-capsule-1", action: .read,
                                    resource: try! ResourceURI("localhost://storage/apps/bench/notes/today"))
    }

    func issue(_ g: Grant? = nil) -> CapabilityToken { try! issuer.issue(g ?? grant, epoch: 0, now: now) }

    func verifier(ledger: any CapabilityLedger = InMemoryLedger(), audit: any AuditSink = DiscardingAuditSink(),
                  cacheCapacity: Int = 4096) -> CapabilityVerifier {
        CapabilityVerifier(runtimeKey: runtimeKey.publicKey, ledger: ledger, audit: audit,
                           cacheCapacity: cacheCapacity, clock: Node.systemClock)
    }

    /// Prints one figure as it is measured; `ratio` overrides the cost ratio computed from `baseline` (for paired measurements).
    func show(_ name: String, _ m: Measurement, baseline: Double?, ratio: Double? = nil, note: String = "") {
        var line = "  " + Format.pad(name, 44) + Format.padLeft(Format.rate(m.median), 15)
        line += "  " + Format.padLeft(Format.micros(m.median), 10) + "/op"
        if let cost = ratio ?? baseline.map({ $0 / m.median }) { line += "  costs " + Format.ratio(cost) + " a raw verify" }
        print(line)
        print("      rounds: " + m.rates.map { Format.count($0) }.joined(separator: ", ")
              + "  (spread " + Format.percent(m.spread) + ")" + (note.isEmpty ? "" : "; " + note))
    }

    /// Counts denials so a figure never silently measures the wrong path.
    final class Tally {
        var denied = 0
        var firstError: CapabilityError?
        func note(_ r: Result<AuthorizedUse, CapabilityError>) {
            if case .failure(let e) = r { denied += 1; if firstError == nil { firstError = e } }
        }
        func report(_ what: String) {
            if denied > 0 { print("      !! \(denied) \(what) were denied (\(firstError.map { "\($0)" } ?? "")): figure is invalid") }
        }
    }

    /// Which sections to run (`--only cold,warm`); nil means all.
    var only: Set<String>? = nil
    func wants(_ section: String) -> Bool { only?.contains(section) ?? true }

    func run() {
        let scratch = TempDir("run")
        defer { scratch.remove() }
        header(scratch)
        var rows: [Row] = []
        let raw = baselineAndCold(&rows)
        if wants("warm") { warm(&rows, base: raw) }
        if wants("warm-audit") { warmAudited(&rows, base: raw, scratch: scratch) }
        if wants("issue") { issuance(&rows, base: raw) }
        if wants("audit") { auditAppends(&rows, base: raw) }
        if wants("uses") { useLimited(&rows, base: raw, scratch: scratch) }
        if wants("wasm") { wasm(&rows) }  // WasmBench.swift
        if wants("storage") { storage(&rows, scratch: scratch); storageCalls(&rows, scratch: scratch) }  // StorageBench.swift
        if wants("native") { native(&rows) }  // NativeBench.swift
        if wants("carrier") { carrier(&rows) }  // CarrierBench.swift
        if wants("microvm") { microvm(&rows) }  // MicroVMBench.swift
        if wants("gossipsub") { gossipsub(&rows) }  // GossipSubBench.swift
        if wants("chat") { chat(&rows) }  // ChatBench.swift
        summary(rows)
    }

    func header(_ scratch: TempDir) {
        print("elastos-bench — trusted core throughput" + (plan.quick ? " (--quick: smoke run, figures are rough)" : ""))
        print("machine: \(Machine.architecture), nproc \(Machine.nproc) (of \(Machine.cpus) online), \(Machine.cpuModel); "
              + "load average \(Machine.loadAverage) at start")
        print("system:  \(Machine.kernel); temp files on \(Machine.fileSystem(at: scratch.path))")
        print("build:   \(Machine.buildConfiguration); ContinuousClock; median of \(plan.rounds) rounds, "
              + "time-based rounds ≥ \(Int(plan.roundSeconds * 1000)) ms")
        print("request: bench-capsule-1 read localhost://storage/apps/bench/notes/today; "
              + "token grants localhost://storage/apps/bench/* read,write")
    }

    /// Figures 1 and 2. Cold validations run in small chunks alternating with raw verifications,
    /// timed separately, so both see the same machine load; the cost ratio is the median of the
    /// per-round ratios. Returns the baseline rate.
    func baselineAndCold(_ rows: inout [Row]) -> Double {
        // 1. Baseline: one raw Ed25519 verification over exactly as many bytes as a token link's
        //    signature covers: domain tag ‖ 0x00 ‖ version ‖ body, where the body of a one-link
        //    token is encoded.count − 66 (2 header bytes, 64 signature bytes).
        let sample = issue()
        let signedLength = SigningDomain.capabilityToken.signedBytes([UInt8](repeating: 0, count: sample.encoded.count - 65)).count
        let message = (0..<signedLength).map { _ in UInt8.random(in: .min ... .max) }
        let signature = runtimeKey.signRaw(message)
        let publicKey = runtimeKey.publicKey
        var rawFailures = 0
        func rawVerify(_: Int) { if !publicKey.isValidRawSignature(signature, for: message) { rawFailures += 1 } }

        // 2. Cold: every presentation is a token the verifier has never seen, three ways:
        //    a. fresh verifier per round with room for all N tokens, one pass over them: each is
        //       decoded, verified and inserted (the cache grows from empty), nothing hits;
        //    b. one verifier with a cache smaller than N, cycling through the set: the steady
        //       state (a token is evicted before it comes round again, so nothing hits);
        //    c. the cache disabled (cacheCapacity 0), cycling through the set.
        let doCold = wants("cold")
        let n = plan.coldTokens
        let cold = doCold ? (0..<n).map { _ in issue().encoded } : []
        let tally = Tally()
        let steadyCapacity = min(4096, n / 2)
        let vSteady = verifier(cacheCapacity: steadyCapacity), vNoCache = verifier(cacheCapacity: 0)
        var next = 0  // continues across rounds, so the cycle through the set never restarts
        func presentNext(to v: CapabilityVerifier) { tally.note(v.authorize(cold[next % n], for: request)); next += 1 }
        func cycling(_ v: CapabilityVerifier) -> [(rate: Double, ratio: Double)] {
            (0..<plan.rounds).map { _ in
                let (r, c) = Timing.paired(seconds: 2 * plan.roundSeconds, rawVerify) { _ in presentNext(to: v) }
                return (c, r / c)
            }
        }

        var raws: [Double] = []
        var fresh: [(rate: Double, ratio: Double)] = [], steady = fresh, noCache = fresh
        if doCold {
            _ = Timing.paired(seconds: plan.roundSeconds / 4, rawVerify) { _ in presentNext(to: vNoCache) }  // warm-up
            for _ in 0..<plan.rounds {
                let v = verifier(cacheCapacity: 2 * n)
                let (r, c) = Timing.paired(count: n, rawVerify) { i in tally.note(v.authorize(cold[i], for: request)) }
                raws.append(r); fresh.append((c, r / c))
            }
            steady = cycling(vSteady)
            noCache = cycling(vNoCache)
        } else {
            _ = Timing.rate(seconds: plan.roundSeconds / 4, rawVerify)
            raws = (0..<plan.rounds).map { _ in Timing.rate(seconds: plan.roundSeconds, rawVerify) }
        }

        let raw = Measurement(rates: raws)
        print()
        print("1. baseline (a token is \(sample.encoded.count) bytes on the wire; its signature covers \(signedLength) bytes)")
        show("raw Ed25519 verify, \(signedLength)-byte message", raw, baseline: nil)
        if rawFailures > 0 { print("      !! \(rawFailures) raw verifications failed") }
        rows.append(Row(figure: "raw Ed25519 verify (baseline)", median: Format.rate(raw.median), target: "—", pass: nil))
        guard doCold else { return raw.median }

        print()
        print("2. token validation, cold (\(Format.count(Double(n))) distinct pre-issued tokens, never a cache hit); "
              + "chunks of 50 alternate with raw verifications, and the cost ratio is the median of the per-round ratios")
        let variants: [(String, String, [(rate: Double, ratio: Double)])] = [
            ("a. fresh verifier, cache grows to N", "cold, fresh cache (grows to N)", fresh),
            ("b. cache of \(Format.count(Double(steadyCapacity))), steady state", "cold, steady cache of \(Format.count(Double(steadyCapacity)))", steady),
            ("c. cacheCapacity 0", "cold, cacheCapacity 0", noCache),
        ]
        for (label, row, results) in variants {
            let m = Measurement(rates: results.map(\.rate)), ratio = Measurement(rates: results.map(\.ratio)).median
            show(label, m, baseline: nil, ratio: ratio)
            rows.append(Row(figure: row + " / raw", median: Format.ratio(ratio), target: "≤ 1.20×", pass: ratio <= 1.2))
        }
        tally.report("cold validations")
        return raw.median
    }

    /// 3. Warm: the same token bytes again and again (a cache hit skips Ed25519 only; every
    ///    other check still runs). The bytes are a separate copy of what the cache holds, as
    ///    bytes off the wire would be, so the lookup compares them in full.
    func warm(_ rows: inout [Row], base: Double) {
        print()
        print("3. token validation, warm (same token bytes, one thread)")
        let token = issue()
        let bytes = token.encoded.map { $0 }
        let tally = Tally()
        let v = verifier()
        tally.note(v.authorize(token.encoded, for: request))
        let warm = Timing.measure(plan) { secs in
            Timing.rate(seconds: secs) { _ in tally.note(v.authorize(bytes, for: request)) }
        }
        show("warm, DiscardingAuditSink", warm, baseline: base)
        rows.append(Row(figure: "validation, warm (discarding sink)", median: Format.rate(warm.median),
                        target: "≥ 1,000,000/s", pass: warm.median >= 1_000_000))
        tally.report("warm validations")
    }

    /// 3b. Warm again with a real AuditLog as the sink; each round ends with flush(), inside the
    ///     timed window, so the figure is what the log sustains, not just what it queues.
    func warmAudited(_ rows: inout [Row], base: Double, scratch: TempDir) {
        if !wants("warm") { print(); print("3b. token validation, warm, audited (same token bytes, one thread)") }
        let token = issue()
        let bytes = token.encoded.map { $0 }
        let tally = Tally()
        let log = try! AuditLog(directory: scratch.path + "/warm-audit", key: runtimeKey)
        let vLogged = verifier(audit: log)
        tally.note(vLogged.authorize(token.encoded, for: request))
        let audited = Timing.measure(plan) { secs in
            Timing.rate(seconds: secs, { _ in tally.note(vLogged.authorize(bytes, for: request)) },
                        finish: { try! log.flush() })
        }
        try? log.close()
        show("warm, AuditLog sink (incl. final flush)", audited, baseline: base)
        tally.report("warm validations")
        rows.append(Row(figure: "validation, warm (AuditLog sink)", median: Format.rate(audited.median), target: "—", pass: nil))
    }

    /// 4. Issuance: a fresh random id, encoding and one Ed25519 signature.
    func issuance(_ rows: inout [Row], base: Double) {
        print()
        print("4. issuance")
        let m = Timing.measure(plan) { secs in
            Timing.rate(seconds: secs) { _ in _ = issue() }
        }
        show("TokenIssuer.issue", m, baseline: base)
        rows.append(Row(figure: "issuance", median: Format.rate(m.median), target: "—", pass: nil))
    }

    /// 5. Audit appends: N record() calls then flush(), in a fresh log per round.
    func auditAppends(_ rows: inout [Row], base: Double) {
        let options = AuditLog.Options()
        print()
        print("5. audit appends, batched (\(Format.count(Double(plan.auditAppends))) record() calls + flush() per round, fresh log each round)")
        print("   fsync policy: group commit: one fsync per batch, batches every \(options.flushIntervalMillis) ms "
              + "or when flush() is called (or when \(Format.count(Double(options.maxPending))) events are queued); "
              + "a signed checkpoint every \(options.checkpointEvery) records or \(options.checkpointIntervalMillis / 1000) s rides in the same batch; "
              + "after a batch with a checkpoint, audit/checkpoint is rewritten atomically (file fsync + directory fsync)")
        let event = AuditEvent(event: "capability.allowed", subject: "bench-capsule-1",
                               resource: "localhost://storage/apps/bench/notes/today", action: "read",
                               decision: .allow, reason: "all checks passed", token: TokenID.random().description)
        let m = Measurement(rates: (0..<plan.rounds).map { r in
            let dir = TempDir("audit")
            defer { dir.remove() }
            let log = try! AuditLog(directory: dir.path + "/audit", key: runtimeKey, options: options)
            let rate = Timing.pass(count: plan.auditAppends, { _ in log.record(event) }, finish: { try! log.flush() })
            try? log.close()
            if r == 0, case .failure(let e) = AuditLog.verify(directory: dir.path + "/audit", key: runtimeKey.publicKey) {
                print("      !! the benchmark's audit log does not verify: \(e)")
            }
            return rate
        })
        show("AuditLog.record × N + flush", m, baseline: base)
        rows.append(Row(figure: "audit appends (batched)", median: Format.rate(m.median),
                        target: "≥ 50,000/s", pass: m.median >= 50_000))
    }

    /// 6. Use-limited tokens: every use is counted in the PersistentLedger, one fsynced journal
    ///    append per use before the use is allowed.
    func useLimited(_ rows: inout [Row], base: Double, scratch: TempDir) {
        print()
        print("6. use-limited validation (maxUses set, PersistentLedger: one fsynced journal line per use)")
        let ledger = try! PersistentLedger(path: scratch.path + "/ledger", now: now)
        var g = grant
        g.maxUses = 1_000_000_000
        let bytes = issue(g).encoded
        let v = verifier(ledger: ledger)
        let tally = Tally()
        let m = Timing.measure(plan) { secs in
            Timing.rate(seconds: secs) { _ in tally.note(v.authorize(bytes, for: request)) }
        }
        show("warm token, durable use count", m, baseline: base)
        tally.report("use-limited validations")
        rows.append(Row(figure: "use-limited validation (durable)", median: Format.rate(m.median), target: "—", pass: nil))
    }

    func summary(_ rows: [Row]) {
        print()
        print(Format.pad("figure", 38) + Format.padLeft("median", 16) + "  " + Format.pad("target", 15) + "result")
        print(String(repeating: "-", count: 38 + 16 + 2 + 15 + 6))
        for row in rows {
            let result = row.pass.map { $0 ? "PASS" : "MISS" } ?? "—"
            print(Format.pad(row.figure, 38) + Format.padLeft(row.median, 16) + "  " + Format.pad(row.target, 15) + result)
        }
    }
}
