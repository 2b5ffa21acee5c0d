// intruder: tries, one step per run, everything a capsule must not be able to do, and prints a
// line per attempt saying what happened. Exit 0: every attempt was refused (or the runtime
// stopped the capsule); exit 1: something got through (a bug in the runtime).
//
//   intruder STEP
//     no-token        call with no token                        → missing_token
//     garbage-token   call with random bytes as the token        → denied (malformed token)
//     other-token     call with $ELASTOS_TOKEN_OTHER, another holder's token → denied (holder)
//     expired-token   call with $ELASTOS_TOKEN_EXPIRED           → denied (expired)
//     widened-token   $ELASTOS_TOKEN_OWN (read on …/intruder/public/*) used for write, for
//                     another resource, and with its action bits patched → denied each time
//     malformed-frame raw bytes that are not a frame, then a real ping → error reply, then pong
//     bad-pointer     elastos.send / recv with pointers outside memory → error status
//     read-outside    open paths outside the preopens (.., absolute, other descriptors)
//     write-readonly  create, truncate, write, mkdir and unlink in the read-only preopen (fd 3)
//     memory          allocate 1 MiB blocks until the memory cap stops the capsule
//     spin            loop forever until fuel or the wall clock stops the capsule
import CapsuleWire
import ElastosGuest

@_extern(wasm, module: "wasi_snapshot_preview1", name: "path_open") @_extern(c)
func path_open(_ fd: Int32, _ dirflags: UInt32, _ path: UnsafeRawPointer?, _ pathLength: Int32, _ oflags: UInt32,
               _ rightsBase: UInt64, _ rightsInheriting: UInt64, _ fdflags: UInt32, _ opened: UnsafeMutablePointer<Int32>?) -> Int32

@_extern(wasm, module: "wasi_snapshot_preview1", name: "path_create_directory") @_extern(c)
func path_create_directory(_ fd: Int32, _ path: UnsafeRawPointer?, _ pathLength: Int32) -> Int32

@_extern(wasm, module: "wasi_snapshot_preview1", name: "path_unlink_file") @_extern(c)
func path_unlink_file(_ fd: Int32, _ path: UnsafeRawPointer?, _ pathLength: Int32) -> Int32

@_extern(wasm, module: "wasi_snapshot_preview1", name: "fd_read") @_extern(c)
func fd_read(_ fd: Int32, _ iovs: UnsafeRawPointer?, _ count: Int32, _ read: UnsafeMutablePointer<UInt32>?) -> Int32

@_extern(wasm, module: "elastos", name: "send") @_extern(c)
func raw_send(_ pointer: UnsafeRawPointer?, _ length: Int32) -> Int32

@_extern(wasm, module: "elastos", name: "recv") @_extern(c)
func raw_recv(_ pointer: UnsafeMutableRawPointer?, _ capacity: Int32, _ timeoutMilliseconds: Int32) -> Int32

let ownResource = "localhost://storage/apps/intruder/public/notes"
nonisolated(unsafe) var breaches = 0  // single-threaded guest

func say(_ line: String) { Console.writeLine(line) }

func fromHex(_ text: String) -> [UInt8] {
    var out: [UInt8] = []
    var high: UInt8? = nil
    for c in text.utf8 {
        let v: UInt8
        switch c {
        case 0x30...0x39: v = c - 0x30
        case 0x61...0x66: v = c - 0x61 + 10
        case 0x41...0x46: v = c - 0x41 + 10
        default: continue
        }
        if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
    }
    return out
}

func token(_ variable: String) -> [UInt8] {
    let t = fromHex(Capsule.environment[variable] ?? "")
    if t.isEmpty { say("\(variable) is not set: run with the runtime's test tokens") ; Capsule.exit(2) }
    return t
}

/// One call that must be refused; `expected` names the error code we want to see.
func attempt(_ label: String, uri: String, action: Action, token: [UInt8], expected: CapsuleErrorCode) {
    do throws(GuestError) {
        let body = try Runtime.call(uri: uri, action: action, token: token, body: Array("intrusion".utf8))
        say("\(label): ALLOWED (\(body.count)-byte reply) — this is a breach")
        breaches += 1
    } catch {
        let code = error.code.map { "\($0)" } ?? "transport"
        let ok = error.code == expected
        say("\(label): refused, \(error.description)" + (ok ? "" : " (expected \(expected), got \(code))"))
        if !ok { breaches += 1 }
    }
}

func withPath<T>(_ path: String, _ body: (UnsafeRawPointer?, Int32) -> T) -> T {
    var p = path
    return p.withUTF8 { body(UnsafeRawPointer($0.baseAddress), Int32($0.count)) }
}

