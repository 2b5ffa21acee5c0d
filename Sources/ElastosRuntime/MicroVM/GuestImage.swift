#if canImport(Glibc)
import Glibc
#endif
import ElastosCore
import Foundation

/// The initramfs one capsule boots with: busybox-static, the kernel's modules, the guest init,
/// and the program interpreter and shared libraries the capsule's executable names in its ELF
/// headers (copied from the host). The capsule's package itself is not in it: it is shared
/// read-only over 9p. Built once per capsule CID and kernel, cached as
/// `<node home>/microvm/initramfs/<cid>-<key>.cpio`; no root image is copied per launch.
enum GuestImage {
    /// Bumped when the image's layout changes, so old cached images are not reused.
    static let formatVersion = "1"

    static func busybox() throws(LaunchError) -> String {
        for path in ["/bin/busybox", "/usr/bin/busybox"] where access(path, X_OK) == 0 {
            if (try? ELFDependencies.read(path))?.interpreter == nil { return path }
        }
        throw LaunchError("microVM guests need a statically linked busybox at /bin/busybox: apt install busybox-static")
    }

    /// The cached image for this capsule, building it if needed.
    static func image(for capsule: LaunchableCapsule, kernel: MicroVMKernel, home: String) throws(LaunchError) -> String {
        guard capsule.cid.allSatisfy({ $0.isLetter || $0.isNumber }), !capsule.cid.isEmpty else {
            throw LaunchError("capsule CID \(capsule.cid.prefix(80)) cannot name a cache file")
        }
        let keyMaterial = formatVersion + "\n" + kernel.checksums + "\n" + GuestInit.script
        let key = Multihash.sha256(of: Array(keyMaterial.utf8)).digest.prefix(8).map { String(format: "%02x", $0) }.joined()
        let dir = home + "/microvm/initramfs"
        let path = "\(dir)/\(capsule.cid)-\(key).cpio"
        if access(path, R_OK) == 0 { return path }
        let bytes = try build(capsule: capsule, kernel: kernel)
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let temporary = path + ".\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
            try Data(bytes).write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, path) == 0 else {
                let e = errno
                unlink(temporary)
                throw LaunchError("cannot store the initramfs at \(path): \(String(cString: strerror(e)))")
            }
        } catch let e as LaunchError {
            throw e
        } catch {
            throw LaunchError("cannot store the initramfs in \(dir): \(error)")
        }
        return path
    }

    static func build(capsule: LaunchableCapsule, kernel: MicroVMKernel) throws(LaunchError) -> [UInt8] {
        var cpio = CpioArchive()
        for d in ["/bin", "/dev", "/proc", "/sys", "/tmp", "/mnt", "/run", "/capsule", "/data", "/lib/modules"] { cpio.directory(d) }
        cpio.file("/bin/busybox", try contents(try busybox()), mode: 0o755)
        // Names the init and the tests use before `busybox --install` has run.
        for tool in ["sh", "false"] { cpio.symlink("/bin/" + tool, to: "busybox") }
        for module in kernel.modules { cpio.file("/lib/modules/" + module, try contents(kernel.directory + "/modules/" + module)) }
        cpio.file("/modules.order", Array(kernel.modules.map { $0 + "\n" }.joined().utf8))
        cpio.file("/init", Array(GuestInit.script.utf8), mode: 0o755)

        let entry = capsule.directory + "/" + capsule.entrypoint
        let (interpreter, libraries) = try ELFDependencies.closure(of: entry)
        if let interpreter {
            guard interpreter.hasPrefix("/"), !interpreter.split(separator: "/").contains("..") else {
                throw LaunchError("the capsule's executable names the interpreter \(interpreter), which is not an absolute path")
            }
            cpio.file(interpreter, try contents(interpreter), mode: 0o755)
        }
        let libraryDir = ELFDependencies.librarySearchPath[0]
        for (name, path) in libraries.sorted(by: { $0.key < $1.key }) {
            cpio.file(libraryDir + "/" + name, try contents(path), mode: 0o755)
        }
        return cpio.finished()
    }

    private static func contents(_ path: String) throws(LaunchError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw LaunchError("cannot read \(path) for the microVM image") }
        return Array(data)
    }
}
