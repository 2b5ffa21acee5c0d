#if canImport(Glibc)
import Glibc
#endif
import Crypto
import ElastosNode
@testable import ElastosStorage
import Foundation
import Testing

final class TempStore {
    let root = NSTemporaryDirectory() + "elastos-storage-" + UUID().uuidString
    var directory: String { root + "/storage" }
    init() { try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(atPath: root) }

    func open() throws -> EncryptedStore { try EncryptedStore(directory: directory) }

    /// Every regular file under the storage directory.
    func files() -> [String] {
        guard let e = FileManager.default.enumerator(atPath: directory) else { return [] }
        return e.compactMap { $0 as? String }.map { directory + "/" + $0 }.filter {
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: $0, isDirectory: &isDir) && !isDir.boolValue
        }
    }

    /// The object files of one namespace (everything but the index and the lock).
    func objectFiles(_ ns: StorageNamespace, keys store: EncryptedStore) throws -> [String] {
        let dir = namespaceDirectory(ns)
        return try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0 != "index" && $0 != "lock" }.map { dir + "/" + $0 }
    }

    func namespaceDirectory(_ ns: StorageNamespace) -> String {
        let dirs = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let keys = StorageKeys(master: try! StorageMasterKey.load(directory + "/master.key")!)
        let name = keys.directoryName(ns)
        precondition(dirs.contains(name))
        return directory + "/" + name
    }

    func objectFile(_ a: StorageAddress, version: UInt64) -> String {
        let keys = StorageKeys(master: try! StorageMasterKey.load(directory + "/master.key")!)
        return namespaceDirectory(a.namespace) + "/" + keys.objectFileName(a.namespace, a.path, version: version)
    }
}

func address(_ text: String) throws -> StorageAddress { try StorageAddress(parsing: text) }
func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

func integrityFailure(_ body: () throws -> Void) -> IntegrityFailure? {
    do { try body() } catch StorageError.integrity(let f, _) { return f } catch { return nil }
    return nil
}

@Suite struct EncryptedStoreTests {
    let t = TempStore()

    @Test func everyOperationRoundTrips() throws {
        let store = try t.open()
        let notes = try address("apps/notes/todo/today.txt")
        let s1 = try store.write(bytes("buy milk"), to: notes)
        #expect(s1.kind == .file && s1.size == 8)
        #expect(try store.read(notes) == bytes("buy milk"))
        let s2 = try store.append(bytes(", eggs"), to: notes)
        #expect(s2.size == 14 && s2.version > s1.version)
        #expect(try store.read(notes) == bytes("buy milk, eggs"))
        // The parent was created implicitly; mkdir makes another; list shows direct children only.
        #expect(try store.stat(try address("apps/notes/todo")).kind == .directory)
        try store.makeDirectory(try address("apps/notes/archive/2026"))
        try store.write([], to: try address("apps/notes/empty"))
        #expect(try store.read(try address("apps/notes/empty")) == [])
        let root = try store.list(try address("apps/notes"))
        #expect(root.map(\.name) == ["archive", "empty", "todo"])
        #expect(root.map(\.stat.kind) == [.directory, .file, .directory])
        #expect(try store.list(try address("apps/notes/todo")).map(\.name) == ["today.txt"])
        // Append creates a missing file.
        try store.append(bytes("x"), to: try address("apps/notes/log"))
        #expect(try store.read(try address("apps/notes/log")) == bytes("x"))
        // Delete a file, then the (now empty) directory.
        try store.delete(notes)
        #expect(throws: StorageError.notFound(notes.path)) { try store.read(notes) }
        try store.delete(try address("apps/notes/todo"))
        #expect(try store.list(try address("apps/notes")).map(\.name) == ["archive", "empty", "log"])
        // A fresh instance (another process) sees the same state.
        let again = try t.open()
        #expect(try again.list(try address("apps/notes")).map(\.name) == ["archive", "empty", "log"])
        #expect(try again.read(try address("apps/notes/log")) == bytes("x"))
        // Namespaces are separate.
        #expect(try again.list(try address("apps/other")) == [])
        #expect(throws: StorageError.notFound(try StoragePath("log"))) { try again.read(try address("apps/other/log")) }
    }