/// Opens `path` under `fd`: 0 and the new descriptor, or the errno.
func open(_ fd: Int32, _ path: String, oflags: UInt32 = 0, rights: UInt64 = 1 << 1) -> (errno: Int32, fd: Int32) {
    var opened: Int32 = -1
    let e = withPath(path) { path_open(fd, 1, $0, $1, oflags, rights, rights, 0, &opened) }
    return (e, opened)
}

func errnoName(_ e: Int32) -> String {
    switch e {
    case 0: "success"
    case 8: "EBADF"
    case 44: "ENOENT"
    case 54: "ENOTDIR"
    case 63: "EPERM"
    case 69: "EROFS"
    case 76: "ENOTCAPABLE"
    default: "errno \(e)"
    }
}

let args = Capsule.arguments
guard args.count >= 2 else {
    say("usage: intruder STEP (no-token, garbage-token, other-token, expired-token, widened-token, malformed-frame, bad-pointer, read-outside, write-readonly, memory, spin)")
    Capsule.exit(2)
}

switch args[1] {
case "no-token":
    attempt("no-token", uri: ownResource, action: .read, token: [], expected: .missingToken)

case "garbage-token":
    var garbage: [UInt8] = []
    var x: UInt32 = 0x1234_5678
    for _ in 0..<180 { x = x &* 1_103_515_245 &+ 12345; garbage.append(UInt8(truncatingIfNeeded: x >> 16)) }
    attempt("garbage-token", uri: ownResource, action: .read, token: garbage, expected: .denied)
    attempt("garbage-token (version 1 header)", uri: ownResource, action: .read, token: [1, 1] + garbage, expected: .denied)

case "other-token":
    attempt("other-token", uri: "localhost://storage/apps/intruder/secret", action: .read, token: token("ELASTOS_TOKEN_OTHER"), expected: .denied)

case "expired-token":
    attempt("expired-token", uri: "localhost://storage/apps/intruder/secret", action: .read, token: token("ELASTOS_TOKEN_EXPIRED"), expected: .denied)

case "widened-token":
    // The test runner hands the token in; under the real runtime the capsule asks for what its
    // manifest declares (granted with `elastos run --allow-declared`).
    let own: [UInt8]
    if Capsule.environment["ELASTOS_TOKEN_OWN"] != nil {
        own = token("ELASTOS_TOKEN_OWN")
    } else {
        do throws(GuestError) {
            own = try Runtime.requestCapability(uri: "localhost://storage/apps/intruder/public/*", actions: ActionSet([.read]),
                                                reason: "the one thing it is allowed: reading its public notes")
            say("request_capability: granted its declared read token")
        } catch {
            say("request_capability for its declared capability refused: \(error.description)")
            Capsule.exit(2)
        }
    }
    // The control: what the token does grant works, so the refusals below are the checks.
    // (No provider, or the provider's "not found", means the checks passed.)
    do throws(GuestError) {
        _ = try Runtime.call(uri: ownResource, action: .read, token: own, body: [])
        say("control: own token, read of its own resource: allowed (as it should be)")
    } catch where error.code == .noProvider || error.code == .notFound {
        // The storage provider answers `not_found` for notes never written: the checks passed.
        say("control: own token, read of its own resource: allowed by the checks (\(error.description))")
    } catch {
        say("control: own token, read of its own resource: refused (\(error.description)) — the runtime denies too much")
        breaches += 1
    }
    attempt("widened-token (write with a read token)", uri: ownResource, action: .write, token: own, expected: .denied)
    attempt("widened-token (another resource)", uri: "localhost://storage/apps/intruder/private/keys", action: .read, token: own, expected: .denied)
    // Patch the action mask in the token's only link: version, count, id(16), issuer(32),
    // holder(u16 + bytes), resource(u16 + bytes), actions.
    var patched = own
    if patched.count > 54 {
        let holderLength = Int(patched[50]) << 8 | Int(patched[51])
        let r = 52 + holderLength
        if patched.count > r + 2 {
            let resourceLength = Int(patched[r]) << 8 | Int(patched[r + 1])
            let a = r + 2 + resourceLength
            if a < patched.count { patched[a] = 0x3F }
        }
    }
    attempt("widened-token (action bits patched to all)", uri: ownResource, action: .write, token: patched, expected: .denied)

case "malformed-frame":
    let junk: [UInt8] = [0, 0, 0, 8, 1, 0x01, 0, 0, 0, 42, 0xFF, 0xFF]  // a call whose URI runs past the frame
    let status = junk.withUnsafeBytes { raw_send($0.baseAddress, Int32($0.count)) }
    var buffer = [UInt8](repeating: 0, count: 4096)
    let n = buffer.withUnsafeMutableBytes { raw_recv($0.baseAddress, 4096, 1000) }
    if status == 0, n > 0, case .runtime(let id, .error(let code, let message))? = try? CapsuleFrame.decode(Array(buffer[0..<Int(n)])) {
        say("malformed-frame: refused, reply to id \(id): \(code): \(message)")
    } else {
        say("malformed-frame: send returned \(status), recv \(n) — expected an error reply")
        breaches += 1
    }
    do throws(GuestError) {
        try Runtime.ping()
        say("malformed-frame: the connection still works (ping answered)")
    } catch {
        say("malformed-frame: ping failed afterwards: \(error.description)")
        breaches += 1
    }

case "bad-pointer":
    let s = raw_send(UnsafeRawPointer(bitPattern: UInt(UInt32.max - 0xFFFF)), 64)
    let r = raw_recv(UnsafeMutableRawPointer(bitPattern: UInt(UInt32.max - 0xFF)), 4096, 0)
    say("bad-pointer: " + (s < 0 && r < 0 ? "refused, " : "") + "send outside memory returned \(s), recv outside memory returned \(r)")
    if s >= 0 || r >= 0 { breaches += 1 }

case "read-outside":
    for (fd, path) in [(Int32(3), "../outside.txt"), (3, "sub/../../outside.txt"), (3, "/etc/passwd"),
                       (3, "../../../../../../etc/passwd"), (4, "etc/passwd"), (5, "etc/passwd"), (9, "passwd")] {
        let (e, opened) = open(fd, path)
        if e == 0 {
            var buffer = [UInt8](repeating: 0, count: 256)
            var n: UInt32 = 0
            buffer.withUnsafeMutableBytes { b in
                var iov: (UInt32, UInt32) = (UInt32(UInt(bitPattern: b.baseAddress)), 256)
                _ = withUnsafePointer(to: &iov) { fd_read(opened, UnsafeRawPointer($0), 1, &n) }
            }
            say("read-outside: fd \(fd) '\(path)': OPENED, read \(n) bytes — this is a breach")
            breaches += 1
        } else {
            say("read-outside: fd \(fd) '\(path)': refused (\(errnoName(e)))")
        }
    }

case "write-readonly":
    let create: UInt32 = 1, truncate: UInt32 = 8, write: UInt64 = 1 << 6
    for (label, path, oflags) in [("create", "planted.txt", create | truncate), ("truncate", "notes.txt", truncate),
                                  ("open for writing", "notes.txt", UInt32(0))] {
        let (e, _) = open(3, path, oflags: oflags, rights: write)
        say("write-readonly: \(label) '\(path)': " + (e == 0 ? "ALLOWED — this is a breach" : "refused (\(errnoName(e)))"))
        if e == 0 { breaches += 1 }
    }
    let mkdir = withPath("newdir") { path_create_directory(3, $0, $1) }
    say("write-readonly: mkdir 'newdir': " + (mkdir == 0 ? "ALLOWED — this is a breach" : "refused (\(errnoName(mkdir)))"))
    let unlink = withPath("notes.txt") { path_unlink_file(3, $0, $1) }
    say("write-readonly: unlink 'notes.txt': " + (unlink == 0 ? "ALLOWED — this is a breach" : "refused (\(errnoName(unlink)))"))
    if mkdir == 0 { breaches += 1 }
    if unlink == 0 { breaches += 1 }

case "memory":
    say("memory: allocating 1 MiB blocks until the runtime says no")
    var blocks: [[UInt8]] = []
    while true {
        blocks.append([UInt8](repeating: UInt8(truncatingIfNeeded: blocks.count), count: 1 << 20))
        if blocks.count % 8 == 0 { say("memory: holding \(blocks.count) MiB") }
    }

case "spin":
    say("spin: looping forever")
    // A pseudo-random walk the optimizer cannot shortcut; it never meets `never` in practice.
    let never = UInt64(args.count) << 40 | 0xDEAD
    var n: UInt64 = 1
    while true {
        n = n &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        if n == never { say("spin: still going") }
    }

default:
    say("intruder: unknown step '\(args[1])'")
    Capsule.exit(2)
}

if breaches > 0 { say("intruder: \(breaches) attempt(s) got through") }
Capsule.exit(breaches == 0 ? 0 : 1)
