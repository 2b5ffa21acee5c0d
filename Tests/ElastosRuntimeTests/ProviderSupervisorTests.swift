import ElastosCore
import ElastosNode
@testable import ElastosRuntime
import Foundation
import Synchronization
import Testing

/// A substrate whose capsules are real child processes (`/bin/sh -c <entrypoint>`), so the
/// supervisor's loop can be driven by processes that really exit or get killed.
struct ShellSubstrate: Substrate {
    let name = "shell"
    func start(_ capsule: LaunchableCapsule, args: [String], stdio: StdioDescriptors, handler: SessionHandler) throws -> any RunningCapsule {
        var pid: pid_t = 0
        let words: [String] = ["/bin/sh", "-c", capsule.entrypoint]
        let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        guard posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ) == 0 else { throw LaunchError("cannot spawn /bin/sh") }
        return ShellCapsule(pid: pid)
    }
}

struct ShellCapsule: RunningCapsule {
    let pid: pid_t
    func wait() -> SessionState {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7f
        return signal != 0 ? .failed(reason: "signal \(signal)") : .exited(code: (status >> 8) & 0xff)
    }
    func stop(reason: String) { kill(pid, SIGKILL) }
}

@Suite struct ProviderSupervisorTests {
    func capsule(_ script: String) -> LaunchableCapsule {
        LaunchableCapsule(name: "flaky", version: "1", cid: "bafy-test", publisher: "did:key:test", trust: .node, type: "shell",
                          directory: "/", entrypoint: script, declared: [], memoryLimitBytes: 1 << 20,
                          cpuMillis: nil, wallMillis: nil, role: "provider")
    }

    func events(_ t: TempNode) throws -> [AuditRecord] {
        try t.node.audit.flush()
        return try AuditLog.tail(directory: t.node.home.auditDirectory, count: 1000)
    }

    @Test func aCapsuleThatKeepsDyingYoungIsRestartedWithBackOffThenGivenUp() throws {
        let t = try TempNode()
        let runtime = RuntimeNode(node: t.node, substrates: [ShellSubstrate()], router: try ProviderRouter([]))
        let provider = CapsuleProvider(name: "flaky")
        let launches = Mutex<[ContinuousClock.Instant]>([])
        let capsule = capsule("exit 3")
        let supervisor = ProviderSupervisor(runtime: runtime, provider: provider, maxQuickFailures: 3) {
            launches.withLock { $0.append(.now) }
            return try runtime.launch(capsule, args: [], stdio: .inherited, policy: DeclaredCapabilityPolicy(allowDeclared: false))
        }
        _ = try supervisor.start()
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline, try !events(t).contains(where: { $0.event == "provider.gave-up" }) {
            Thread.sleep(forTimeInterval: 0.05)
        }
        let all = try events(t)
        #expect(all.filter { $0.event == "provider.restarted" }.count == 3)
        #expect(all.contains { $0.event == "provider.gave-up" && $0.resource == "flaky" })
        #expect(supervisor.restarts == 3 && supervisor.current == nil)
        // The gaps grow: 100 ms, then 250 ms, then 500 ms (each at least that).
        let times = launches.withLock { $0 }
        #expect(times.count == 4)
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
        for (gap, least) in zip(gaps, [Duration.milliseconds(100), .milliseconds(250), .milliseconds(500)]) {
            #expect(gap >= least, "\(gaps)")
        }
        // Nothing serves now, and calls say so at once instead of waiting for a replacement.
        #expect(!provider.isBound)
    }

    @Test func aKilledCapsuleIsReplacedAndShutdownStopsTheRestarts() throws {
        let t = try TempNode()
        let runtime = RuntimeNode(node: t.node, substrates: [ShellSubstrate()], router: try ProviderRouter([]))
        let provider = CapsuleProvider(name: "long")
        let capsule = capsule("sleep 30")
        let supervisor = ProviderSupervisor(runtime: runtime, provider: provider) {
            try runtime.launch(capsule, args: [], stdio: .inherited, policy: DeclaredCapabilityPolicy(allowDeclared: false))
        }
        let first = try supervisor.start()
        #expect(runtime.stop(first.id, reason: "test kills it"))
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline, supervisor.current?.id == first.id || supervisor.current == nil {
            Thread.sleep(forTimeInterval: 0.02)
        }
        let second = try #require(supervisor.current)
        #expect(second.id != first.id && supervisor.restarts == 1)
        // Once shut down, an ending capsule stays ended.
        supervisor.shutdown()
        #expect(runtime.stop(second.id, reason: "node stopping"))
        _ = runtime.wait(second.id)
        Thread.sleep(forTimeInterval: 0.5)
        #expect(supervisor.restarts == 1 && supervisor.current?.id == second.id)
    }

    @Test func theBackOffGrowsAndIsCapped() {
        let delays = (1...12).map { ProviderSupervisor.backoff(afterQuickFailures: $0) }
        #expect(delays.prefix(4) == [.milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1)])
        #expect(zip(delays.dropFirst(), delays).allSatisfy { $0 >= $1 })
        #expect(delays.last == .seconds(30))
    }
}
