// The few system calls the SDK needs, one set per kind of capsule: WASI Preview 1 imports for
// wasm32 guests (Embedded Swift: no libc headers, no Foundation), the C library for native ones.

#if arch(wasm32)

@_extern(wasm, module: "elastos", name: "send") @_extern(c)
func elastos_send(_ pointer: UnsafeRawPointer?, _ length: Int32) -> Int32

@_extern(wasm, module: "elastos", name: "recv") @_extern(c)
func elastos_recv(_ pointer: UnsafeMutableRawPointer?, _ capacity: Int32, _ timeoutMilliseconds: Int32) -> Int32

@_extern(wasm, module: "wasi_snapshot_preview1", name: "fd_write") @_extern(c)
func wasi_fd_write(_ fd: Int32, _ iovs: UnsafeRawPointer?, _ count: Int32, _ written: UnsafeMutablePointer<UInt32>?) -> Int32

@_extern(wasm, module: "wasi_snapshot_preview1", name: "fd_read") @_extern(c)
func wasi_fd_read(_ fd: Int32, _ iovs: UnsafeRawPointer?, _ count: Int32, _ read: UnsafeMutablePointer<UInt32>?) -> Int32

@_extern(wasm, module: "wasi_snapshot_preview1", name: "args_sizes_get") @_extern(c)
func wasi_args_sizes_get(_ count: UnsafeMutablePointer<UInt32>?, _ bytes: UnsafeMutablePointer<UInt32>?) -> Int32

@_extern(wasm, module: "wasi_snapshot_preview1", name: "args_get") @_extern(c)
func wasi_args_get(_ pointers: UnsafeMutablePointer<UInt32>?, _ buffer: UnsafeMutablePointer<UInt8>?) -> Int32

@_extern(wasm, module: "wasi_snapshot_preview1", name: "environ_sizes_get") @_extern(c)
func wasi_environ_sizes_get(_ count: UnsafeMutablePointer<UInt32>?, _ bytes: UnsafeMutablePointer<UInt32>?) -> Int32

@_extern(wasm, module: "wasi_snapshot_preview1", name: "environ_get") @_extern(c)
func wasi_environ_get(_ pointers: UnsafeMutablePointer<UInt32>?, _ buffer: UnsafeMutablePointer<UInt8>?) -> Int32

@_extern(wasm, module: "wasi_snapshot_preview1", name: "clock_time_get") @_extern(c)
func wasi_clock_time_get(_ id: UInt32, _ precision: UInt64, _ time: UnsafeMutablePointer<UInt64>?) -> Int32

@_extern(wasm, module: "wasi_snapshot_preview1", name: "proc_exit") @_extern(c)
func wasi_proc_exit(_ code: Int32)

@_extern(wasm, module: "wasi_snapshot_preview1", name: "random_get") @_extern(c)
func wasi_random_get(_ buffer: UnsafeMutablePointer<UInt8>?, _ length: UInt32) -> Int32

@_extern(wasm, module: "wasi_snapshot_preview1", name: "poll_oneoff") @_extern(c)
func wasi_poll_oneoff(_ subscriptions: UnsafeRawPointer?, _ events: UnsafeMutableRawPointer?, _ count: UInt32,
                      _ written: UnsafeMutablePointer<UInt32>?) -> Int32

