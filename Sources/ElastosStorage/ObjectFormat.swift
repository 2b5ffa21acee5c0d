// Object files and the namespace index (docs/STORAGE.md, "On disk"). Big-endian throughout.
//
//   object = "ELSO" ‖ 0x01 ‖ version:u64 ‖ length:u64 ‖ nonce:12 ‖ ciphertext:length ‖ tag:16
//   aad    = "elastos.storage.v1.object" ‖ 0x00 ‖ namespace ‖ 0x00 ‖ path ‖ 0x00 ‖ object[0..<21]
//
//   index  = "ELSI" ‖ 0x01 ‖ nextVersion:u64 ‖ nonce:12 ‖ ciphertext ‖ tag:16
//   aad    = "elastos.storage.v1.index" ‖ 0x00 ‖ namespace ‖ 0x00 ‖ index[0..<13]
//   plain  = count:u32 ‖ count × (kind:u8 ‖ pathLength:u16 ‖ path ‖ version:u64 ‖ size:u64)
//
// An object is opened with the AAD built from what the *index* says (namespace, path, version,
// length), not from its own header, so a file from another path, another version or another
// namespace fails authentication even if its header was rewritten to match.

import Crypto
import ElastosNode
import Foundation

enum ObjectFormat {
    static let magic = Array("ELSO".utf8)
    static let formatVersion: UInt8 = 1
    static let headerSize = 21
    static let nonceSize = 12
    static let tagSize = 16
    static let overhead = headerSize + nonceSize + tagSize
    static let aadTag = "elastos.storage.v1.object"

    static func header(version: UInt64, length: Int) -> [UInt8] {
        var h = magic
        h.append(formatVersion)
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

    /// The sealed parts of an object file, ready to be written in order.
    struct Sealed {
        let header: [UInt8]
        let nonce: [UInt8]
        let ciphertext: Data
        let tag: Data
    }

    static func seal(_ plaintext: [UInt8], key: SymmetricKey, namespace: StorageNamespace, path: StoragePath,
                     version: UInt64) throws(StorageError) -> Sealed {
        let header = header(version: version, length: plaintext.count)
        let nonce = AES.GCM.Nonce()
        do {
            let box = try AES.GCM.seal(plaintext, using: key, nonce: nonce,
                                       authenticating: associatedData(namespace, path, header: header))
            return Sealed(header: header, nonce: Array(nonce), ciphertext: box.ciphertext, tag: box.tag)
        } catch {
            throw .io(FileError("encrypt", path.description, code: EIO))
        }
    }

    /// Authenticates and decrypts an object file's bytes for the version and length the index
    /// records; any mismatch is an integrity failure.
    static func open(_ file: Data, key: SymmetricKey, namespace: StorageNamespace, path: StoragePath,
                     version: UInt64, length: Int) throws(StorageError) -> [UInt8] {
        let tampered = StorageError.integrity(.objectTampered, path)
        guard file.count == overhead + length else { throw tampered }
        let expected = header(version: version, length: length)
        guard file.prefix(headerSize).elementsEqual(expected) else { throw tampered }
        let plain: Data
        do {
            // nonce ‖ ciphertext ‖ tag is the combined form; a Data slice is copied with memcpy
            // (an ArraySlice would be copied byte by byte).
            let box = try AES.GCM.SealedBox(combined: file.dropFirst(headerSize))
            plain = try AES.GCM.open(box, using: key, authenticating: associatedData(namespace, path, header: expected))
        } catch {
            throw tampered
        }
        return [UInt8](unsafeUninitializedCapacity: plain.count) { buffer, count in
            count = plain.copyBytes(to: buffer)
        }
    }

    /// The version in an object file's header, unauthenticated: used only to tell crash
    /// leftovers from evidence of a rolled-back index.
    static func unauthenticatedVersion(header: [UInt8]) -> UInt64? {
        guard header.count >= headerSize, header[0..<4].elementsEqual(magic), header[4] == formatVersion else { return nil }
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