    @Test func wrongKindsAreTypedConflicts() throws {
        let store = try t.open()
        try store.write(bytes("f"), to: try address("apps/a/file"))
        try store.write(bytes("g"), to: try address("apps/a/dir/inner"))
        #expect(throws: StorageError.notADirectory(try StoragePath("file"))) { try store.write([], to: try address("apps/a/file/x")) }
        #expect(throws: StorageError.isADirectory(try StoragePath("dir"))) { try store.write([], to: try address("apps/a/dir")) }
        #expect(throws: StorageError.isADirectory(try StoragePath("dir"))) { try store.read(try address("apps/a/dir")) }
        #expect(throws: StorageError.directoryNotEmpty(try StoragePath("dir"))) { try store.delete(try address("apps/a/dir")) }
        #expect(throws: StorageError.notADirectory(try StoragePath("file"))) { try store.list(try address("apps/a/file")) }
        #expect(throws: StorageError.notADirectory(try StoragePath("file"))) { try store.makeDirectory(try address("apps/a/file")) }
        #expect(throws: StorageError.rootCannotBeDeleted) { try store.delete(try address("apps/a")) }
        #expect(throws: StorageError.isADirectory(.root)) { try store.write([], to: try address("apps/a")) }
    }

    @Test func noPlaintextAnywhereOnDisk() throws {
        let store = try t.open()
        let marker = "MARKER-" + UUID().uuidString
        let content = bytes(String(repeating: marker + " ", count: 50))
        try store.write(content, to: try address("apps/secretive/\(marker)/\(marker).txt"))
        try store.append(bytes(marker), to: try address("apps/secretive/\(marker)/\(marker).txt"))
        try store.makeDirectory(try address("apps/secretive/dir-\(marker)"))
        let needles = [bytes(marker), bytes("secretive")]
        let files = t.files()
        #expect(files.count >= 4)  // key, lock, index, object
        for file in files {
            #expect(!file.contains(marker) && !file.contains("secretive"), "a file name reveals a path: \(file)")
            let data = try #require(FileManager.default.contents(atPath: file))
            for needle in needles {
                #expect(data.range(of: Data(needle)) == nil, "\(file) contains plaintext")
            }
        }
    }

    @Test func swappingTwoObjectFilesFailsBothReads() throws {
        let store = try t.open()
        let a = try address("apps/swap/a"), b = try address("apps/swap/b")
        let sa = try store.write(bytes("alpha-content"), to: a)
        let sb = try store.write(bytes("bravo-content"), to: b)
        let fa = t.objectFile(a, version: sa.version), fb = t.objectFile(b, version: sb.version)
        let da = try Data(contentsOf: URL(fileURLWithPath: fa)), db = try Data(contentsOf: URL(fileURLWithPath: fb))
        try db.write(to: URL(fileURLWithPath: fa))
        try da.write(to: URL(fileURLWithPath: fb))
        #expect(integrityFailure { _ = try store.read(a) } == .objectTampered)
        #expect(integrityFailure { _ = try store.read(b) } == .objectTampered)
        // Renaming one object to the other's name is the same attack.
        try da.write(to: URL(fileURLWithPath: fa))
        try FileManager.default.removeItem(atPath: fb)
        try FileManager.default.copyItem(atPath: fa, toPath: fb)
        #expect(integrityFailure { _ = try store.read(b) } == .objectTampered)
        #expect(try store.read(a) == bytes("alpha-content"))
    }

    @Test func aFlippedBitOrATruncationIsAnIntegrityError() throws {
        let store = try t.open()
        let a = try address("apps/flip/a")
        let s = try store.write([UInt8](repeating: 0x41, count: 4096), to: a)
        let file = t.objectFile(a, version: s.version)
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        for offset in [0, 5, 13, 21, 30, 40, 2000, original.count - 1] {
            var copy = original
            copy[offset] ^= 0x01
            try Data(copy).write(to: URL(fileURLWithPath: file))
            #expect(integrityFailure { _ = try store.read(a) } == .objectTampered, "bit flip at \(offset)")
        }
        for length in [0, 10, 33, original.count - 16, original.count - 1] {
            try Data(original.prefix(length)).write(to: URL(fileURLWithPath: file))
            #expect(integrityFailure { _ = try store.read(a) } == .objectTampered, "truncated to \(length)")
        }
        try Data(original + [0]).write(to: URL(fileURLWithPath: file))
        #expect(integrityFailure { _ = try store.read(a) } == .objectTampered)
        try FileManager.default.removeItem(atPath: file)
        #expect(integrityFailure { _ = try store.read(a) } == .objectMissing)
        try Data(original).write(to: URL(fileURLWithPath: file))
        #expect(try store.read(a) == [UInt8](repeating: 0x41, count: 4096))
    }

