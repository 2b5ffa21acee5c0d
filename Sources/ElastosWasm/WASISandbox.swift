internal import WasmKit
internal import WASI

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// WASI Preview 1 for one guest, as WasmKit implements it, with what a hostile guest needs
/// taken away:
///
/// - every pointer argument (and every iovec behind one) is checked against the guest's memory
///   and its alignment before WASI sees it: a bad one gets `EFAULT`/`EINVAL`, never a host
///   crash; WASI itself only ever sees a ``GuardedMemory``;
/// - read-only preopens: changes below one get `EROFS` (WasmKit has no read-only preopens);
/// - a guest blocked reading stdin, or sleeping in `poll_oneoff` on clocks, wakes up when the
///   run is interrupted, so `stop` and the wall-clock limit also end a guest that is waiting.
final class WASISandbox {
    private let functions: [String: WASIHostFunction<GuardedMemory>]
    private let control: RunControl
    private let handler: any CapsuleRequestHandler
    /// Host descriptor behind guest fd 0 when it can block (not `/dev/null`).
    private let stdinFD: Int32?
    /// `args_get` / `environ_get` write this many pointers and bytes.
    private let argvCount: Int, argvBytes: Int, envCount: Int, envBytes: Int
    /// Guest descriptors below a read-only preopen: the preopens themselves and everything
    /// opened through them. Touched only on the guest's thread.
    private var readOnly: Set<UInt32> = []

