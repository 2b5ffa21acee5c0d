internal import WasmKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Every pointer a guest hands the host is checked here before the host touches memory.
// WasmKit's `Memory.withUnsafe(Mutable)BufferPointer` *preconditions* on out-of-range offsets
// (a host crash), and WASI's guest-pointer helpers advance 32-bit offsets with trapping
// arithmetic, so nothing guest-supplied reaches either unchecked.

extension Memory {
    /// Whether `[offset, offset + count)` lies inside the memory as it is now.
    func contains(offset: UInt32, count: Int) -> Bool {
        count >= 0 && Int(offset) <= byteCount && count <= byteCount - Int(offset)
    }

    /// A copy of guest bytes, or nil if the range is not inside the memory.
    func bytes(at offset: UInt32, count: Int) -> [UInt8]? {
        guard contains(offset: offset, count: count) else { return nil }
        if count == 0 { return [] }
        return withUnsafeBufferPointer(offset: UInt(offset), count: count) { Array($0) }
    }

    /// Copies `bytes` into guest memory; false (and nothing written) if they do not fit there.
    @discardableResult
    func store(_ bytes: [UInt8], at offset: UInt32) -> Bool {
        guard contains(offset: offset, count: bytes.count) else { return false }
        if bytes.isEmpty { return true }
        withUnsafeMutableBufferPointer(offset: UInt(offset), count: bytes.count) { dst in
            bytes.withUnsafeBytes { dst.copyMemory(from: $0) }
        }
        return true
    }

    func loadU32(at offset: UInt32) -> UInt32? {
        guard contains(offset: offset, count: 4) else { return nil }
        return withUnsafeBufferPointer(offset: UInt(offset), count: 4) { b in
            UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
        }
    }

    func loadU64(at offset: UInt32) -> UInt64? {
        guard contains(offset: offset, count: 8) else { return nil }
        return withUnsafeBufferPointer(offset: UInt(offset), count: 8) { b in
            var v: UInt64 = 0
            for i in (0..<8).reversed() { v = v << 8 | UInt64(b[i]) }
            return v
        }
    }

    func loadU8(at offset: UInt32) -> UInt8? {
        guard contains(offset: offset, count: 1) else { return nil }
        return withUnsafeBufferPointer(offset: UInt(offset), count: 1) { $0[0] }
    }

    func storeLE(_ value: UInt64, bytes n: Int, at offset: UInt32) {
        guard contains(offset: offset, count: n) else { return }
        withUnsafeMutableBufferPointer(offset: UInt(offset), count: n) { b in
            for i in 0..<n { b[i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        }
    }
}

/// Set when a WASI function reached for memory outside the guest's: the call is then answered
/// with `EFAULT` and whatever it did went to a scratch buffer, never to host memory.
final class FaultFlag {
    var hit = false
}

/// The guest memory WASI's implementation is given: in-range accesses go to the guest's memory,
/// anything else to a scratch buffer (and the fault is recorded). A second line of defence:
/// ``WASISandbox`` validates every pointer argument before WASI sees it.
struct GuardedMemory: GuestMemory {
    let memory: Memory
    let faults: FaultFlag

    func withUnsafeMutableBufferPointer<T>(
        offset: UInt, count: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> T
    ) rethrows -> T {
        let size = memory.byteCount
        if count >= 0, offset <= UInt(size), count <= size - Int(offset) {
            return try memory.withUnsafeMutableBufferPointer(offset: offset, count: count, body)
        }
        faults.hit = true
        return try Self.withScratch(count: count, body)
    }

    /// Zeroed memory of at least `count` bytes (and at least 64, for fixed-size writes that
    /// do not look at the count). Large sizes are mapped lazily, so nothing is committed unless
    /// written.
    private static func withScratch<T>(count: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> T) rethrows -> T {
        let n = max(count, 64)
        if n <= 1 << 20 {
            let p = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 16)
            p.initializeMemory(as: UInt8.self, repeating: 0, count: n)
            defer { p.deallocate() }
            return try body(UnsafeMutableRawBufferPointer(start: p, count: max(count, 0)))
        }
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE
        let m = mmap(nil, n, PROT_READ | PROT_WRITE, flags, -1, 0)
        guard let m, m != MAP_FAILED else {
            // Cannot back the whole range: give the 64 zero bytes; the fault is recorded and the
            // call's result discarded either way.
            return try withScratch(count: 64, body)
        }
        defer { munmap(m, n) }
        return try body(UnsafeMutableRawBufferPointer(start: m, count: count))
    }
}
