import ElastosCore
public import ElastosWasm
import Foundation
import Synchronization

/// Runs `wasm` capsules on WasmKit (docs/WASM.md) behind the one capsule protocol: requests the
/// guest makes over the `elastos` host functions go to its session's handler.
public struct WasmSubstrate: Substrate {
    public init() {}
    public var name: String { "wasm" }

    public func start(_ capsule: LaunchableCapsule, args: [String], stdio: StdioDescriptors, handler: SessionHandler) throws -> any RunningCapsule {
        let path = capsule.directory + "/" + capsule.entrypoint
        guard let module = FileManager.default.contents(atPath: path) else {
            throw LaunchError("the capsule's entrypoint \(capsule.entrypoint) is missing from its package")
        }
        func target(_ fd: Int32, _ standard: Int32) -> StdioTarget { fd == standard ? .inherit : .fileDescriptor(fd) }
        let launch = WasmLaunch(
            module: Array(module), name: capsule.name, args: args, environment: [:],
            stdin: target(stdio.input, 0), stdout: target(stdio.output, 1), stderr: target(stdio.error, 2),
            // The capsule sees its own verified package, read-only, and nothing else of the host.
            preopens: [Preopen(hostPath: capsule.directory, guestPath: "/capsule", readOnly: true)],
            memoryLimitBytes: capsule.memoryLimitBytes, fuel: capsule.maxFuel,
            wallClockLimit: capsule.wallMillis.map { .milliseconds(Int64(clamping: $0)) },
            cpuTimeLimit: capsule.cpuMillis.map { .milliseconds(Int64(clamping: $0)) })
        let wasm: WasmCapsule
        do { wasm = try WasmCapsule(launch, handler: handler) } catch { throw LaunchError(error.description) }
        return WasmRunning(wasm)
    }
}

/// A WASM capsule running on its own thread.
final class WasmRunning: RunningCapsule {
    private let wasm: WasmCapsule
    private let result = Mutex<SessionState?>(nil)
    private let done = DispatchSemaphore(value: 0)

    init(_ wasm: WasmCapsule) {
        self.wasm = wasm
        let t = Thread { [self] in
            let exit = wasm.run()
            result.withLock { $0 = Self.state(exit) }
            done.signal()
        }
        t.stackSize = 8 << 20
        t.start()
    }

    func wait() -> SessionState {
        done.wait()
        done.signal()  // later waiters see it too
        return result.withLock { $0 } ?? .failed(reason: "no result")
    }

    func stop(reason: String) { wasm.stop(reason: reason) }

    static func state(_ exit: WasmExit) -> SessionState {
        switch exit {
        case .exited(let code): .exited(code: code)
        case .stopped(let reason): .stopped(reason: reason)
        case .fuelExhausted, .wallClockExceeded, .cpuTimeExceeded: .stopped(reason: exit.description)
        case .trapped, .memoryLimitExceeded, .failedToStart: .failed(reason: exit.description)
        }
    }
}

extension SessionHandler: CapsuleRequestHandler {
    /// The sandbox refused the guest something (a path outside its preopens, a write to a
    /// read-only one, memory past its cap): audited like any other denial.
    public func sandboxRefused(_ refusal: SandboxRefusal) {
        node.audit.record(AuditEvent(event: "sandbox.refused", subject: session.principal, decision: .deny, reason: refusal.description))
    }
}