enum System {
    /// Writes all of `bytes` to `fd`; false on an error.
    static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            var iov: (UInt32, UInt32) = (UInt32(UInt(bitPattern: bytes.baseAddress) + UInt(offset)), UInt32(bytes.count - offset))
            var written: UInt32 = 0
            let errno = withUnsafePointer(to: &iov) { wasi_fd_write(fd, UnsafeRawPointer($0), 1, &written) }
            if errno != 0 || written == 0 { return false }
            offset += Int(written)
        }
        return true
    }

    /// Reads up to `buffer.count` bytes: the count, 0 at EOF, -1 on an error.
    static func read(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> Int {
        var iov: (UInt32, UInt32) = (UInt32(UInt(bitPattern: buffer.baseAddress)), UInt32(buffer.count))
        var n: UInt32 = 0
        let errno = withUnsafePointer(to: &iov) { wasi_fd_read(fd, UnsafeRawPointer($0), 1, &n) }
        return errno == 0 ? Int(n) : -1
    }

    static func exit(_ code: Int32) -> Never {
        wasi_proc_exit(code)
        fatalError("proc_exit returned")
    }

    static func monotonicNanoseconds() -> UInt64 {
        var t: UInt64 = 0
        _ = wasi_clock_time_get(1, 1000, &t)
        return t
    }

    static func wallClockNanoseconds() -> UInt64 {
        var t: UInt64 = 0
        _ = wasi_clock_time_get(0, 1000, &t)
        return t
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        guard count > 0 else { return bytes }
        _ = bytes.withUnsafeMutableBufferPointer { wasi_random_get($0.baseAddress, UInt32(count)) }
        return bytes
    }

    /// Whether `fd` has input (or is at its end) within `timeoutMilliseconds`: WASI poll_oneoff
    /// with an fd_read subscription and a relative clock.
    static func readable(_ fd: Int32, timeoutMilliseconds: Int32) -> Bool {
        // Two 48-byte subscriptions: fd_read (tag 1, fd at 16) and a relative monotonic clock
        // (tag 0, id at 16, timeout at 24, precision at 32, flags 0 at 40).
        var subscriptions = [UInt8](repeating: 0, count: 96)
        func store(_ value: UInt64, _ bytes: Int, at offset: Int) {
            for i in 0..<bytes { subscriptions[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        }
        store(1, 8, at: 0); subscriptions[8] = 1; store(UInt64(UInt32(bitPattern: fd)), 4, at: 16)
        store(2, 8, at: 48); subscriptions[56] = 0; store(1, 4, at: 64)
        store(UInt64(max(0, timeoutMilliseconds)) * 1_000_000, 8, at: 72); store(1000, 8, at: 80)
        var events = [UInt8](repeating: 0, count: 64)
        var written: UInt32 = 0
        let status = subscriptions.withUnsafeBytes { s in events.withUnsafeMutableBytes { e in wasi_poll_oneoff(s.baseAddress, e.baseAddress, 2, &written) } }
        guard status == 0 else { return false }
        for i in 0..<Int(min(written, 2)) where events[i * 32] == 1 && events[i * 32 + 10] == 1 { return true }
        return false
    }

    /// `argv` or `environ` as WASI hands them out: NUL-terminated strings.
    static func strings(sizes: (UnsafeMutablePointer<UInt32>?, UnsafeMutablePointer<UInt32>?) -> Int32,
                        get: (UnsafeMutablePointer<UInt32>?, UnsafeMutablePointer<UInt8>?) -> Int32) -> [String] {
        var count: UInt32 = 0, size: UInt32 = 0
        guard sizes(&count, &size) == 0, count > 0 else { return [] }
        var pointers = [UInt32](repeating: 0, count: Int(count))
        var buffer = [UInt8](repeating: 0, count: Int(size))
        let ok = pointers.withUnsafeMutableBufferPointer { p in buffer.withUnsafeMutableBufferPointer { b in get(p.baseAddress, b.baseAddress) } }
        guard ok == 0 else { return [] }
        var result: [String] = []
        var start = 0
        for i in 0..<buffer.count where buffer[i] == 0 {
            result.append(String(decoding: buffer[start..<i], as: UTF8.self))
            start = i + 1
        }
        return result
    }

    static func arguments() -> [String] { strings(sizes: wasi_args_sizes_get, get: wasi_args_get) }
    static func environment() -> [String] { strings(sizes: wasi_environ_sizes_get, get: wasi_environ_get) }
}

#else

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private func cWrite(_ fd: Int32, _ p: UnsafeRawPointer?, _ n: Int) -> Int { write(fd, p, n) }
private func cRead(_ fd: Int32, _ p: UnsafeMutableRawPointer?, _ n: Int) -> Int { read(fd, p, n) }
private func cExit(_ code: Int32) -> Never { exit(code) }

enum System {
    static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = cWrite(fd, bytes.baseAddress.map { $0 + offset }, bytes.count - offset)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    static func read(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> Int {
        while true {
            let n = cRead(fd, buffer.baseAddress, buffer.count)
            if n < 0 && errno == EINTR { continue }
            return n
        }
    }

    static func exit(_ code: Int32) -> Never { cExit(code) }

    static func monotonicNanoseconds() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    static func wallClockNanoseconds() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        // The standard library's generator reads getrandom(2).
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    static func readable(_ fd: Int32, timeoutMilliseconds: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let n = poll(&p, 1, max(0, timeoutMilliseconds))
            if n < 0 && errno == EINTR { continue }
            return n == 1
        }
    }

    static func arguments() -> [String] { CommandLine.arguments }

    static func environment() -> [String] {
        var result: [String] = []
        var p = environ
        while let entry = p.pointee {
            result.append(String(cString: entry))
            p += 1
        }
        return result
    }
}

#endif
