/// An initramfs in the "newc" cpio format, the one the Linux kernel unpacks
/// (Documentation/driver-api/early-userspace/buffer-format.rst): per entry a 110-byte ASCII
/// header ("070701" and thirteen 8-digit hex fields), the NUL-terminated name padded to 4
/// bytes, the data padded to 4 bytes; a "TRAILER!!!" entry ends it. Uncompressed: the kernel
/// unpacks it faster than a gzip one, and the few MB it costs are read once per boot.
struct CpioArchive {
    private(set) var bytes: [UInt8] = []
    private var nextInode: UInt32 = 1
    private var names: Set<String> = []

    /// A directory (and, first, any missing parents).
    mutating func directory(_ path: String, mode: UInt32 = 0o755) {
        let name = Self.relative(path)
        guard !name.isEmpty, !names.contains(name) else { return }
        if let slash = name.lastIndex(of: "/") { directory(String(name[..<slash])) }
        entry(name, mode: 0o040000 | mode, data: [])
    }

    mutating func file(_ path: String, _ data: [UInt8], mode: UInt32 = 0o644) {
        parents(of: path)
        entry(Self.relative(path), mode: 0o100000 | mode, data: data)
    }

    mutating func symlink(_ path: String, to target: String) {
        parents(of: path)
        entry(Self.relative(path), mode: 0o120777, data: Array(target.utf8))
    }

    /// The archive with its trailer.
    func finished() -> [UInt8] {
        var copy = self
        copy.entry("TRAILER!!!", mode: 0, data: [], inode: 0)
        return copy.bytes
    }

    private mutating func parents(of path: String) {
        let name = Self.relative(path)
        if let slash = name.lastIndex(of: "/") { directory(String(name[..<slash])) }
    }

    private mutating func entry(_ name: String, mode: UInt32, data: [UInt8], inode: UInt32? = nil) {
        names.insert(name)
        let nameBytes = Array(name.utf8) + [0]
        let fields: [UInt32] = [
            inode ?? nextInode, mode, 0, 0, (mode & 0o170000) == 0o040000 ? 2 : 1, 0,
            UInt32(data.count), 0, 0, 0, 0, UInt32(nameBytes.count), 0,
        ]
        if inode == nil { nextInode += 1 }
        bytes += Array("070701".utf8)
        for field in fields { bytes += Self.hex8(field) }
        bytes += nameBytes
        pad()
        bytes += data
        pad()
    }

    private mutating func pad() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }

    private static func relative(_ path: String) -> String {
        String(path.drop { $0 == "/" })
    }

    private static func hex8(_ value: UInt32) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        return (0..<8).map { digits[Int((value >> (28 - 4 * UInt32($0))) & 0xF)] }
    }
}
