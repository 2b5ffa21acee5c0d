#if canImport(Glibc)
import Glibc
#endif
import ElastosCore
public import ElastosNode
import Foundation
import Synchronization

/// The node core: owns capsule lifecycle and sessions, routes every capsule request through
/// its session's handler, and (when serving) answers the local control API.
public final class RuntimeNode: Sendable {
    public let node: Node
    public let sessions = SessionRegistry()
    public let router: ProviderRouter
    private let substrates: [String: any Substrate]
    private let running = Mutex<[String: any RunningCapsule]>([:])
    private let finished = Mutex<[String: SessionState]>([:])
    private let finishedSignal = Condition()

    public init(node: Node, substrates: [any Substrate], router: ProviderRouter) {
        self.node = node
        self.router = router
        var s: [String: any Substrate] = [:]
        for sub in substrates { s[sub.name] = sub }
        self.substrates = s
    }

    /// Launches a capsule in a new session; returns at once. `wait(_:)` blocks until it ends.
    public func launch(_ capsule: LaunchableCapsule, args: [String], stdio: StdioDescriptors,
                       policy: any CapabilityPolicy) throws(LaunchError) -> Session {
        guard let substrate = substrates[capsule.type] else {
            throw LaunchError("no \(capsule.type) substrate in this runtime (available: \(substrates.keys.sorted().joined(separator: ", ")))")
        }
        let session = Session(capsule: capsule.name, version: capsule.version, cid: capsule.cid, publisher: capsule.publisher,
                              trust: capsule.trust, substrate: substrate.name, startedAt: Node.systemClock())
        let handler = SessionHandler(session: session, node: node, router: router, policy: policy, declared: capsule.declared)
        if capsule.trust == .untrusted {
            node.audit.record(AuditEvent(event: "capsule.untrusted", subject: session.principal, resource: capsule.cid,
                                         decision: .info, reason: "publisher \(capsule.publisher) is not on the trust list"))
        }
        let started: any RunningCapsule
        do { started = try substrate.start(capsule, args: args, stdio: stdio, handler: handler) } catch {
            node.audit.record(AuditEvent(event: "capsule.launch-failed", subject: session.principal, resource: capsule.cid,
                                         decision: .deny, reason: "\(error)"))
            throw LaunchError("cannot start \(capsule.name): \(error)")
        }
        sessions.add(session)
        running.withLock { $0[session.id] = started }
        node.audit.record(AuditEvent(event: "capsule.launched", subject: session.principal, resource: capsule.cid,
                                     action: "execute", decision: .allow,
                                     reason: "\(capsule.name) \(capsule.version) on \(substrate.name)\(started.mode.map { " (\($0))" } ?? ""), publisher \(capsule.publisher) (\(capsule.trust.rawValue))"))
        let thread = Thread { [self] in
            let state = started.wait()
            sessions.setState(session.id, state)
            _ = running.withLock { $0.removeValue(forKey: session.id) }
            node.audit.record(AuditEvent(event: "capsule.ended", subject: session.principal, resource: capsule.cid,
                                         decision: .info, reason: state.description))
            finishedSignal.lock()
            finished.withLock { $0[session.id] = state }
            finishedSignal.broadcast()
            finishedSignal.unlock()
        }
        thread.name = "capsule \(capsule.name) \(session.id.prefix(8))"
        thread.start()
        return session
    }

