#if canImport(Glibc)
import Glibc
#endif
import ElastosCore
import Foundation
import Synchronization

/// The guest kernel: a directory written by scripts/get-microvm-kernel.sh — `vmlinux`
/// (uncompressed, PVH-bootable), `modules/*.ko` with `modules.order` (load order), `release`,
/// and `SHA256SUMS` over all of them, which is checked before the first boot from it (and again
/// whenever a file's size or modification time changes).
public struct MicroVMKernel: Sendable, Equatable {
    public let directory: String
    public let release: String
    /// Module file names in load order.
    public let modules: [String]
    /// SHA256SUMS as written: it identifies the kernel in the initramfs cache key.
    public let checksums: String

    public var vmlinux: String { directory + "/vmlinux" }

    /// Where the runtime looks, first to last: `$ELASTOS_MICROVM_KERNEL`,
    /// `<node home>/microvm/kernel`, `${XDG_CACHE_HOME:-~/.cache}/elastos/microvm/kernel`.
    public static func searchPath(home: String, environment: [String: String]? = nil) -> [String] {
        let env = environment ?? ProcessInfo.processInfo.environment
        var dirs: [String] = []
        if let explicit = env["ELASTOS_MICROVM_KERNEL"], !explicit.isEmpty { dirs.append(explicit) }
        dirs.append(home + "/microvm/kernel")
        let cache = env["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (env["HOME"] ?? NSHomeDirectory()) + "/.cache"
        dirs.append(cache + "/elastos/microvm/kernel")
        return dirs
    }

    static let howToGetOne = "get one with scripts/get-microvm-kernel.sh [dir] (Debian's linux-image-amd64, unpacked without installing; needs apt-get, dpkg-deb and kmod), see docs/MICROVM.md"

    /// The first kernel directory on the search path, verified.
    public static func find(home: String, environment: [String: String]? = nil) throws(LaunchError) -> MicroVMKernel {
        let dirs = searchPath(home: home, environment: environment)
        guard let dir = dirs.first(where: { access($0 + "/SHA256SUMS", R_OK) == 0 }) else {
            throw LaunchError("no microVM kernel: looked in \(dirs.joined(separator: ", ")); " + howToGetOne)
        }
        return try load(dir)
    }

    /// Reads and verifies a kernel directory.
    public static func load(_ dir: String) throws(LaunchError) -> MicroVMKernel {
        guard let sums = try? String(contentsOfFile: dir + "/SHA256SUMS", encoding: .utf8) else {
            throw LaunchError("\(dir)/SHA256SUMS is unreadable; " + howToGetOne)
        }
        var expected: [String: String] = [:]
        for line in sums.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].count == 64 else { throw LaunchError("\(dir)/SHA256SUMS: malformed line '\(line.prefix(100))'") }
            let name = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: " *"))
            guard !name.hasPrefix("/"), !name.split(separator: "/").contains("..") else { throw LaunchError("\(dir)/SHA256SUMS names \(name), outside the directory") }
            expected[name] = String(parts[0])
        }
        for required in ["vmlinux", "modules.order", "release"] where expected[required] == nil {
            throw LaunchError("\(dir)/SHA256SUMS does not cover \(required); " + howToGetOne)
        }
        for (name, digest) in expected.sorted(by: { $0.key < $1.key }) {
            try verify(dir + "/" + name, sha256: digest)
        }
        let order = (try? String(contentsOfFile: dir + "/modules.order", encoding: .utf8)) ?? ""
        let modules = order.split(separator: "\n").map(String.init)
        for m in modules where expected["modules/" + m] == nil {
            throw LaunchError("\(dir)/modules.order names \(m), which SHA256SUMS does not cover")
        }
        let release = ((try? String(contentsOfFile: dir + "/release", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        return MicroVMKernel(directory: dir, release: release, modules: modules, checksums: sums)
    }

    /// Files already verified in this process, by path, with the size and mtime seen then.
    private static let verified = Mutex<[String: [Int]]>([:])

    static func verify(_ path: String, sha256 digest: String) throws(LaunchError) {
        var st = stat()
        guard stat(path, &st) == 0 else { throw LaunchError("\(path) is missing; " + howToGetOne) }
        let identity = [Int(st.st_size), Int(st.st_mtim.tv_sec), Int(st.st_mtim.tv_nsec), Int(st.st_ino)]
        if verified.withLock({ $0[path] }) == identity { return }
        guard let data = FileManager.default.contents(atPath: path) else { throw LaunchError("\(path) is unreadable") }
        let actual = Multihash.sha256(of: Array(data)).digest.map { String(format: "%02x", $0) }.joined()
        guard actual == digest.lowercased() else {
            throw LaunchError("\(path) does not match its SHA-256 in SHA256SUMS (\(actual) ≠ \(digest)): the kernel was changed or damaged; " + howToGetOne)
        }
        verified.withLock { $0[path] = identity }
    }
}
