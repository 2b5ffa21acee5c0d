// Timing, statistics, machine description and formatting for elastos-bench.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// How many rounds, and how long each: the full run, or `--quick` for CI smoke runs.
struct Plan {
    let quick: Bool
    var rounds: Int { quick ? 3 : 5 }
    /// Length of a time-based round, in seconds.
    var roundSeconds: Double { quick ? 0.08 : 0.5 }
    /// Distinct tokens for the cold figure: one pass over them is one round.
    var coldTokens: Int { quick ? 2_000 : 20_000 }
    /// `record()` calls per audit round.
    var auditAppends: Int { quick ? 20_000 : 200_000 }
}

/// The per-round rates of one figure, in operations per second.
struct Measurement {
    let rates: [Double]

    var median: Double {
        let s = rates.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
    /// (max − min) / median: how much the rounds disagree.
    var spread: Double { ((rates.max() ?? 0) - (rates.min() ?? 0)) / max(median, 1e-12) }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

enum Timing {
    static let clock = ContinuousClock()

    /// Calls `op` with a running index for at least `seconds`, then `finish` (inside the timed
    /// window); returns operations per second.
    static func rate(seconds: Double, _ op: (Int) -> Void, finish: () -> Void = {}) -> Double {
        // Calibrate so the clock is read ~100 times per round, not once per operation.
        let t0 = clock.now
        op(0)
        let one = max((clock.now - t0).seconds, 1e-9)
        let batch = max(1, min(100_000, Int(seconds / 100 / one)))
        var i = 1
        let start = clock.now
        repeat {
            for _ in 0..<batch { op(i); i += 1 }
        } while (clock.now - start).seconds < seconds
        finish()
        return Double(i - 1) / (clock.now - start).seconds
    }

    /// Times exactly `count` calls of `op`, then `finish`; returns operations per second.
    static func pass(count: Int, _ op: (Int) -> Void, finish: () -> Void = {}) -> Double {
        let start = clock.now
        for i in 0..<count { op(i) }
        finish()
        return Double(count) / (clock.now - start).seconds
    }

    /// Alternates chunks of `a` and `b` (each called with the same running index) until `count`
    /// calls of each or `seconds` of combined time, timing each side separately, so both run
    /// under the same machine load. Returns both rates in operations per second.
    static func paired(count: Int = .max, seconds: Double = .infinity, chunk: Int = 50,
                       _ a: (Int) -> Void, _ b: (Int) -> Void) -> (a: Double, b: Double) {
        var ta = Duration.zero, tb = Duration.zero
        var i = 0
        while i < count && (ta + tb).seconds < seconds {
            let end = min(count, i + chunk)
            let t0 = clock.now
            for k in i..<end { a(k) }
            let t1 = clock.now
            for k in i..<end { b(k) }
            ta += t1 - t0
            tb += clock.now - t1
            i = end
        }
        return (Double(i) / ta.seconds, Double(i) / tb.seconds)
    }

    /// `rounds` measurements of `round` (given the round length), after one short discarded
    /// warm-up round when `warmup` is set.
    static func measure(_ plan: Plan, warmup: Bool = true, _ round: (Double) -> Double) -> Measurement {
        if warmup { _ = round(plan.roundSeconds / 4) }
        return Measurement(rates: (0..<plan.rounds).map { _ in round(plan.roundSeconds) })
    }
}

/// A fresh directory under /tmp, removed by `remove()`.
struct TempDir {
    let path: String

    init(_ tag: String) {
        var template = Array("/tmp/elastos-bench-\(tag).XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { fatalError("mkdtemp failed: \(String(cString: strerror(errno)))") }
        path = String(cString: p)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// What the numbers were measured on.
enum Machine {
    static var architecture: String { utsField { $0.machine } }
    static var kernel: String { utsField { $0.sysname } + " " + utsField { $0.release } }
    static var cpus: Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }
    /// CPUs this process may run on (what `nproc` prints).
    static var nproc: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// The 1-minute load average: other work on the machine skews every figure.
    static var loadAverage: String {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8),
              let first = text.split(separator: " ").first else { return "unknown" }
        return String(first)
    }

    static var cpuModel: String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
              let colon = line.firstIndex(of: ":")
        else { return "unknown CPU" }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }

    static var buildConfiguration: String {
        #if DEBUG
        "debug (numbers are not representative: build with -c release)"
        #else
        "release (-O)"
        #endif
    }

    /// The file system type at `path` (longest matching mount point in /proc/self/mounts), since
    /// fsync costs depend on it.
    static func fileSystem(at path: String) -> String {
        guard let text = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return "unknown fs" }
        var best: (point: String, type: String)?
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count >= 3 else { continue }
            let point = String(f[1]), type = String(f[2])
            let covers = point == "/" || path == point || path.hasPrefix(point + "/")
            if covers, point.count >= (best?.point.count ?? -1) { best = (point, type) }
        }
        guard let best else { return "unknown fs" }
        let note = best.type == "tmpfs" ? ", fsync is nearly free: durable figures are optimistic" : ""
        return "\(best.type) mounted at \(best.point)\(note)"
    }

    /// One NUL-terminated field of `uname(2)`.
    private static func utsField<T>(_ field: (utsname) -> T) -> String {
        var u = utsname()
        guard uname(&u) == 0 else { return "unknown" }
        var value = field(u)
        return withUnsafeBytes(of: &value) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }
}

enum Format {
    /// 1234567.8 → "1,234,568".
    static func count(_ x: Double) -> String {
        guard x.isFinite else { return "n/a" }
        let digits = String(Int(x.rounded()))
        var out = ""
        for (i, c) in digits.reversed().enumerated() {
            if i > 0, i % 3 == 0, c != "-" { out.append(",") }
            out.append(c)
        }
        return String(out.reversed())
    }

    static func rate(_ x: Double) -> String { count(x) + "/s" }
    static func ratio(_ x: Double) -> String { String(format: "%.2f×", x) }
    static func percent(_ x: Double) -> String { String(format: "%.1f%%", x * 100) }
    static func micros(_ perSecond: Double) -> String { String(format: "%.2f µs", 1e6 / perSecond) }

    static func pad(_ s: String, _ width: Int) -> String {
        let n = s.count
        return n >= width ? s : s + String(repeating: " ", count: width - n)
    }
    static func padLeft(_ s: String, _ width: Int) -> String {
        let n = s.count
        return n >= width ? s : String(repeating: " ", count: width - n) + s
    }
}
