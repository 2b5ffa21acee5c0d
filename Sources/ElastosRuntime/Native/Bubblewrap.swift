#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// The bubblewrap command line a native capsule runs under (docs/NATIVE.md): every namespace
/// unshared (user, pid, mount, ipc, uts, net, cgroup), no capabilities, an empty environment, the
/// host's `/usr` read-only and nothing else of it, the capsule's package read-only at `/capsule`,
/// its data directory read-write at `/data`, a private `/tmp`, and the seccomp filter.
public struct BubblewrapProfile: Sendable, Equatable {
    /// The capsule's package directory on the host.
    public var capsuleDirectory: String
    /// Its data directory on the host (created 0700 by the substrate).
    public var dataDirectory: String
    /// The entrypoint, relative to the package.
    public var entrypoint: String
    /// The capsule's own arguments (after argv[0]).
    public var capsuleArguments: [String]
    /// The descriptor number, inside the sandbox, of the runtime connection.
    public var channelDescriptor: Int32
    /// The descriptor number bwrap reads the seccomp program from.
    public var seccompDescriptor: Int32
    /// Whether this bwrap knows `--disable-userns` (0.8.0+): no nested user namespaces.
    public var disableNestedUserNamespaces: Bool

    public init(capsuleDirectory: String, dataDirectory: String, entrypoint: String, capsuleArguments: [String],
                channelDescriptor: Int32 = 3, seccompDescriptor: Int32 = 4, disableNestedUserNamespaces: Bool) {
        self.capsuleDirectory = capsuleDirectory; self.dataDirectory = dataDirectory; self.entrypoint = entrypoint
        self.capsuleArguments = capsuleArguments; self.channelDescriptor = channelDescriptor
        self.seccompDescriptor = seccompDescriptor; self.disableNestedUserNamespaces = disableNestedUserNamespaces
    }

    /// bwrap's arguments after argv[0].
    public var arguments: [String] {
        var a = [
            "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
            "--uid", "1000", "--gid", "1000", "--hostname", "capsule",
        ]
        if disableNestedUserNamespaces { a += ["--disable-userns"] }
        a += ["--cap-drop", "ALL", "--clearenv",
              "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/data",
              "--setenv", "ELASTOS_CAPSULE_FD", String(channelDescriptor)]
        a += ["--ro-bind", "/usr", "/usr"]
        // Merged-/usr systems (Debian 12, Ubuntu, Fedora) have these as symlinks into /usr:
        // recreate them so the dynamic loader and /bin/sh are where binaries expect them. Where
        // one is a real directory, bind it read-only instead.
        for link in ["/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"] {
            if let target = Self.symlinkTarget(link) {
                a += ["--symlink", target, link]
            } else if Self.isDirectory(link) {
                a += ["--ro-bind", link, link]
            }
        }
        if FileManager.default.fileExists(atPath: "/etc/ld.so.cache") { a += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"] }
        a += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
              "--ro-bind", capsuleDirectory, "/capsule",
              "--bind", dataDirectory, "/data",
              // Last: the tmpfs root itself (and /etc in it) read-only; /tmp and /data stay writable.
              "--remount-ro", "/",
              "--chdir", "/capsule",
              "--seccomp", String(seccompDescriptor),
              "--", "/capsule/" + entrypoint]
        return a + capsuleArguments
    }

    private static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    private static func symlinkTarget(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// What this host offers bubblewrap, probed once per bwrap path: is it there, can it create a
/// user namespace (`bwrap --unshare-user --ro-bind / / true`), which options does it know.
public struct BubblewrapSupport: Sendable, Equatable {
    public let path: String
    public let disableUserNamespaces: Bool

    private static let cache = Mutex<[String: BubblewrapSupport]>([:])

    /// Probes `path`: refuses with a message saying what is missing and how to get it. Only a
    /// success is remembered, so installing bubblewrap takes effect without restarting the node.
    public static func probe(_ path: String) throws(LaunchError) -> BubblewrapSupport {
        if let known = cache.withLock({ $0[path] }) { return known }
        let support = try check(path)
        cache.withLock { $0[path] = support }
        return support
    }

    private static func check(_ path: String) throws(LaunchError) -> BubblewrapSupport {
        let install = "install bubblewrap (Debian/Ubuntu: apt install bubblewrap; Fedora: dnf install bubblewrap)"
        guard access(path, X_OK) == 0 else {
            throw LaunchError("native capsules run only inside bubblewrap, and \(path) is not there: \(install). The runtime never runs a native capsule unsandboxed.")
        }
        guard ProcessSpawn.isSupported else {
            throw LaunchError("native capsules need posix_spawn_file_actions_addclosefrom_np (glibc 2.34 or newer) so that no runtime descriptor leaks into the sandbox")
        }
        let help = run(path, ["--help"])
        guard help.status == 0 || !help.output.isEmpty else {
            throw LaunchError("\(path) does not run (\(help.output.prefix(200))): reinstall bubblewrap (apt install bubblewrap)")
        }
        let userns = run(path, ["--unshare-user", "--ro-bind", "/", "/", "true"])
        guard userns.status == 0 else {
            throw LaunchError(
                "bubblewrap cannot create a user namespace here ('bwrap --unshare-user --ro-bind / / true' failed: \(userns.output.trimmingCharacters(in: .whitespacesAndNewlines).prefix(300))). "
                    + "Enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 on Debian kernels, "
                    + "user.max_user_namespaces > 0, or on Ubuntu 24.04+ an AppArmor profile allowing userns for bwrap). "
                    + "The runtime never runs a native capsule unsandboxed.")
        }
        return BubblewrapSupport(path: path, disableUserNamespaces: help.output.contains("--disable-userns"))
    }

    /// Runs a short probe command; its exit status and combined output.
    private static func run(_ path: String, _ arguments: [String]) -> (status: Int32, output: String) {
        var fds: [Int32] = [-1, -1]
        guard Pipe.make(&fds) else { return (-1, "pipe: \(String(cString: strerror(errno)))") }
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { if null >= 0 { close(null) } }
        let pid: Int32
        do {
            pid = try ProcessSpawn.spawn(path, arguments: [path] + arguments, environment: ["PATH=/usr/bin:/bin"],
                                         descriptors: [0: null, 1: fds[1], 2: fds[1]])
        } catch {
            close(fds[0]); close(fds[1])
            return (-1, error.description)
        }
        close(fds[1])
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            if output.count < 65536 { output += chunk[0..<n] }
        }
        close(fds[0])
        let status = ChildProcess.waitForExit(pid)
        let code: Int32 = if case .exited(let c) = status { c } else { -1 }
        return (code, String(decoding: output, as: UTF8.self))
    }
}
