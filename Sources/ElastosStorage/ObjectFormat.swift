// Object files and the namespace index (docs/STORAGE.md, "On disk"). Big-endian throughout.
//
//   object = "ELSO" ‖ 0x02 ‖ version:u64 ‖ length:u64 ‖ nonce:12 ‖ segment*
//   segment = ciphertext:min(256 KiB, rest) ‖ tag:16      (one empty segment for an empty file)
//   segment i is sealed under the nonce  nonce XOR i  (i in the last 8 bytes, big-endian)
//   aad    = "elastos.storage.v1.object" ‖ 0x00 ‖ namespace ‖ 0x00 ‖ path ‖ 0x00 ‖ object[0..<21]
//
//   format 1 (still read, no longer written): one GCM message, nonce:12 ‖ ciphertext ‖ tag:16.
//
//   index  = "ELSI" ‖ 0x01 ‖ nextVersion:u64 ‖ nonce:12 ‖ ciphertext ‖ tag:16
//   aad    = "elastos.storage.v1.index" ‖ 0x00 ‖ namespace ‖ 0x00 ‖ index[0..<13]
//   plain  = count:u32 ‖ count × (kind:u8 ‖ pathLength:u16 ‖ path ‖ version:u64 ‖ size:u64)
//
// An object is opened with the AAD built from what the *index* says (namespace, path, version,
// length), not from its own header, so a file from another path, another version or another
// namespace fails authentication even if its header was rewritten to match. Every segment's
// AAD carries the length, and its nonce its position, so segments cannot be reordered, dropped
// or borrowed from another object; the file size is fixed by the length.
//
// Why segments: sealing or opening a 16 MiB object as one GCM message needs the whole
// ciphertext and the whole plaintext in memory at once, in fresh buffers swift-crypto allocates
// (and a copy into its SealedBox); with 256 KiB segments the only large buffer is the caller's
// plaintext, and the ciphertext passes through a buffer that stays in cache.

