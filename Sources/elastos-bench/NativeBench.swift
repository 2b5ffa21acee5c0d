// Section "native": the native substrate (docs/NATIVE.md) with hello built as a native
// executable (scripts/build-native-capsules.sh).
//
//   8a. spawn → first reply: NativeCapsule starts prlimit → bwrap (every namespace, seccomp,
//       binds) → hello, which greets, finds stdin at end of input and pings; the time is from the
//       start of the launch to the runtime's handling of that ping;
//   8b. the same binary, same socketpair and CapsuleChannel, spawned by a plain posix_spawn
//       without any sandbox: the baseline. Rounds alternate, so both see the same machine load.

import CapsuleWire
import ElastosRuntime
import ElastosWasm
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Notes when the first request arrives and pongs everything.
final class FirstRequestHandler: CapsuleRequestHandler {
    private let first = Mutex<ContinuousClock.Instant?>(nil)
    func handle(_ request: CapsuleRequest, id: UInt32) -> RuntimeMessage {
        let now = ContinuousClock.now
        first.withLock { if $0 == nil { $0 = now } }
        if request == .info {
            return .reply(body: Array(#"{"session":"bench","capsule":"hello-native","cid":"","substrate":"native","protocol":1}"#.utf8))
        }
        return .reply(body: [])
    }
    var firstRequest: ContinuousClock.Instant? { first.withLock { $0 } }
}

extension Bench {
    func native(_ rows: inout [Row]) {
        print()
        print("8. Native substrate (bubblewrap: all namespaces, seccomp BPF, rlimits; hello built natively, static Swift runtime)")
        let root = Self.repositoryRoot + "/capsules/native/hello-native"
        let binary = root + "/hello"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            print("      !! \(binary) is missing (scripts/build-native-capsules.sh): section skipped")
            rows.append(Row(figure: "native: spawn → first reply", median: "not run", target: "≤ 15 ms", pass: false))
            return
        }
        let support: BubblewrapSupport
        do { support = try BubblewrapSupport.probe("/usr/bin/bwrap") } catch {
            print("      !! \(error): section skipped")
            rows.append(Row(figure: "native: spawn → first reply", median: "not run", target: "≤ 15 ms", pass: false))
            return
        }
        let data = NSTemporaryDirectory() + "elastos-bench-native-\(getpid())"
        mkdir(data, 0o700)
        defer { try? FileManager.default.removeItem(atPath: data) }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        let stdio = StdioDescriptors(input: null, output: null, error: null)

        func sandboxed() -> Double? {
            let handler = FirstRequestHandler()
            let profile = BubblewrapProfile(capsuleDirectory: root, dataDirectory: data, entrypoint: "hello", capsuleArguments: [],
                                            channelDescriptor: 3, seccompDescriptor: 4, disableNestedUserNamespaces: support.disableUserNamespaces)
            let start = ContinuousClock.now
            guard let capsule = try? NativeCapsule(NativeLaunch(name: "hello-native", profile: profile, stdio: stdio, memoryLimitBytes: 256 << 20,
                                                                cpuMillis: 10_000, wallMillis: 30_000), bubblewrap: support, handler: handler)
            else { return nil }
            let exit = capsule.wait()
            guard exit == .exited(code: 0), let first = handler.firstRequest else { print("      !! sandboxed hello: \(exit)"); return nil }
            return (first - start).seconds * 1000
        }

        func plain() -> Double? {
            let handler = FirstRequestHandler()
            var pair: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else { return nil }
            let start = ContinuousClock.now
            let channel = CapsuleChannel(fd: pair[0], handler: handler)
            guard let pid = try? ProcessSpawn.spawn(binary, arguments: [binary], environment: ["ELASTOS_CAPSULE_FD=3"],
                                                    descriptors: [0: null, 1: null, 2: null, 3: pair[1]])
            else { close(pair[0]); close(pair[1]); return nil }
            close(pair[1])
            channel.start(name: "plain")
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            channel.shutdown()
            guard status == 0, let first = handler.firstRequest else { return nil }
            return (first - start).seconds * 1000
        }

        let rounds = plan.quick ? 10 : 30
        var boxed: [Double] = [], bare: [Double] = []
        _ = sandboxed(); _ = plain()  // warm the page cache
        for _ in 0..<rounds {
            if let s = sandboxed() { boxed.append(s) }
            if let p = plain() { bare.append(p) }
        }
        func describe(_ samples: [Double]) -> (median: Double, text: String)? {
            guard !samples.isEmpty else { return nil }
            let s = samples.sorted()
            let median = s[s.count / 2]
            return (median, String(format: "%8.2f ms median  (p10 %.2f, p90 %.2f, %d runs)", median, s[s.count / 10], s[min(s.count - 1, s.count * 9 / 10)], s.count))
        }
        guard let b = describe(boxed) else {
            print("      !! the sandboxed hello did not run")
            rows.append(Row(figure: "native: spawn → first reply", median: "failed", target: "≤ 15 ms", pass: false))
            return
        }
        print("  " + Format.pad("8a. spawn → first reply, bubblewrap sandbox", 52) + b.text)
        if let p = describe(bare) {
            print("  " + Format.pad("8b. spawn → first reply, plain fork+exec", 52) + p.text)
            print(String(format: "      the sandbox costs %.2f ms per start over a plain spawn", b.median - p.median))
        }
        rows.append(Row(figure: "native: spawn → first reply", median: String(format: "%.2f ms", b.median), target: "≤ 15 ms", pass: b.median <= 15))
    }
}
