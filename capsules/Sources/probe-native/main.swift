// probe-native: a native capsule that tries to get out of its sandbox and prints one line per
// attempt, "probe <what>: refused (<error>)" or "probe <what>: ALLOWED (<detail>)", then pings
// the runtime over the capsule protocol. Ordinary Swift with Glibc: native only.
//
//   probe-native probe PORT [DIR…]  every attempt; PORT is a TCP listener on the host's 127.0.0.1; then lists each DIR
//   probe-native spin         burns CPU until stopped
//   probe-native stubborn     ignores SIGTERM and burns CPU (stop must escalate to SIGKILL)
//   probe-native fds          lists its open descriptors
//   probe-native alloc MB     allocates and touches MB MiB ("alloc: ok" or "alloc: refused")
import ElastosGuest
import Glibc

func say(_ text: String) { Console.writeLine(text) }
func errorText(_ e: Int32 = errno) -> String { String(cString: strerror(e)) }
func refusedOrAllowed(_ what: String, _ ok: Bool, _ detail: String = "") {
    say("probe \(what): " + (ok ? "ALLOWED (\(detail))" : "refused (\(errorText()))"))
}

/// A variadic C function called through a fixed prototype (Swift cannot call C varargs).
func cFunction<T>(_ name: String, as type: T.Type) -> T? {
    guard let p = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
    return unsafeBitCast(p, to: type)
}

func connectTCP(port: UInt16) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return refusedOrAllowed("tcp-connect 127.0.0.1:\(port)", false) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    let r = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    refusedOrAllowed("tcp-connect 127.0.0.1:\(port)", r == 0, "connected")
}

func readFile(_ path: String) {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return refusedOrAllowed("read \(path)", false) }
    var buffer = [UInt8](repeating: 0, count: 64)
    let n = read(fd, &buffer, buffer.count)
    close(fd)
    refusedOrAllowed("read \(path)", n >= 0, "\(n) bytes")
}

func list(_ path: String) {
    guard let dir = opendir(path) else { return refusedOrAllowed("list \(path)", false) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { names.append(name) }
    }
    closedir(dir)
    refusedOrAllowed("list \(path)", true, "\(names.count) entries: \(names.prefix(5).joined(separator: " "))")
}

func writeFile(_ path: String, _ text: String, expectAllowed: Bool = false) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else {
        return say("probe write \(path): " + (expectAllowed ? "FAILED" : "refused") + " (\(errorText()))")
    }
    let bytes = Array(text.utf8)
    let n = write(fd, bytes, bytes.count)
    close(fd)
    if expectAllowed {
        say("probe write \(path): " + (n == bytes.count ? "ok" : "FAILED (\(errorText()))"))
    } else {
        refusedOrAllowed("write \(path)", n == bytes.count, "wrote \(n) bytes")
    }
}

func probe(port: UInt16) {
    connectTCP(port: port)
    for path in ["/etc/shadow", "/etc/hostname", "/etc/passwd"] { readFile(path) }
    for path in ["/work", "/root", "/home"] { list(path) }
    writeFile("/capsule/probe-written", "x")
    for path in ["/probe-written", "/usr/probe-written", "/etc/probe-written", "/proc/probe-written"] { writeFile(path, "x") }
    writeFile("/data/probe.txt", "written by probe-native\n", expectAllowed: true)
    writeFile("/tmp/probe.txt", "scratch\n", expectAllowed: true)

    typealias Ptrace = @convention(c) (Int32, Int32, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Int
    if let ptrace = cFunction("ptrace", as: Ptrace.self) {
        refusedOrAllowed("ptrace attach 1", ptrace(16 /* PTRACE_ATTACH */, 1, nil, nil) == 0, "attached")
    }
    // unshare and mount are _GNU_SOURCE / <sys/mount.h> declarations Swift's Glibc module lacks.
    typealias Unshare = @convention(c) (Int32) -> Int32
    if let unshare = cFunction("unshare", as: Unshare.self) {
        refusedOrAllowed("unshare user namespace", unshare(0x1000_0000 /* CLONE_NEWUSER */) == 0, "new user namespace")
        refusedOrAllowed("unshare mount namespace", unshare(0x0002_0000 /* CLONE_NEWNS */) == 0, "new mount namespace")
    }
    typealias Mount = @convention(c) (UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, UInt, UnsafeRawPointer?) -> Int32
    if let mount = cFunction("mount", as: Mount.self) {
        refusedOrAllowed("mount tmpfs", mount("none", "/tmp", "tmpfs", 0, nil) == 0, "mounted")
    }
    typealias Ioctl = @convention(c) (Int32, UInt, UnsafeMutableRawPointer?) -> Int32
    if let ioctl = cFunction("ioctl", as: Ioctl.self) {
        var byte: UInt8 = 0x41
        refusedOrAllowed("ioctl TIOCSTI", ioctl(0, 0x5412, &byte) == 0, "injected a byte")
    }
    say("probe hostname: \(hostname())")
    say("probe uid: \(getuid()) pid: \(getpid())")

    do throws(GuestError) {
        try Runtime.ping()
        say("probe ping: ok")
        say("probe info: \(try Runtime.info().json)")
    } catch {
        say("probe ping: FAILED (\(error.description))")
    }
}

func hostname() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count) == 0 else { return "?" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func spin() -> Never {
    var x: UInt64 = 1
    while true { x = x &* 6364136223846793005 &+ 1442695040888963407; if x == 0 { say("") } }
}

let args = Capsule.arguments
switch args.count > 1 ? args[1] : "" {
case "probe":
    probe(port: args.count > 2 ? UInt16(args[2]) ?? 9 : 9)
    // Further arguments are directories to list after the probe (the microVM test lists
    // /sys/class/net: the guest has no network device unless one was granted).
    for path in args.dropFirst(3) { list(path) }
case "spin":
    try? Runtime.ping()
    say("spinning")
    spin()
case "stubborn":
    signal(SIGTERM, SIG_IGN)
    try? Runtime.ping()
    say("spinning, deaf to SIGTERM")
    spin()
case "fds":
    list("/proc/self/fd")
case "alloc":
    let megabytes = args.count > 2 ? Int(args[2]) ?? 1 : 1
    // mmap, not malloc: the optimiser may drop a malloc whose memory is only memset and freed.
    let size = megabytes << 20
    let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    if let p, p != MAP_FAILED {
        memset(p, 1, size)
        say("alloc \(megabytes) MiB: ok")
        munmap(p, size)
    } else {
        say("alloc \(megabytes) MiB: refused (\(errorText()))")
    }
default:
    log("usage: probe-native probe PORT | spin | stubborn | fds")
    Capsule.exit(2)
}
