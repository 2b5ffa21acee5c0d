#if canImport(Glibc)
import Glibc
#endif
import ElastosCore
import Foundation

/// Runs `native` capsules, Linux executables, inside bubblewrap (docs/NATIVE.md): all
/// namespaces, no network, no capabilities, read-only `/usr` and package, a private data
/// directory, a seccomp filter, rlimits and a watchdog. Where bubblewrap is missing or cannot
/// create a user namespace, `start` refuses and says what to install; it never runs a capsule
/// unsandboxed.
public struct NativeSubstrate: Substrate {
    public let bubblewrap: String
    public let prlimit: String
    public let stopGrace: Duration

    /// `bubblewrap` and `prlimit` are the programs' paths (parameters so tests can point them
    /// at something missing).
    public init(bubblewrap: String = "/usr/bin/bwrap", prlimit: String = "/usr/bin/prlimit", stopGrace: Duration = .seconds(2)) {
        self.bubblewrap = bubblewrap
        self.prlimit = prlimit
        self.stopGrace = stopGrace
    }

    public var name: String { "native" }

    /// `<node home>/data/<capsule name>`: the capsule's own read-write directory, seen as `/data`.
    public static func dataDirectory(home: String, capsule: String) -> String { home + "/data/" + capsule }

    public func start(_ capsule: LaunchableCapsule, args: [String], stdio: StdioDescriptors, handler: SessionHandler) throws -> any RunningCapsule {
        let support = try BubblewrapSupport.probe(bubblewrap)
        guard access(prlimit, X_OK) == 0 else {
            throw LaunchError("native capsules get their memory and CPU limits from prlimit, and \(prlimit) is not there: install util-linux (apt install util-linux)")
        }
        // Manifest names are [a-z0-9-] (docs/CAPSULE-FORMAT.md), so the name is one path segment.
        guard !capsule.name.isEmpty, !capsule.name.contains("/"), capsule.name != ".", capsule.name != ".." else {
            throw LaunchError("capsule name \(capsule.name) cannot name a data directory")
        }
        let entry = capsule.directory + "/" + capsule.entrypoint
        guard access(entry, X_OK) == 0 else {
            throw LaunchError("the capsule's entrypoint \(capsule.entrypoint) is missing from its package or not executable")
        }
        let data = capsule.dataDirectory ?? Self.dataDirectory(home: handler.node.home.path, capsule: capsule.name)
        for directory in capsule.dataDirectory != nil ? [data] : [handler.node.home.path + "/data", data] {
            if mkdir(directory, 0o700) != 0 && errno != EEXIST {
                throw LaunchError("cannot create the capsule's data directory \(directory): \(String(cString: strerror(errno)))")
            }
        }
        let profile = BubblewrapProfile(capsuleDirectory: capsule.directory, dataDirectory: data, entrypoint: capsule.entrypoint,
                                        capsuleArguments: args, channelDescriptor: 3, seccompDescriptor: 4,
                                        disableNestedUserNamespaces: support.disableUserNamespaces)
        let launch = NativeLaunch(name: capsule.name, profile: profile, stdio: stdio, memoryLimitBytes: capsule.memoryLimitBytes,
                                  cpuMillis: capsule.cpuMillis, wallMillis: capsule.wallMillis, stopGrace: stopGrace)
        return NativeRunning(try NativeCapsule(launch, bubblewrap: support, prlimit: prlimit, handler: handler))
    }
}

/// A native capsule as a session sees it.
final class NativeRunning: RunningCapsule {
    let capsule: NativeCapsule
    init(_ capsule: NativeCapsule) { self.capsule = capsule }

    var channel: CapsuleChannel? { capsule.channel }

    func wait() -> SessionState {
        switch capsule.wait() {
        case .exited(let code): .exited(code: code)
        case .stopped(let reason): .stopped(reason: reason)
        case .signaled(let signal, let name): .failed(reason: "killed by \(name) (signal \(signal))")
        }
    }

    func stop(reason: String) {
        // `stop` blocks for up to the grace period; the caller (the control API, the CLI) must
        // not wait for it.
        let capsule = capsule
        Thread.detachNewThread { capsule.stop(reason: reason) }
    }
}