import Crypto
import ElastosNode
import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum ObjectFormat {
    static let magic = Array("ELSO".utf8)
    /// The format written now: segmented.
    static let formatVersion: UInt8 = 2
    /// The first format: the whole plaintext as one GCM message. Read, never written.
    static let wholeFormatVersion: UInt8 = 1
    static let headerSize = 21
    static let nonceSize = 12
    static let tagSize = 16
    static let preambleSize = headerSize + nonceSize
    static let segmentSize = 256 << 10
    static let aadTag = "elastos.storage.v1.object"

    static func header(version: UInt64, length: Int, format: UInt8 = formatVersion) -> [UInt8] {
        var h = magic
        h.append(format)
        h.appendBigEndian(version)
        h.appendBigEndian(UInt64(length))
        return h
    }

    static func associatedData(_ namespace: StorageNamespace, _ path: StoragePath, header: [UInt8]) -> [UInt8] {
        var aad = StorageKeys.info(aadTag, [namespace.text, path.text])
        aad.append(0)
        aad.append(contentsOf: header)
        return aad
    }

    static func segmentCount(length: Int) -> Int { max(1, (length + segmentSize - 1) / segmentSize) }

    /// The exact size of an object file holding `length` plaintext bytes.
    static func fileSize(length: Int, format: UInt8 = formatVersion) -> Int {
        preambleSize + length + tagSize * (format == wholeFormatVersion ? 1 : segmentCount(length: length))
    }

    /// The largest object file a plaintext of `maxLength` bytes can produce.
    static func maxFileSize(maxLength: Int) -> Int { fileSize(length: maxLength) }

    static func segmentNonce(_ base: [UInt8], _ index: Int) -> AES.GCM.Nonce {
        var n = base
        for i in 0..<8 { n[nonceSize - 1 - i] ^= UInt8(truncatingIfNeeded: UInt64(index) >> (8 * UInt64(i))) }
        return try! AES.GCM.Nonce(data: n)  // 12 bytes: cannot fail
    }

    /// Segments sealed and written together: 16 × 256 KiB = 4 MiB of ciphertext per write.
    static let segmentsPerBatch = 16

    /// Seals `plaintext` segment by segment and writes the whole object file to `fd`.
    ///
    /// Large objects go in batches: the segments of a batch are sealed on all cores into one
    /// buffer, written with one `write`, and their writeback to disk is started at once
    /// (`sync_file_range`), so the disk works while the next batch is sealed and the caller's
    /// final fsync waits only for the last batch.
    static func sealAndWrite(_ plaintext: [UInt8], key: SymmetricKey, namespace: StorageNamespace, path: StoragePath,
                             version: UInt64, to fd: Int32, file: String) throws(FileError) {
        let header = header(version: version, length: plaintext.count)
        let base = Array(AES.GCM.Nonce())
        let aad = associatedData(namespace, path, header: header)
        try DurableFile.writeAll(fd, header + base, path: file)
        let segments = segmentCount(length: plaintext.count)
        let batchSegments = min(segments, segmentsPerBatch)
        var batch = [UInt8](repeating: 0, count: batchSegments * (segmentSize + tagSize))
        var written = preambleSize
        var failure: FileError?
        plaintext.withUnsafeBytes { all in
            var first = 0
            while first < segments, failure == nil {
                let count = min(segmentsPerBatch, segments - first)
                let end = min(all.count, (first + count) * segmentSize)
                let bytes = end - first * segmentSize + count * tagSize
                let sealed = batch.withUnsafeMutableBytes { out in
                    sealSegments(all, first: first, count: count, key: key, base: base, aad: aad, into: out)
                }
                guard sealed else { failure = FileError("encrypt", path.description, code: EIO); return }
                do throws(FileError) {
                    try DurableFile.writeAll(fd, batch[0..<bytes], path: file)
                } catch {
                    failure = error; return
                }
                if segments > count { startWriteback(fd, offset: written, count: bytes) }
                written += bytes
                first += count
            }
        }
        if let failure { throw failure }
    }

    /// Seals segments `first ..< first + count` of `all` into `out`, each as ciphertext ‖ tag,
    /// back to back. Several segments are sealed at once when there are cores for them.
    private static func sealSegments(_ all: UnsafeRawBufferPointer, first: Int, count: Int, key: SymmetricKey,
                                     base: [UInt8], aad: [UInt8], into out: UnsafeMutableRawBufferPointer) -> Bool {
        let ok = UnsafeMutableBufferPointer<Bool>.allocate(capacity: count)
        ok.initialize(repeating: false)
        defer { ok.deallocate() }
        // Each iteration reads its own slice of `all` and writes its own slice of `out` and its
        // own flag, and concurrentPerform returns only when all are done.
        let buffers = SegmentBuffers(all: all, out: out, ok: ok)
        let seal = { @Sendable (i: Int) in
            let (all, out, ok) = (buffers.all, buffers.out, buffers.ok)
            let segment = first + i
            let start = segment * segmentSize
            let part = UnsafeRawBufferPointer(rebasing: all[start..<min(all.count, start + segmentSize)])
            guard let box = try? AES.GCM.seal(part, using: key, nonce: segmentNonce(base, segment), authenticating: aad) else { return }
            let offset = i * (segmentSize + tagSize)
            box.ciphertext.copyBytes(to: UnsafeMutableRawBufferPointer(rebasing: out[offset..<offset + part.count]))
            box.tag.copyBytes(to: UnsafeMutableRawBufferPointer(rebasing: out[offset + part.count..<offset + part.count + tagSize]))
            ok[i] = true
        }
        if count > 1 && cores > 1 {
            DispatchQueue.concurrentPerform(iterations: count, execute: seal)
        } else {
            for i in 0..<count { seal(i) }
        }
        return ok.allSatisfy { $0 }
    }

    /// Read once: Foundation reads the cgroup files again on every call.
    private static let cores = ProcessInfo.processInfo.activeProcessorCount

    private struct SegmentBuffers: @unchecked Sendable {
        let all: UnsafeRawBufferPointer
        let out: UnsafeMutableRawBufferPointer
        let ok: UnsafeMutableBufferPointer<Bool>
    }

    private typealias SyncFileRange = @convention(c) (Int32, Int64, Int64, UInt32) -> Int32
    /// glibc's sync_file_range, which Swift's Glibc module does not export (it needs _GNU_SOURCE).
    private static let syncFileRange: SyncFileRange? =
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sync_file_range").map { unsafeBitCast($0, to: SyncFileRange.self) }

    /// Asks the kernel to start writing these bytes to disk now, without waiting (a hint: the
    /// caller's fsync is what makes them durable).
    private static func startWriteback(_ fd: Int32, offset: Int, count: Int) {
        let syncFileRangeWrite: UInt32 = 2  // SYNC_FILE_RANGE_WRITE
        _ = syncFileRange?(fd, Int64(offset), Int64(count), syncFileRangeWrite)
    }

    /// Reads, authenticates and decrypts the object file `file` for the version and length the
    /// index records; any mismatch is an integrity failure and no byte of it is returned.
    static func readAndOpen(_ file: String, key: SymmetricKey, namespace: StorageNamespace, path: StoragePath,
                            version: UInt64, length: Int) throws(StorageError) -> [UInt8] {
        let tampered = StorageError.integrity(.objectTampered, path)
        let fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        if fd < 0 {
            if errno == ENOENT { throw .integrity(.objectMissing, path) }
            throw .io(FileError("open", file))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io(FileError("stat", file)) }
        let size = Int(st.st_size)
        var preamble = [UInt8](repeating: 0, count: preambleSize)
        guard size >= preambleSize + tagSize, try DurableFile.readFully(fd, into: &preamble, path: file) == preambleSize else {
            throw tampered
        }
        let format = preamble[4]
        guard format == formatVersion || format == wholeFormatVersion, size == fileSize(length: length, format: format),
              preamble[0..<headerSize].elementsEqual(header(version: version, length: length, format: format))
        else { throw tampered }
        let aad = associatedData(namespace, path, header: Array(preamble[0..<headerSize]))
        let base = Array(preamble[headerSize...])
        if format == wholeFormatVersion {
            var rest = Data(count: size - preambleSize)
            guard try DurableFile.readFully(fd, into: &rest, path: file) == rest.count else { throw tampered }
            do {
                let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: base), ciphertext: rest.prefix(length), tag: rest.suffix(tagSize))
                return [UInt8](try AES.GCM.open(box, using: key, authenticating: aad))
            } catch {
                throw tampered
            }
        }
        var segment = Data(count: min(length, segmentSize) + tagSize)
        var failure: StorageError?
        let plain = [UInt8](unsafeUninitializedCapacity: length) { out, count in
            count = 0
            for index in 0..<segmentCount(length: length) {
                let partLength = min(segmentSize, length - index * segmentSize)
                segment.count = partLength + tagSize
                do throws(StorageError) {
                    guard try DurableFile.readFully(fd, into: &segment, path: file) == segment.count else { failure = tampered; return }
                } catch {
                    failure = error; return
                }
                guard let box = try? AES.GCM.SealedBox(nonce: segmentNonce(base, index), ciphertext: segment.prefix(partLength),
                                                       tag: segment.suffix(tagSize)),
                      let opened = try? AES.GCM.open(box, using: key, authenticating: aad), opened.count == partLength
                else { failure = tampered; return }
                _ = opened.copyBytes(to: UnsafeMutableBufferPointer(rebasing: out[count..<(count + partLength)]))
                count += partLength
            }
        }
        if let failure { throw failure }
        return plain
    }

    /// The version in an object file's header, unauthenticated: used only to tell crash
    /// leftovers from evidence of a rolled-back index.
    static func unauthenticatedVersion(header: [UInt8]) -> UInt64? {
        guard header.count >= headerSize, header[0..<4].elementsEqual(magic),
              header[4] == formatVersion || header[4] == wholeFormatVersion else { return nil }
        var r = ByteReader(header, offset: 5)
        return r.uint(8)
    }
}