    /// Launches a provider capsule (manifest role `provider`) and binds `provider`, a route the
    /// router already has, to it: calls to that route are then served by the capsule.
    ///
    /// A provider lives as long as the node, so its manifest's CPU and wall-clock limits (meant
    /// for apps) do not apply; its memory limit does.
    public func launchProvider(_ capsule: LaunchableCapsule, as provider: CapsuleProvider, args: [String] = [],
                               stdio: StdioDescriptors, policy: any CapabilityPolicy) throws(LaunchError) -> Session {
        // The shell decides what every capsule gets (the orchestrator role): only a capsule
        // whose manifest says `shell`, from the node's key or a trusted publisher, may be it.
        if provider.name == Self.shellProviderName {
            guard capsule.role == "shell" else {
                throw LaunchError("\(capsule.name) has role \(capsule.role): only a capsule with role shell can be the shell")
            }
            guard capsule.trust != .untrusted else {
                throw LaunchError("\(capsule.name) is signed by \(capsule.publisher), who is not trusted: the shell must come from this node's key or a trusted publisher")
            }
        } else if capsule.role != "provider" {
            throw LaunchError("\(capsule.name) has role \(capsule.role): only a provider capsule can serve \(provider.name)")
        }
        var capsule = capsule
        capsule.cpuMillis = nil
        capsule.wallMillis = nil
        let session = try launch(capsule, args: args, stdio: stdio, policy: policy)
        guard let channel = running.withLock({ $0[session.id]?.channel }) else {
            stop(session.id, reason: "its substrate cannot hand it calls")
            throw LaunchError("\(capsule.name) runs on \(capsule.type), which cannot serve calls yet (native and microVM provider capsules can)")
        }
        provider.bind(channel)
        node.audit.record(AuditEvent(event: "provider.bound", subject: session.principal, resource: provider.name,
                                     decision: .info, reason: "\(capsule.name) \(capsule.version) serves \(provider.name)"))
        return session
    }

    public static let shellProviderName = "shell"
    private let shellCapsule = Mutex<CapsuleProvider?>(nil)

    /// From now on, capability requests of capsules launched through ``policy(forLaunch:allowDeclared:terminalInput:terminalOutput:)``
    /// are decided by the shell capsule bound to `shell`.
    public func useShell(_ shell: CapsuleProvider) { shellCapsule.withLock { $0 = shell } }

    /// The policy for one launch: the shell capsule's decisions when the node has one, else the
    /// same engine in-process; prompts on the terminal the capsule was started from.
    public func policy(forLaunch capsule: LaunchableCapsule, allowDeclared: Bool, terminalInput: Int32, terminalOutput: Int32) -> any CapabilityPolicy {
        guard let shell = shellCapsule.withLock({ $0 }) else {
            return ShellPolicy.forLaunch(of: capsule, node: node, allowDeclared: allowDeclared,
                                         terminalInput: terminalInput, terminalOutput: terminalOutput)
        }
        return ShellCapsulePolicy(shell: shell, role: capsule.role, allowDeclared: allowDeclared,
                                  prompter: TerminalPrompter.ifInteractive(input: terminalInput, output: terminalOutput), audit: node.audit)
    }

    /// Blocks until the session ends.
    public func wait(_ id: String) -> SessionState {
        finishedSignal.lock()
        defer { finishedSignal.unlock() }
        while true {
            if let s = finished.withLock({ $0[id] }) { return s }
            if sessions.entry(id) == nil { return .failed(reason: "no such session") }
            finishedSignal.wait()
        }
    }

    /// How a running session's substrate runs it (``RunningCapsule/mode``), nil if it has no modes or has ended.
    public func mode(of id: String) -> String? {
        running.withLock { $0[id] }?.mode
    }

    /// Stops a running session. Returns false if there is none with that id.
    @discardableResult
    public func stop(_ id: String, reason: String) -> Bool {
        guard let entry = sessions.find(id), let capsule = running.withLock({ $0[entry.session.id] }) else { return false }
        node.audit.record(AuditEvent(event: "capsule.stop", subject: "operator", resource: entry.session.cid,
                                     decision: .info, reason: reason))
        capsule.stop(reason: reason)
        return true
    }

    /// Stops everything (node shutdown).
    public func stopAll(reason: String) {
        for (_, c) in running.withLock({ $0 }) { c.stop(reason: reason) }
    }
}

/// A tiny condition variable for waiting on session ends.
final class Condition: @unchecked Sendable {
    // @unchecked: NSCondition is thread-safe; it is only marked non-Sendable by its import.
    private let c = NSCondition()
    func lock() { c.lock() }
    func unlock() { c.unlock() }
    func wait() { c.wait() }
    func broadcast() { c.broadcast() }
}