    init(bridge: WASIBridgeToHost, launch: WasmLaunch, argv: [String], control: RunControl,
         handler: any CapsuleRequestHandler, stdinFD: Int32?) {
        functions = bridge.hostFunctions(capabilities: WASI.WASICapability<GuardedMemory>.all)
        self.control = control
        self.handler = handler
        self.stdinFD = stdinFD
        argvCount = argv.count
        argvBytes = argv.reduce(0) { $0 + $1.utf8.count + 1 }
        envCount = launch.environment.count
        envBytes = launch.environment.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 2 }
        for (i, p) in launch.preopens.enumerated() where p.readOnly { readOnly.insert(UInt32(3 + i)) }
    }

    static let moduleName = "wasi_snapshot_preview1"

    /// Every preview1 function name this runtime provides, with its type.
    static func signatures() -> [String: FunctionType] {
        var all: [String: FunctionType] = [:]
        // A bridge without preopens or files is enough to list them.
        if let bridge = try? WASIBridgeToHost(args: [], environment: [:], preopens: [], stdin: 0, stdout: 1, stderr: 2) {
            for (name, f) in bridge.hostFunctions(capabilities: WASI.WASICapability<GuardedMemory>.all) { all[name] = f.type }
            try? bridge.close()
        }
        return all
    }

    func link(into imports: inout Imports, store: Store) {
        for (name, function) in functions {
            let spans = Self.pointerSpans[name] ?? []
            imports.define(module: Self.moduleName, name: name, Function(store: store, type: function.type) { [self] caller, args in
                guard case .memory(let memory)? = caller.instance?.export("memory") else {
                    throw WasmKitGuestFault("the guest has no exported memory named 'memory'")
                }
                return try call(name, function, spans, args, memory)
            })
        }
    }

    // MARK: The wrapper

    private func call(_ name: String, _ function: WASIHostFunction<GuardedMemory>, _ spans: [Span],
                      _ args: [Value], _ memory: Memory) throws -> [Value] {
        if control.isInterrupted { throw GuestInterrupted() }
        if let errno = validate(name, spans, args, memory) {
            handler.sandboxRefused(.badGuestPointer(function: name))
            return [.i32(UInt32(errno))]
        }
        if let refusal = readOnlyRefusal(name, args, memory) {
            handler.sandboxRefused(refusal)
            return [.i32(UInt32(Errno.EROFS))]
        }
        if let escape = lexicalEscape(name, args, memory) {
            handler.sandboxRefused(.pathOutsidePreopens(function: name, path: escape))
            return [.i32(UInt32(Errno.EPERM))]  // what WASI's own resolution answers for an escape
        }
        switch name {
        case "fd_read" where args[0].i32 == 0:
            try waitForStdin()
        case "poll_oneoff":
            if let result = try sleepOnClocks(args, memory) { return result }
        default:
            break
        }
        let faults = FaultFlag()
        let result = try function.implementation(GuardedMemory(memory: memory, faults: faults), args)
        if faults.hit {
            handler.sandboxRefused(.badGuestPointer(function: name))
            return [.i32(UInt32(Errno.EFAULT))]
        }
        if let errno = result.first?.i32 { after(name, args, errno: errno, memory) }
        return result
    }

    // MARK: Pointer validation

    /// A region of guest memory a WASI function reads or writes, named by argument positions.
    enum Span {
        /// A fixed-size value at `args[pointer]`, naturally aligned.
        case value(pointer: Int, size: Int, align: Int)
        /// `args[length]` bytes at `args[pointer]`.
        case bytes(pointer: Int, length: Int)
        /// `args[count]` elements of `stride` bytes at `args[pointer]`.
        case array(pointer: Int, count: Int, stride: Int, align: Int)
        /// `args[count]` iovecs (buf:u32, len:u32) at `args[pointer]`, and each buffer.
        case iovecs(pointer: Int, count: Int)
        /// `args_get` / `environ_get`: the pointer array and the string buffer.
        case argv(pointers: Int, buffer: Int)
        case environ(pointers: Int, buffer: Int)
    }

    static let pointerSpans: [String: [Span]] = [
        "args_get": [.argv(pointers: 0, buffer: 1)],
        "args_sizes_get": [.value(pointer: 0, size: 4, align: 4), .value(pointer: 1, size: 4, align: 4)],
        "environ_get": [.environ(pointers: 0, buffer: 1)],
        "environ_sizes_get": [.value(pointer: 0, size: 4, align: 4), .value(pointer: 1, size: 4, align: 4)],
        "clock_res_get": [.value(pointer: 1, size: 8, align: 8)],
        "clock_time_get": [.value(pointer: 2, size: 8, align: 8)],
        "fd_fdstat_get": [.value(pointer: 1, size: 24, align: 8)],
        "fd_filestat_get": [.value(pointer: 1, size: 64, align: 8)],
        "fd_pread": [.iovecs(pointer: 1, count: 2), .value(pointer: 4, size: 4, align: 4)],
        "fd_prestat_dir_name": [.bytes(pointer: 1, length: 2)],
        "fd_prestat_get": [.value(pointer: 1, size: 8, align: 4)],
        "fd_pwrite": [.iovecs(pointer: 1, count: 2), .value(pointer: 4, size: 4, align: 4)],
        "fd_read": [.iovecs(pointer: 1, count: 2), .value(pointer: 3, size: 4, align: 4)],
        "fd_readdir": [.bytes(pointer: 1, length: 2), .value(pointer: 4, size: 4, align: 4)],
        "fd_seek": [.value(pointer: 3, size: 8, align: 8)],
        "fd_tell": [.value(pointer: 1, size: 8, align: 8)],
        "fd_write": [.iovecs(pointer: 1, count: 2), .value(pointer: 3, size: 4, align: 4)],
        "path_create_directory": [.bytes(pointer: 1, length: 2)],
        "path_filestat_get": [.bytes(pointer: 2, length: 3), .value(pointer: 4, size: 64, align: 8)],
        "path_filestat_set_times": [.bytes(pointer: 2, length: 3)],
        "path_link": [.bytes(pointer: 2, length: 3), .bytes(pointer: 5, length: 6)],
        "path_open": [.bytes(pointer: 2, length: 3), .value(pointer: 8, size: 4, align: 4)],
        "path_readlink": [.bytes(pointer: 1, length: 2), .bytes(pointer: 3, length: 4), .value(pointer: 5, size: 4, align: 4)],
        "path_remove_directory": [.bytes(pointer: 1, length: 2)],
        "path_rename": [.bytes(pointer: 1, length: 2), .bytes(pointer: 4, length: 5)],
        "path_symlink": [.bytes(pointer: 0, length: 1), .bytes(pointer: 3, length: 4)],
        "path_unlink_file": [.bytes(pointer: 1, length: 2)],
        "poll_oneoff": [.array(pointer: 0, count: 2, stride: 48, align: 8), .array(pointer: 1, count: 2, stride: 32, align: 8),
                        .value(pointer: 3, size: 4, align: 4)],
        "random_get": [.bytes(pointer: 0, length: 1)],
        "sock_accept": [.value(pointer: 2, size: 4, align: 4)],
        "sock_recv": [.iovecs(pointer: 1, count: 2), .value(pointer: 4, size: 4, align: 4), .value(pointer: 5, size: 2, align: 2)],
        "sock_send": [.iovecs(pointer: 1, count: 2), .value(pointer: 4, size: 4, align: 4)],
    ]

    /// The errno for the first bad region, or nil if all are inside memory and aligned.
    private func validate(_ name: String, _ spans: [Span], _ args: [Value], _ memory: Memory) -> UInt16? {
        func u32(_ i: Int) -> UInt32? { i < args.count ? args[i].i32 : nil }
        func check(_ ptr: UInt32?, _ size: Int, align: Int = 1) -> UInt16? {
            guard let ptr else { return Errno.EINVAL }
            guard memory.contains(offset: ptr, count: size) else { return Errno.EFAULT }
            return Int(ptr) % align == 0 ? nil : Errno.EINVAL
        }
        for span in spans {
            let bad: UInt16?
            switch span {
            case .value(let p, let size, let align):
                bad = check(u32(p), size, align: align)
            case .bytes(let p, let n):
                guard let length = u32(n) else { return Errno.EINVAL }
                bad = check(u32(p), Int(length))
            case .array(let p, let n, let stride, let align):
                guard let count = u32(n) else { return Errno.EINVAL }
                bad = check(u32(p), Int(count) * stride, align: align)
            case .iovecs(let p, let n):
                guard let base = u32(p), let count = u32(n) else { return Errno.EINVAL }
                if let e = check(base, Int(count) * 8, align: 4) { return e }
                for i in 0..<UInt32(count) {
                    guard let buf = memory.loadU32(at: base + i * 8), let len = memory.loadU32(at: base + i * 8 + 4) else { return Errno.EFAULT }
                    if let e = check(buf, Int(len)) { return e }
                }
                bad = nil
            case .argv(let pointers, let buffer):
                bad = check(u32(pointers), argvCount * 4, align: 4) ?? check(u32(buffer), argvBytes)
            case .environ(let pointers, let buffer):
                bad = check(u32(pointers), envCount * 4, align: 4) ?? check(u32(buffer), envBytes)
            }
            if let bad { return bad }
        }
        return nil
    }

    // MARK: Read-only preopens

    private func isReadOnly(_ v: Value) -> Bool { readOnly.contains(v.i32) }

    private func path(_ args: [Value], _ p: Int, _ n: Int, _ memory: Memory) -> String? {
        memory.bytes(at: args[p].i32, count: Int(args[n].i32)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// A refusal if `name` would change something below a read-only preopen.
    private func readOnlyRefusal(_ name: String, _ args: [Value], _ memory: Memory) -> SandboxRefusal? {
        switch name {
        case "path_open":
            guard isReadOnly(args[0]) else { return nil }
            let oflags = args[4].i32, rights = args[5].i64, fdflags = args[7].i32
            let writes = oflags & (Oflag.create | Oflag.truncate) != 0 || rights & Right.fdWrite != 0 || fdflags & FdFlag.append != 0
            return writes ? .readOnlyPreopen(function: name, path: path(args, 2, 3, memory)) : nil
        case "path_create_directory", "path_remove_directory", "path_unlink_file":
            return isReadOnly(args[0]) ? .readOnlyPreopen(function: name, path: path(args, 1, 2, memory)) : nil
        case "path_filestat_set_times":
            return isReadOnly(args[0]) ? .readOnlyPreopen(function: name, path: path(args, 2, 3, memory)) : nil
        case "path_symlink":
            return isReadOnly(args[2]) ? .readOnlyPreopen(function: name, path: path(args, 3, 4, memory)) : nil
        case "path_rename":
            // Out of a read-only directory changes it as much as into one.
            return isReadOnly(args[0]) || isReadOnly(args[3]) ? .readOnlyPreopen(function: name, path: path(args, 1, 2, memory)) : nil
        case "path_link":
            // A second name for a read-only file in a writable directory would make it writable.
            return isReadOnly(args[0]) || isReadOnly(args[4]) ? .readOnlyPreopen(function: name, path: path(args, 2, 3, memory)) : nil
        case "fd_write", "fd_pwrite", "fd_allocate", "fd_filestat_set_size", "fd_filestat_set_times":
            return isReadOnly(args[0]) ? .readOnlyPreopen(function: name, path: nil) : nil
        default:
            return nil
        }
    }

    /// Keeps the read-only set in step with the descriptor table, and reports sandbox escapes.
    private func after(_ name: String, _ args: [Value], errno: UInt32, _ memory: Memory) {
        switch (name, errno) {
        case ("path_open", 0):
            guard let fd = memory.loadU32(at: args[8].i32) else { return }
            if isReadOnly(args[0]) { readOnly.insert(fd) } else { readOnly.remove(fd) }
        case ("fd_close", 0):
            readOnly.remove(args[0].i32)
        case ("fd_renumber", 0):
            if readOnly.remove(args[0].i32) != nil { readOnly.insert(args[1].i32) } else { readOnly.remove(args[1].i32) }
        default:
            break
        }
        guard name.hasPrefix("path_") else { return }
        let (p, n) = Self.pathArguments(name)
        if errno == UInt32(Errno.EPERM) || errno == UInt32(Errno.ENOTCAPABLE) {
            if let path = path(args, p, n, memory) { handler.sandboxRefused(.pathOutsidePreopens(function: name, path: path)) }
        } else if errno == UInt32(Errno.EBADF) || errno == UInt32(Errno.ENOTDIR), name != "path_symlink" {
            handler.sandboxRefused(.notAnOpenDirectory(function: name, descriptor: args[0].i32, path: path(args, p, n, memory)))
        }
    }

    /// Where a `path_*` function's (first) path and its length are among its arguments.
    private static func pathArguments(_ name: String) -> (Int, Int) {
        switch name {
        case "path_symlink": (3, 4)
        case "path_open", "path_filestat_get", "path_filestat_set_times", "path_link": (2, 3)
        default: (1, 2)
        }
    }

    /// The path, if it leaves its directory on its face: absolute, or with more `..` than
    /// names before them at some point (`sub/../../x`). Refused before WASI resolves anything,
    /// so the answer never depends on what happens to exist on the host.
    private func lexicalEscape(_ name: String, _ args: [Value], _ memory: Memory) -> String? {
        guard name.hasPrefix("path_"), name != "path_symlink" else { return nil }
        let (p, n) = Self.pathArguments(name)
        guard let text = path(args, p, n, memory) else { return nil }
        if text.hasPrefix("/") { return text }
        var depth = 0
        for part in text.split(separator: "/", omittingEmptySubsequences: true) {
            if part == ".." { depth -= 1; if depth < 0 { return text } } else if part != "." { depth += 1 }
        }
        return nil
    }

    // MARK: Waiting that `stop` can end

    /// Waits until stdin is readable (or at EOF) or the run is interrupted.
    private func waitForStdin() throws {
        guard let fd = stdinFD, control.wakeRead >= 0 else { return }
        while true {
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: control.wakeRead, events: Int16(POLLIN), revents: 0)]
            let n = poll(&fds, 2, -1)
            if control.isInterrupted { throw GuestInterrupted() }
            if n < 0 {
                if errno == EINTR { continue }
                return  // let the read itself report the problem
            }
            if fds[0].revents != 0 { return }
        }
    }

    /// `poll_oneoff` whose subscriptions are all relative clock timeouts (how `sleep` and
    /// `nanosleep` come out of wasi-libc): sleeps in a way `stop` can end and writes the
    /// events itself. Anything else goes to WASI (nil).
    private func sleepOnClocks(_ args: [Value], _ memory: Memory) throws -> [Value]? {
        let input = args[0].i32, output = args[1].i32, count = args[2].i32, neventsPointer = args[3].i32
        guard count > 0 else { return nil }
        var subscriptions: [(userData: UInt64, timeout: UInt64)] = []
        for i in 0..<count {
            let s = input + i * 48
            guard let tag = memory.loadU8(at: s + 8), tag == 0,
                  let flags = memory.loadU8(at: s + 40), flags & 1 == 0,
                  let userData = memory.loadU64(at: s), let timeout = memory.loadU64(at: s + 24)
            else { return nil }
            subscriptions.append((userData, timeout))
        }
        let soonest = subscriptions.map(\.timeout).min() ?? 0
        try control.sleep(.nanoseconds(Int64(clamping: soonest)))
        var written: UInt32 = 0
        for s in subscriptions where s.timeout <= soonest {
            let e = output + written * 32
            memory.store([UInt8](repeating: 0, count: 32), at: e)
            memory.storeLE(s.userData, bytes: 8, at: e)
            memory.storeLE(0, bytes: 1, at: e + 10)  // type: clock
            written += 1
        }
        memory.storeLE(UInt64(written), bytes: 4, at: neventsPointer)
        return [.i32(0)]
    }
}

/// Thrown when a host function cannot go on (no memory export): traps the guest, not the host.
struct WasmKitGuestFault: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// WASI Preview 1 numbers used above.
enum Errno {
    static let EBADF: UInt16 = 8
    static let EFAULT: UInt16 = 21
    static let EINVAL: UInt16 = 28
    static let ENOTDIR: UInt16 = 54
    static let EPERM: UInt16 = 63
    static let EROFS: UInt16 = 69
    static let ENOTCAPABLE: UInt16 = 76
}

enum Oflag {
    static let create: UInt32 = 1 << 0
    static let truncate: UInt32 = 1 << 3
}

enum Right {
    static let fdWrite: UInt64 = 1 << 6
}

enum FdFlag {
    static let append: UInt32 = 1 << 0
}