/// What kind of thing a path names.
public enum StorageKind: UInt8, Sendable, CustomStringConvertible {
    case file = 1
    case directory = 2
    public var description: String { self == .file ? "file" : "directory" }
}

/// A path's metadata: what `stat` answers.
public struct StorageStat: Equatable, Sendable {
    public let kind: StorageKind
    /// The plaintext size of a file; 0 for a directory.
    public let size: Int
    /// The namespace-wide write counter when this path last changed (0 for the root).
    public let version: UInt64

    public init(kind: StorageKind, size: Int, version: UInt64) { self.kind = kind; self.size = size; self.version = version }
}

/// One entry of a directory listing.
public struct StorageListing: Equatable, Sendable {
    public let name: String
    public let stat: StorageStat

    public init(name: String, stat: StorageStat) { self.name = name; self.stat = stat }
}

/// The decrypted index of one namespace: every file and directory, with the version that must
/// be on disk for each file.
struct StorageIndex: Equatable {
    static let magic = Array("ELSI".utf8)
    static let formatVersion: UInt8 = 1
    static let headerSize = 13
    static let aadTag = "elastos.storage.v1.index"

    /// The next version to hand out. Never decreases, so a version is never reused.
    var nextVersion: UInt64 = 1
    var entries: [StoragePath: StorageStat] = [:]

