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