    @Test func aTamperedIndexIsAnIntegrityError() throws {
        let store = try t.open()
        try store.write(bytes("x"), to: try address("apps/idx/a"))
        try store.write(bytes("y"), to: try address("apps/other/b"))
        let index = t.namespaceDirectory(try StorageNamespace(capsule: "idx")) + "/index"
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: index)))
        var flipped = original
        flipped[flipped.count / 2] ^= 0x80
        try Data(flipped).write(to: URL(fileURLWithPath: index))
        #expect(integrityFailure { _ = try store.read(try address("apps/idx/a")) } == .indexTampered)
        #expect(integrityFailure { _ = try store.stat(try address("apps/idx")) } == .indexTampered)
        // Another namespace's (valid) index does not authenticate here either.
        let other = t.namespaceDirectory(try StorageNamespace(capsule: "other")) + "/index"
        try FileManager.default.removeItem(atPath: index)
        try FileManager.default.copyItem(atPath: other, toPath: index)
        #expect(integrityFailure { _ = try store.read(try address("apps/idx/a")) } == .indexTampered)
    }

    @Test func anOlderVersionPutBackIsDetected() throws {
        let store = try t.open()
        let a = try address("apps/roll/a")
        let v1 = try store.write(bytes("version one"), to: a)
        let old = try Data(contentsOf: URL(fileURLWithPath: t.objectFile(a, version: v1.version)))
        let v2 = try store.write(bytes("version two"), to: a)
        // The old object under the current version's name: its AAD names the old version.
        try old.write(to: URL(fileURLWithPath: t.objectFile(a, version: v2.version)))
        #expect(integrityFailure { _ = try store.read(a) } == .objectTampered)
    }

    @Test func anOldIndexAndObjectPutBackWhileOthersChangedIsDetected() throws {
        _ = try t.open()
        let ns = try StorageNamespace(capsule: "backup")
        let a = try address("apps/backup/a"), b = try address("apps/backup/b")
        do {
            let store = try t.open()
            let va = try store.write(bytes("a old"), to: a)
            try store.write(bytes("b old"), to: b)
            let dir = t.namespaceDirectory(ns)
            let savedIndex = try Data(contentsOf: URL(fileURLWithPath: dir + "/index"))
            let savedA = try Data(contentsOf: URL(fileURLWithPath: t.objectFile(a, version: va.version)))
            // Later: a and b both change, b twice.
            try store.write(bytes("a new"), to: a)
            try store.write(bytes("b newer"), to: b)
            try store.write(bytes("b newest"), to: b)
            // The attacker restores a's old object and the old index.
            try savedIndex.write(to: URL(fileURLWithPath: dir + "/index"))
            try savedA.write(to: URL(fileURLWithPath: t.objectFile(a, version: va.version)))
        }
        let reopened = try t.open()
        #expect(integrityFailure { _ = try reopened.read(a) } == .indexRolledBack)
        #expect(integrityFailure { _ = try reopened.read(b) } == .indexRolledBack)
        #expect(integrityFailure { _ = try reopened.write([], to: a) } == .indexRolledBack)
        // Other namespaces are unaffected.
        try reopened.write(bytes("fine"), to: try address("apps/unrelated/x"))
        #expect(try reopened.read(try address("apps/unrelated/x")) == bytes("fine"))
    }

    /// The documented limit (docs/STORAGE.md): a namespace directory restored as a whole, with
    /// nothing newer left beside it, is indistinguishable from the moment it was copied.
    @Test func aWholeNamespaceRestoredFromBackupIsNotDetected() throws {
        let store = try t.open()
        let a = try address("apps/whole/a")
        try store.write(bytes("old"), to: a)
        let dir = t.namespaceDirectory(a.namespace)
        let backup = t.root + "/backup"
        try FileManager.default.copyItem(atPath: dir, toPath: backup)
        try store.write(bytes("new"), to: a)
        try FileManager.default.removeItem(atPath: dir)
        try FileManager.default.moveItem(atPath: backup, toPath: dir)
        #expect(try t.open().read(a) == bytes("old"))
    }

    @Test func crashLeftoversAreCollectedOnOpen() throws {
        let store = try t.open()
        let a = try address("apps/crash/a")
        let s = try store.write(bytes("kept"), to: a)
        let dir = t.namespaceDirectory(a.namespace)
        // A temp file from a killed writer, an orphan of the next version (killed between the
        // object's rename and the index's), and an orphan of the old version (killed before
        // the unlink).
        try Data("partial".utf8).write(to: URL(fileURLWithPath: dir + "/.tmp-99999-1"))
        let current = try Data(contentsOf: URL(fileURLWithPath: t.objectFile(a, version: s.version)))
        var next = [UInt8](current)
        let nextVersion = s.version + 1
        for i in 0..<8 { next[5 + i] = UInt8(truncatingIfNeeded: nextVersion >> (56 - 8 * UInt64(i))) }
        try Data(next).write(to: URL(fileURLWithPath: t.objectFile(try address("apps/crash/b"), version: nextVersion)))
        try current.write(to: URL(fileURLWithPath: t.objectFile(a, version: 0)))
        // Something that is not ours is left alone.
        try current.write(to: URL(fileURLWithPath: dir + "/not-an-object"))
        let before = try FileManager.default.contentsOfDirectory(atPath: dir).count
        let reopened = try t.open()
        #expect(try reopened.read(a) == bytes("kept"))
        let after = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(after.count == before - 3)
        #expect(after.contains("not-an-object"))
        #expect(!after.contains { $0.hasPrefix(".tmp-") })
    }

    @Test func pathsAreNormalisedAndEscapesRefused() throws {
        #expect(try StoragePath("a//b/./c/") == StoragePath("a/b/c"))
        #expect(try StoragePath("./a") == StoragePath("a"))
        #expect(try StoragePath("").isRoot)
        let refused: [(String, StoragePathError)] = [
            ("a/../b", .parentSegment), ("..", .parentSegment), ("/etc/passwd", .absolute), ("a\\b", .backslash),
            ("a\u{0}b", .controlCharacter), ("a\nb", .controlCharacter), ("a\u{7F}", .controlCharacter),
            ("a\u{85}", .controlCharacter), (String(repeating: "x", count: 256), .nameTooLong(256)),
            (Array(repeating: "abcdefghij", count: 100).joined(separator: "/"), .pathTooLong(1099)),
            (Array(repeating: "a", count: 65).joined(separator: "/"), .tooDeep(65)),
        ]
        for (text, error) in refused {
            #expect(throws: error, "\(text.debugDescription)") { try StoragePath(text) }
        }
        #expect(throws: StoragePathError.emptyName) { try StoragePath(names: ["a", ""]) }
        #expect(throws: StoragePathError.emptyName) { try StoragePath(names: ["a/b"]) }
        // Addresses: URI and bare forms agree; percent-encoded escapes are refused after decoding.
        #expect(try address("localhost://storage/apps/x/a%20b/c") == StorageAddress(namespace: StorageNamespace(capsule: "x"), path: StoragePath("a b/c")))
        #expect(try address("apps/x/a b/c") == address("localhost://storage/apps/x/a%20b/c"))
        #expect(try address("localhost://storage/apps/x/a%20b").uri == "localhost://storage/apps/x/a%20b")
        for bad in ["localhost://storage/apps/x/%2E%2E/y", "localhost://storage/apps/x/a%2Fb", "localhost://storage/apps/x/%00",
                    "localhost://storage/apps/x/%zz", "localhost://storage/apps/../etc", "localhost://storage/other/x",
                    "apps/X/upper", "apps//", "apps", "/apps/x/a", "apps/x/../../y", "localhost://storage/apps/x/a?q"] {
            #expect(throws: StoragePathError.self, "\(bad)") { try address(bad) }
        }
        let store = try t.open()
        #expect(throws: StoragePathError.parentSegment) { try store.write([], to: try address("apps/x/../y")) }
    }

    @Test func theMasterKeyIs0600AndRefusedWhenExposed() throws {
        _ = try t.open()
        let key = t.directory + "/master.key"
        var st = stat()
        #expect(stat(key, &st) == 0 && st.st_mode & 0o777 == 0o600 && st.st_size == 32)
        #expect(stat(t.directory, &st) == 0 && st.st_mode & 0o777 == 0o700)
        let keyHex = try Data(contentsOf: URL(fileURLWithPath: key)).map { String(format: "%02x", $0) }.joined()
        // The same key opens the same data again.
        try t.open().write(bytes("kept"), to: try address("apps/k/a"))
        #expect(try t.open().read(try address("apps/k/a")) == bytes("kept"))

        chmod(key, 0o644)
        #expect(throws: StorageError.masterKey(.readableByOthers(path: key, mode: 0o644))) { try t.open() }
        chmod(key, 0o600)
        chmod(t.directory, 0o755)
        #expect(throws: StorageError.masterKey(.directoryAccessibleByOthers(path: t.directory, mode: 0o755))) { try t.open() }
        chmod(t.directory, 0o700)
        // Wrong size: refused, never replaced.
        let saved = try Data(contentsOf: URL(fileURLWithPath: key))
        try (saved + Data([0])).write(to: URL(fileURLWithPath: key))
        chmod(key, 0o600)
        do { _ = try t.open(); Issue.record("a 33-byte key was accepted") } catch {
            #expect(error as? StorageError == .masterKey(.wrongSize(path: key, size: 33)))
            #expect(!"\(error)".contains(keyHex))
        }
        // A symbolic link is refused even if it points at a good key.
        try saved.write(to: URL(fileURLWithPath: t.root + "/elsewhere.key"))
        chmod(t.root + "/elsewhere.key", 0o600)
        unlink(key)
        symlink(t.root + "/elsewhere.key", key)
        #expect(throws: StorageError.masterKey(.symbolicLink(path: key))) { try t.open() }
        unlink(key)
        try saved.write(to: URL(fileURLWithPath: key))
        chmod(key, 0o600)
        #expect(try t.open().read(try address("apps/k/a")) == bytes("kept"))
    }

    @Test func manyThreadsWritingDifferentPathsAllReadBack() throws {
        let store = try t.open()
        let second = try t.open()  // a second instance: stands in for another process (flock)
        let threads = 8, each = 20
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            let s = thread % 2 == 0 ? store : second
            for i in 0..<each {
                let a = try! address("apps/busy/t\(thread)/f\(i)")
                try! s.write(bytes("thread \(thread) item \(i)"), to: a)
                if i % 5 == 0 { try! s.append(bytes("!"), to: a) }
            }
        }
        let check = try t.open()
        for thread in 0..<threads {
            #expect(try check.list(try address("apps/busy/t\(thread)")).count == each)
            for i in 0..<each {
                let expected = "thread \(thread) item \(i)" + (i % 5 == 0 ? "!" : "")
                #expect(try check.read(try address("apps/busy/t\(thread)/f\(i)")) == bytes(expected))
            }
        }
    }

    // MARK: Segments (format 2) and the cached index

    @Test func largeObjectsRoundTripAcrossSegmentsAndTheirSegmentsCannotBeMoved() throws {
        let store = try t.open()
        let a = try address("apps/big/a")
        let size = 3 * ObjectFormat.segmentSize + 5
        let content = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ $0 >> 9) }
        let s = try store.write(content, to: a)
        #expect(try store.read(a) == content)
        let file = t.objectFile(a, version: s.version)
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        #expect(original.count == ObjectFormat.preambleSize + size + 4 * ObjectFormat.tagSize)
        #expect(original[4] == ObjectFormat.formatVersion)
        // Segments 0 and 1 (each ciphertext ‖ tag) swapped: same size, every byte authentic.
        let segment = ObjectFormat.segmentSize + ObjectFormat.tagSize
        let first = ObjectFormat.preambleSize
        var swapped = original
        swapped.replaceSubrange(first..<(first + segment), with: original[(first + segment)..<(first + 2 * segment)])
        swapped.replaceSubrange((first + segment)..<(first + 2 * segment), with: original[first..<(first + segment)])
        try Data(swapped).write(to: URL(fileURLWithPath: file))
        #expect(integrityFailure { _ = try store.read(a) } == .objectTampered)
        // The last segment dropped, or a full segment's worth cut from the end.
        try Data(original.prefix(original.count - 5 - ObjectFormat.tagSize)).write(to: URL(fileURLWithPath: file))
        #expect(integrityFailure { _ = try store.read(a) } == .objectTampered)
        // A segment borrowed from another object of the same path (the previous version).
        try Data(original).write(to: URL(fileURLWithPath: file))
        let s2 = try store.write(content.map { $0 ^ 0x5a }, to: a)
        let other = try [UInt8](Data(contentsOf: URL(fileURLWithPath: t.objectFile(a, version: s2.version))))
        var mixed = other
        mixed.replaceSubrange(first..<(first + segment), with: original[first..<(first + segment)])
        try Data(mixed).write(to: URL(fileURLWithPath: t.objectFile(a, version: s2.version)))
        #expect(integrityFailure { _ = try store.read(a) } == .objectTampered)
    }

    /// Objects larger than one write batch (sealed in parallel, several batches, the last one
    /// short): every segment still opens only at its own position, and the file has the exact
    /// size the format fixes.
    @Test(arguments: [ObjectFormat.segmentsPerBatch, ObjectFormat.segmentsPerBatch + 1, 2 * ObjectFormat.segmentsPerBatch + 3])
    func objectsSpanningSeveralWriteBatchesRoundTrip(segments: Int) throws {
        let store = try t.open()
        let a = try address("apps/big/batches")
        let size = (segments - 1) * ObjectFormat.segmentSize + 77
        let content = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 13) }
        let s = try store.write(content, to: a)
        #expect(try store.read(a) == content)
        let file = t.objectFile(a, version: s.version)
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        #expect(original.count == ObjectFormat.preambleSize + size + segments * ObjectFormat.tagSize)
        // The first segment of the second batch and the last of the first batch swapped.
        let segment = ObjectFormat.segmentSize + ObjectFormat.tagSize
        let last = ObjectFormat.preambleSize + (ObjectFormat.segmentsPerBatch - 1) * segment
        guard segments > ObjectFormat.segmentsPerBatch + 1 else { return }
        var swapped = original
        swapped.replaceSubrange(last..<(last + segment), with: original[(last + segment)..<(last + 2 * segment)])
        swapped.replaceSubrange((last + segment)..<(last + 2 * segment), with: original[last..<(last + segment)])
        try Data(swapped).write(to: URL(fileURLWithPath: file))
        #expect(integrityFailure { _ = try store.read(a) } == .objectTampered)
    }

    @Test func objectsInTheFirstWholeMessageFormatStillRead() throws {
        let store = try t.open()
        let a = try address("apps/legacy/note")
        let s = try store.write(bytes("placeholder"), to: a)
        #expect(s.size == 11)
        // Rewrite the object as format 1 would have: one GCM message over the whole plaintext.
        let plain = bytes("format one!")
        let keys = StorageKeys(master: try #require(try StorageMasterKey.load(t.directory + "/master.key")))
        let header = ObjectFormat.header(version: s.version, length: plain.count, format: ObjectFormat.wholeFormatVersion)
        let nonce = AES.GCM.Nonce()
        let box = try AES.GCM.seal(plain, using: keys.objectKey(a.namespace, a.path), nonce: nonce,
                                   authenticating: ObjectFormat.associatedData(a.namespace, a.path, header: header))
        let file = t.objectFile(a, version: s.version)
        try Data(header + Array(nonce) + [UInt8](box.ciphertext) + [UInt8](box.tag)).write(to: URL(fileURLWithPath: file))
        #expect(try t.open().read(a) == plain)
        // Its header claims format 2 now: the sizes and the AAD no longer match.
        var relabelled = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        relabelled[4] = ObjectFormat.formatVersion
        try Data(relabelled).write(to: URL(fileURLWithPath: file))
        #expect(integrityFailure { _ = try t.open().read(a) } == .objectTampered)
    }

    @Test func aCachedIndexFollowsWritesFromAnotherProcessAndEditsInPlace() throws {
        let store = try t.open()
        let other = try t.open()  // stands in for another process sharing the store
        let a = try address("apps/shared/a")
        try store.write(bytes("one"), to: a)
        #expect(try store.read(a) == bytes("one"))
        try other.write(bytes("two, longer"), to: a)
        #expect(try store.read(a) == bytes("two, longer"))
        #expect(try store.stat(a).size == 11)
        try other.delete(a)
        #expect(throws: StorageError.notFound(a.path)) { try store.read(a) }
        try other.write(bytes("three"), to: try address("apps/shared/b"))
        #expect(try store.list(try address("apps/shared")).map(\.name) == ["b"])
        // The index edited in place (same inode, same size, same header) after it was cached.
        let index = t.namespaceDirectory(a.namespace) + "/index"
        var bytesOnDisk = try [UInt8](Data(contentsOf: URL(fileURLWithPath: index)))
        bytesOnDisk[bytesOnDisk.count - 3] ^= 0x01
        try Data(bytesOnDisk).write(to: URL(fileURLWithPath: index))
        #expect(integrityFailure { _ = try store.list(try address("apps/shared")) } == .indexTampered)
    }
}