    func stat(_ path: StoragePath) -> StorageStat? {
        path.isRoot ? StorageStat(kind: .directory, size: 0, version: 0) : entries[path]
    }

    func children(of directory: StoragePath) -> [StorageListing] {
        entries.compactMap { path, stat in
            path.names.count == directory.names.count + 1 && path.names.starts(with: directory.names)
                ? StorageListing(name: path.names[path.names.count - 1], stat: stat) : nil
        }.sorted { $0.name < $1.name }
    }

    mutating func takeVersion() -> UInt64 {
        defer { nextVersion += 1 }
        return nextVersion
    }

    func header() -> [UInt8] {
        var h = Self.magic
        h.append(Self.formatVersion)
        h.appendBigEndian(nextVersion)
        return h
    }

    static func associatedData(_ namespace: StorageNamespace, header: [UInt8]) -> [UInt8] {
        var aad = StorageKeys.info(aadTag, [namespace.text])
        aad.append(0)
        aad.append(contentsOf: header)
        return aad
    }

    func encode(key: SymmetricKey, namespace: StorageNamespace) throws(StorageError) -> [UInt8] {
        var plain: [UInt8] = []
        plain.appendBigEndian(UInt32(entries.count))
        for (path, stat) in entries.sorted(by: { $0.key < $1.key }) {
            plain.append(stat.kind.rawValue)
            let text = Array(path.text.utf8)
            plain.appendBigEndian(UInt16(text.count))
            plain.append(contentsOf: text)
            plain.appendBigEndian(stat.version)
            plain.appendBigEndian(UInt64(stat.size))
        }
        let header = header()
        do {
            let box = try AES.GCM.seal(plain, using: key, nonce: AES.GCM.Nonce(),
                                       authenticating: Self.associatedData(namespace, header: header))
            return header + Array(box.nonce) + [UInt8](box.ciphertext) + [UInt8](box.tag)
        } catch {
            throw .io(FileError("encrypt index of", namespace.text, code: EIO))
        }
    }

    static func decode(_ file: [UInt8], key: SymmetricKey, namespace: StorageNamespace) throws(StorageError) -> StorageIndex {
        let tampered = StorageError.integrity(.indexTampered, nil)
        guard file.count >= headerSize + 12 + 16, file[0..<4].elementsEqual(magic), file[4] == formatVersion else { throw tampered }
        let header = Array(file[0..<headerSize])
        let plain: [UInt8]
        do {
            let box = try AES.GCM.SealedBox(nonce: try AES.GCM.Nonce(data: file[headerSize..<headerSize + 12]),
                                            ciphertext: file[(headerSize + 12)..<(file.count - 16)], tag: file[(file.count - 16)...])
            plain = [UInt8](try AES.GCM.open(box, using: key, authenticating: associatedData(namespace, header: header)))
        } catch {
            throw tampered
        }
        var index = StorageIndex()
        var h = ByteReader(header, offset: 5)
        guard let next = h.uint(8) else { throw tampered }
        index.nextVersion = next
        var r = ByteReader(plain)
        guard let count = r.uint(4) else { throw tampered }
        for _ in 0..<count {
            guard let kindByte = r.uint(1), let kind = StorageKind(rawValue: UInt8(kindByte)),
                  let length = r.uint(2), let text = r.take(Int(length)),
                  let string = String(validating: text, as: UTF8.self),
                  let path = try? StoragePath(string), !path.isRoot, path.text == string,
                  let version = r.uint(8), version < next, let size = r.uint(8), size <= UInt64(Int.max),
                  index.entries[path] == nil
            else { throw tampered }
            index.entries[path] = StorageStat(kind: kind, size: Int(size), version: version)
        }
        guard r.remaining == 0 else { throw tampered }
        return index
    }
}
