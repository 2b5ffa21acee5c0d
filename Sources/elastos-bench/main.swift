// elastos-bench: throughput of the trusted core's hot paths, measured in one run and compared
// against raw Ed25519 verification on the same machine. A report, not a test: it always exits 0.
//
//   swift build -c release --product elastos-bench && .build/release/elastos-bench [--quick]

import ElastosCore
import ElastosNode
import Foundation

let arguments = CommandLine.arguments.dropFirst()
if arguments.contains("--help") || arguments.contains("-h") {
    print("usage: elastos-bench [--quick]   (--quick: fewer, shorter rounds for CI smoke runs)")
    exit(0)
}
Bench(plan: Plan(quick: arguments.contains("--quick"))).run()
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

    /// Prints one figure as it is measured.
    func show(_ name: String, _ m: Measurement, baseline: Double?, note: String = "") {
        var line = "  " + Format.pad(name, 44) + Format.padLeft(Format.rate(m.median), 15)
        line += "  " + Format.padLeft(Format.micros(m.median), 10) + "/op"
        if let baseline { line += "  = " + Format.ratio(baseline / m.median) + " raw verify" }
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

    func run() {
        let scratch = TempDir("run")
        defer { scratch.remove() }
        print("elastos-bench — trusted core throughput" + (plan.quick ? " (--quick: smoke run, figures are rough)" : ""))
        print("machine: \(Machine.architecture), nproc \(Machine.nproc) (of \(Machine.cpus) online), \(Machine.cpuModel)")
        print("system:  \(Machine.kernel); temp files on \(Machine.fileSystem(at: scratch.path)) (\(scratch.path))")
        print("build:   \(Machine.buildConfiguration); ContinuousClock; median of \(plan.rounds) rounds, "
              + "time-based rounds ≥ \(Int(plan.roundSeconds * 1000)) ms")
        print("request: bench-capsule-1 read localhost://storage/apps/bench/notes/today; "
              + "token grants localhost://storage/apps/bench/* read,write")
        print()

        var rows: [Row] = []

        // 1. Baseline: one raw Ed25519 verification over exactly as many bytes as a token link's
        //    signature covers: domain tag ‖ 0x00 ‖ version ‖ body, where the body of a one-link
        //    token is encoded.count − 66 (2 header bytes, 64 signature bytes).
        let sample = issue()
        let signedLength = SigningDomain.capabilityToken.signedBytes([UInt8](repeating: 0, count: sample.encoded.count - 65)).count
        let message = (0..<signedLength).map { _ in UInt8.random(in: .min ... .max) }
        let signature = runtimeKey.signRaw(message)
        let publicKey = runtimeKey.publicKey
        var rawFailures = 0
        let raw = Timing.measure(plan) { secs in
            Timing.rate(seconds: secs) { _ in if !publicKey.isValidRawSignature(signature, for: message) { rawFailures += 1 } }
        }
        print("1. baseline (token is \(sample.encoded.count) bytes on the wire; its signature covers \(signedLength) bytes)")
        show("raw Ed25519 verify, \(signedLength)-byte message", raw, baseline: nil)
        if rawFailures > 0 { print("      !! \(rawFailures) raw verifications failed") }
        let base = raw.median
        rows.append(Row(figure: "raw Ed25519 verify (baseline)", median: Format.rate(base), target: "—", pass: nil))

        // 2. Cold: every presentation is a token the verifier has never seen. One round is one
        //    pass over N distinct tokens with a fresh verifier whose cache holds all of them, so
        //    each is decoded, verified and inserted, and nothing hits.
        print()
        print("2. token validation, cold (\(Format.count(Double(plan.coldTokens))) distinct pre-issued tokens, never a cache hit)")
        let cold = (0..<plan.coldTokens).map { _ in issue().encoded }
        let tally = Tally()
        do {
            let v = verifier(cacheCapacity: 1)  // warm-up: code paths and allocator, not the cache
            for bytes in cold.prefix(500) { tally.note(v.authorize(bytes, for: request)) }
        }
        let coldM = Measurement(rates: (0..<plan.rounds).map { _ in
            let v = verifier(cacheCapacity: 2 * plan.coldTokens)
            return Timing.pass(count: cold.count) { i in tally.note(v.authorize(cold[i], for: request)) }
        })
        show("cold: decode + verify + cache insert", coldM, baseline: base)
        // The same with the cache disabled (cacheCapacity 0), cycling through the set.
        let v0 = verifier(cacheCapacity: 0)
        let coldNoCache = Timing.measure(plan) { secs in
            Timing.rate(seconds: secs) { i in tally.note(v0.authorize(cold[i % cold.count], for: request)) }
        }
        show("cold, cacheCapacity 0", coldNoCache, baseline: base)
        tally.report("cold validations")
        let coldRatio = base / coldM.median
        rows.append(Row(figure: "validation, cold", median: Format.rate(coldM.median), target: "—", pass: nil))
        rows.append(Row(figure: "  cold cost / raw verify", median: Format.ratio(coldRatio), target: "≤ 1.20×", pass: coldRatio <= 1.2))

        // 3. Warm: the same token bytes again and again (a cache hit skips Ed25519 only; every
        //    other check still runs). The bytes are a separate copy of what the cache holds, as
        //    bytes off the wire would be, so the lookup compares them in full.
        print()
        print("3. token validation, warm (same token bytes, one thread)")
        let warmToken = issue()
        let warmBytes = warmToken.encoded.map { $0 }
        let vWarm = verifier()
        tally.note(vWarm.authorize(warmToken.encoded, for: request))
        let warm = Timing.measure(plan) { secs in
            Timing.rate(seconds: secs) { _ in tally.note(vWarm.authorize(warmBytes, for: request)) }
        }
        show("warm, DiscardingAuditSink", warm, baseline: base)
        rows.append(Row(figure: "validation, warm (discarding sink)", median: Format.rate(warm.median),
                        target: "≥ 1,000,000/s", pass: warm.median >= 1_000_000))

        // Warm again with a real AuditLog as the sink; each round ends with flush(), inside the
        // timed window, so the figure is what the log can sustain, not just queue.
        let auditOptions = AuditLog.Options()
        let warmLog = try! AuditLog(directory: scratch.path + "/warm-audit", key: runtimeKey, options: auditOptions)
        let vLogged = verifier(audit: warmLog)
        tally.note(vLogged.authorize(warmBytes, for: request))
        let warmAudited = Timing.measure(plan) { secs in
            Timing.rate(seconds: secs, { _ in tally.note(vLogged.authorize(warmBytes, for: request)) },
                        finish: { try! warmLog.flush() })
        }
        try? warmLog.close()
        show("warm, AuditLog sink (incl. final flush)", warmAudited, baseline: base)
        tally.report("warm validations")
        rows.append(Row(figure: "validation, warm (AuditLog sink)", median: Format.rate(warmAudited.median), target: "—", pass: nil))

        // 4. Issuance: a fresh random id, encoding and one Ed25519 signature.
        print()
        print("4. issuance")
        var sink = 0
        let issuance = Timing.measure(plan) { secs in
            Timing.rate(seconds: secs) { _ in sink &+= issue().encoded.count }
        }
        show("TokenIssuer.issue", issuance, baseline: base)
        rows.append(Row(figure: "issuance", median: Format.rate(issuance.median), target: "—", pass: nil))

        // 5. Audit appends: N record() calls then flush(), in a fresh log per round.
        print()
        print("5. audit appends, batched (\(Format.count(Double(plan.auditAppends))) record() calls + flush() per round, fresh log each round)")
        print("   fsync policy: group commit: one fsync per batch, batches every \(auditOptions.flushIntervalMillis) ms "
              + "or when flush() is called (or when \(Format.count(Double(auditOptions.maxPending))) events are queued); "
              + "a signed checkpoint every \(auditOptions.checkpointEvery) records (each checkpoint also fsyncs the segment "
              + "and atomically rewrites audit/checkpoint: file fsync + directory fsync)")
        let event = AuditEvent(event: "capability.allowed", subject: "bench-capsule-1",
                               resource: "localhost://storage/apps/bench/notes/today", action: "read",
                               decision: .allow, reason: "all checks passed", token: warmToken.id.description)
        let appends = Measurement(rates: (0..<plan.rounds).map { r in
            let dir = TempDir("audit")
            defer { dir.remove() }
            let log = try! AuditLog(directory: dir.path + "/audit", key: runtimeKey, options: auditOptions)
            let rate = Timing.pass(count: plan.auditAppends, { _ in log.record(event) }, finish: { try! log.flush() })
            try? log.close()
            if r == 0, case .failure(let e) = AuditLog.verify(directory: dir.path + "/audit", key: runtimeKey.publicKey) {
                print("      !! the benchmark's audit log does not verify: \(e)")
            }
            return rate
        })
        show("AuditLog.record + flush", appends, baseline: base)
        rows.append(Row(figure: "audit appends (batched)", median: Format.rate(appends.median),
                        target: "≥ 50,000/s", pass: appends.median >= 50_000))

        // 6. Use-limited tokens: every use is counted in the PersistentLedger, one fsynced
        //    journal append per use before the use is allowed.
        print()
        print("6. use-limited validation (maxUses set, PersistentLedger: one fsynced journal line per use)")
        let ledger = try! PersistentLedger(path: scratch.path + "/ledger", now: now)
        var limitedGrant = grant
        limitedGrant.maxUses = 1_000_000_000
        let limited = issue(limitedGrant).encoded
        let vLimited = verifier(ledger: ledger)
        let uses = Timing.measure(plan) { secs in
            Timing.rate(seconds: secs) { _ in tally.note(vLimited.authorize(limited, for: request)) }
        }
        show("warm token, durable use count", uses, baseline: base)
        tally.report("use-limited validations")
        rows.append(Row(figure: "use-limited validation (durable)", median: Format.rate(uses.median), target: "—", pass: nil))

        // Summary.
        print()
        print(Format.pad("figure", 38) + Format.padLeft("median", 16) + "  " + Format.pad("target", 15) + "result")
        print(String(repeating: "-", count: 38 + 16 + 2 + 15 + 6))
        for row in rows {
            let result = row.pass.map { $0 ? "PASS" : "MISS" } ?? "—"
            print(Format.pad(row.figure, 38) + Format.padLeft(row.median, 16) + "  " + Format.pad(row.target, 15) + result)
        }
        if sink == 42 { print() }  // keeps the issuance results observable
    }
}
