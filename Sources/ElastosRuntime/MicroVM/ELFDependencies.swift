#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// What a capsule's Linux executable needs from a root file system: its program interpreter
/// (`PT_INTERP`) and shared libraries (`DT_NEEDED`), read from the ELF headers — never by
/// running it (`ldd` may execute the binary, and a capsule's binary is not trusted).
/// ELF64 little-endian only (x86_64, aarch64): the layout is in the System V gABI.
struct ELFDependencies: Equatable {
    /// The dynamic loader's absolute path, nil for a static executable.
    var interpreter: String?
    var needed: [String]

    enum Failure: Error, Equatable, CustomStringConvertible {
        case notELF(String)
        case wrongMachine(String, found: UInt16, expected: UInt16)
        case truncated(String)

        var description: String {
            switch self {
            case .notELF(let p): "\(p) is not a 64-bit little-endian ELF executable (a microVM capsule's entrypoint must be a Linux binary)"
            case .wrongMachine(let p, let found, let expected): "\(p) is built for ELF machine \(found), not \(expected) (this host's architecture)"
            case .truncated(let p): "\(p) has ELF headers pointing outside the file"
            }
        }
    }

    /// `EM_X86_64` or `EM_AARCH64`, for this build of the runtime.
    static var hostMachine: UInt16 {
        #if arch(x86_64)
        62
        #else
        183
        #endif
    }

    static func read(_ path: String, machine: UInt16 = hostMachine) throws(Failure) -> ELFDependencies {
        guard let data = FileManager.default.contents(atPath: path) else { throw .notELF(path) }
        return try parse(Array(data), path: path, machine: machine)
    }

    static func parse(_ b: [UInt8], path: String, machine: UInt16) throws(Failure) -> ELFDependencies {
        guard b.count >= 64, b[0] == 0x7F, b[1] == 0x45, b[2] == 0x4C, b[3] == 0x46, b[4] == 2, b[5] == 1 else { throw .notELF(path) }
        func u16(_ o: Int) throws(Failure) -> UInt16 {
            guard o >= 0, o + 2 <= b.count else { throw .truncated(path) }
            return UInt16(b[o]) | UInt16(b[o + 1]) << 8
        }
        func u32(_ o: Int) throws(Failure) -> UInt32 {
            guard o >= 0, o + 4 <= b.count else { throw .truncated(path) }
            return (0..<4).reduce(0) { $0 | UInt32(b[o + $1]) << (8 * $1) }
        }
        func u64(_ o: Int) throws(Failure) -> Int {
            guard o >= 0, o + 8 <= b.count else { throw .truncated(path) }
            let v = (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[o + $1]) << (8 * $1) }
            guard v <= UInt64(Int32.max) else { throw .truncated(path) }  // no real offset is this large
            return Int(v)
        }
        func string(_ o: Int) throws(Failure) -> String {
            guard o >= 0, o < b.count, let end = b[o...].firstIndex(of: 0) else { throw .truncated(path) }
            return String(decoding: b[o..<end], as: UTF8.self)
        }
        let found = try u16(18)
        guard found == machine else { throw .wrongMachine(path, found: found, expected: machine) }
        let phoff = try u64(32), phentsize = Int(try u16(54)), phnum = Int(try u16(56))
        guard phentsize >= 56, phnum < 4096 else { throw .truncated(path) }
        var interpreter: String?
        var dynamic: (offset: Int, size: Int)?
        var loads: [(vaddr: Int, offset: Int, size: Int)] = []
        for i in 0..<phnum {
            let h = phoff + i * phentsize
            let type = try u32(h)
            let offset = try u64(h + 8), vaddr = try u64(h + 16), size = try u64(h + 32)
            switch type {
            case 1: loads.append((vaddr, offset, size))
            case 2: dynamic = (offset, size)
            case 3: interpreter = try string(offset)
            default: break
            }
        }
        guard let dynamic else { return ELFDependencies(interpreter: interpreter, needed: []) }
        var neededOffsets: [Int] = []
        var stringTable: Int?
        var o = dynamic.offset
        while o + 16 <= dynamic.offset + dynamic.size {
            let tag = try u64(o), value = try u64(o + 8)
            if tag == 0 { break }
            if tag == 1 { neededOffsets.append(value) }
            if tag == 5 { stringTable = value }
            o += 16
        }
        guard let stringTable else { return ELFDependencies(interpreter: interpreter, needed: []) }
        guard let load = loads.first(where: { $0.vaddr <= stringTable && stringTable < $0.vaddr + $0.size }) else { throw .truncated(path) }
        let table = stringTable - load.vaddr + load.offset
        var needed: [String] = []
        for n in neededOffsets { needed.append(try string(table + n)) }
        return ELFDependencies(interpreter: interpreter, needed: needed)
    }

    /// Where this host keeps shared libraries (Debian multiarch first).
    static var librarySearchPath: [String] {
        #if arch(x86_64)
        let triple = "x86_64-linux-gnu"
        #else
        let triple = "aarch64-linux-gnu"
        #endif
        return ["/lib/\(triple)", "/usr/lib/\(triple)", "/lib64", "/usr/lib64", "/lib", "/usr/lib"]
    }

    /// The executable's interpreter and every library it needs, transitively, as host paths
    /// (name → path); a library not found on the host is an error the capsule's author can act on.
    static func closure(of executable: String) throws(LaunchError) -> (interpreter: String?, libraries: [String: String]) {
        let top: ELFDependencies
        do { top = try read(executable) } catch { throw LaunchError(error.description) }
        var libraries: [String: String] = [:]
        var queue = top.needed
        while let name = queue.popLast() {
            guard libraries[name] == nil else { continue }
            guard !name.contains("/"), let path = librarySearchPath.map({ $0 + "/" + name }).first(where: { access($0, R_OK) == 0 }) else {
                throw LaunchError("the capsule's executable needs \(name), which this host does not have (or link it statically)")
            }
            libraries[name] = path
            guard libraries.count < 256 else { throw LaunchError("the capsule's executable needs more than 256 libraries") }
            do { queue += try read(path).needed } catch { throw LaunchError("library \(path): \(error)") }
        }
        return (top.interpreter, libraries)
    }
}
