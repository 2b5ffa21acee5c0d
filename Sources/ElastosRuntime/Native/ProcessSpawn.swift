#if canImport(Glibc)
import Glibc
#endif

/// Starts a process with `posix_spawn`, handing it exactly the descriptors named and nothing
/// else. (`Foundation.Process` cannot pass extra descriptors; plain `posix_spawn` leaks every
/// descriptor not marked close-on-exec, including the Swift runtime's own.)
public enum ProcessSpawn {
    /// Why a spawn failed.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let executable: String
        public let code: Int32
        public var description: String { "cannot start \(executable): \(String(cString: strerror(code)))" }
    }

    /// Spawns `executable` with `arguments` (argv[0] included) and `environment`. `descriptors`
    /// maps child descriptor numbers to this process's descriptors; every other descriptor is
    /// closed in the child. The child gets a process group of its own, so it and everything it
    /// starts can be signalled together.
    public static func spawn(_ executable: String, arguments: [String], environment: [String],
                             descriptors: [Int32: Int32]) throws(Failure) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // A source whose number is also a target would be overwritten before it is copied: move
        // those above every number in play first. (dup2 onto the same number clears
        // close-on-exec in glibc, as POSIX 2017 asks.)
        let highest = (descriptors.keys.max() ?? 2) + 1
        let above = max(highest, (descriptors.values.max() ?? 0) + 1)
        var staged: [(target: Int32, source: Int32)] = []
        for (offset, (target, source)) in descriptors.sorted(by: { $0.key < $1.key }).enumerated() {
            if source != target && descriptors.keys.contains(source) {
                let temporary = above + Int32(offset)
                posix_spawn_file_actions_adddup2(&actions, source, temporary)
                staged.append((target, temporary))
            } else {
                staged.append((target, source))
            }
        }
        for (target, source) in staged { posix_spawn_file_actions_adddup2(&actions, source, target) }
        guard let closeFrom = closeFromAction else { throw Failure(executable: executable, code: ENOSYS) }
        _ = closeFrom(&actions, highest)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaultSignals = sigset_t()
        sigfillset(&defaultSignals)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        var pid: Int32 = 0
        let argv = CStrings(arguments), envp = CStrings(environment)
        defer { argv.free(); envp.free() }
        let r = posix_spawn(&pid, executable, &actions, &attributes, argv.pointers, envp.pointers)
        guard r == 0 else { throw Failure(executable: executable, code: r) }
        return pid
    }

    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34+), which Swift's Glibc module does
    /// not export: looked up at run time.
    static let closeFromAction: CloseFrom? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: CloseFrom.self)
    }()

    /// True when this C library can close the other descriptors in the child.
    public static var isSupported: Bool { closeFromAction != nil }
}

/// A NULL-terminated array of C strings, freed by `free()`.
struct CStrings {
    var pointers: [UnsafeMutablePointer<CChar>?]
    init(_ strings: [String]) { pointers = strings.map { strdup($0) } + [nil] }
    func free() { for p in pointers { Glibc.free(p) } }
}

/// `pipe` with both ends close-on-exec. (Swift's Glibc module has no `pipe2`; the short window
/// before `fcntl` does not matter here because every spawn also closes all descriptors it was
/// not given.)
enum Pipe {
    static func make(_ fds: inout [Int32]) -> Bool {
        guard fds.count == 2, pipe(&fds) == 0 else { return false }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return true
    }
}
