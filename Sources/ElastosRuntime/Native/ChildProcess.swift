#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A child process of this runtime, watched through `waitpid` and `/proc`.
enum ChildProcess {
    /// How a child ended.
    enum Status: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32)
    }

    /// Waits for `pid` to end (retrying on EINTR) and reaps it.
    static func waitForExit(_ pid: pid_t) -> Status {
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, 0)
            if r == pid { break }
            if r < 0 && errno == EINTR { continue }
            return .exited(-1)  // not our child any more (someone else reaped it)
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift does not see.
        let signal = status & 0x7F
        return signal == 0 ? .exited((status >> 8) & 0xFF) : .signaled(signal)
    }

    /// Every descendant of `pid`, parents before children (from
    /// `/proc/<pid>/task/<tid>/children`, which lists a thread's live children).
    static func descendants(of pid: pid_t) -> [pid_t] {
        var result: [pid_t] = []
        var queue = [pid]
        while !queue.isEmpty, result.count < 4096 {
            let p = queue.removeFirst()
            for tid in threads(of: p) {
                guard let text = try? String(contentsOfFile: "/proc/\(p)/task/\(tid)/children", encoding: .utf8) else { continue }
                for child in text.split(separator: " ").compactMap({ pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) {
                    result.append(child)
                    queue.append(child)
                }
            }
        }
        return result
    }

    private static func threads(of pid: pid_t) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    }

    /// CPU time `pid` has used, its own and that of children it has reaped, in milliseconds.
    static func cpuMillis(of pid: pid_t) -> UInt64 {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return 0 }
        // After "pid (comm) ": state is field 3; utime, stime, cutime, cstime are fields 14–17.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 14 else { return 0 }
        let ticks = fields[11...14].compactMap { UInt64($0) }.reduce(0, +)
        return ticks * 1000 / UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))
    }

    /// `SIGSEGV` for 11, and so on (Linux numbering, the same on x86_64 and aarch64).
    static func signalName(_ signal: Int32) -> String {
        let names = ["HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE",
                     "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ",
                     "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS"]
        return signal >= 1 && Int(signal) <= names.count ? "SIG" + names[Int(signal) - 1] : "signal \(signal)"
    }
}
