import ElastosCapsule
import ElastosCore
import Foundation
import Synchronization

/// A fresh directory, removed (read-only parts included) when the value goes away.
final class Scratch: Sendable {
    let path = NSTemporaryDirectory() + "elastos-capsule-" + UUID().uuidString
    init() { try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
    deinit {
        _ = try? Process.run(URL(fileURLWithPath: "/bin/chmod"), arguments: ["-R", "u+rwX", path]).waitUntilExit()
        try? FileManager.default.removeItem(atPath: path)
    }
    func sub(_ name: String) -> String { path + "/" + name }
}

/// Deterministic generator so a failing case reproduces.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var i = 0
        while i < count {
            var word = next()
            for _ in 0..<8 where i < count {
                out[i] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                i += 1
            }
        }
        return out
    }
}

/// An audit sink that keeps every event.
final class RecordingAuditSink: AuditSink {
    private let events = Mutex<[AuditEvent]>([])
    func record(_ event: AuditEvent) { events.withLock { $0.append(event) } }
    var all: [AuditEvent] { events.withLock { $0 } }
    var names: [String] { all.map(\.event) }
}

func manifestJSON(name: String = "hello", type: String = "wasm", entrypoint: String = "hello.wasm",
                  extra: String = "") -> String {
    """
    {"schema":"elastos.capsule/v1","name":"\(name)","version":"1.0.0","type":"\(type)","role":"app",\
    "entrypoint":"\(entrypoint)"\(extra)}
    """
}

/// Writes `files` (relative path → content) under `root`, creating directories.
func writeFiles(_ files: [String: [UInt8]], under root: String) throws {
    for (rel, content) in files {
        let path = root + "/" + rel
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(content).write(to: URL(fileURLWithPath: path))
    }
}

/// A small valid capsule directory.
func makeCapsule(at root: String, name: String = "hello", extraFiles: [String: [UInt8]] = [:]) throws {
    var files: [String: [UInt8]] = [
        "capsule.json": Array(manifestJSON(name: name, extra: #","capabilities":[{"resource":"localhost://storage/apps/hello/*","actions":["read","write"],"reason":"keeps its notes"}]"#).utf8),
        "hello.wasm": Array("\0asm fake module".utf8),
        "assets/readme.txt": Array("hi\n".utf8),
    ]
    for (k, v) in extraFiles { files[k] = v }
    try writeFiles(files, under: root)
}

func bytes(ofFile path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

/// Every file under `root` (relative path → content), for comparing trees.
func readFiles(under root: String) throws -> [String: [UInt8]] {
    var out: [String: [UInt8]] = [:]
    let enumerator = FileManager.default.enumerator(atPath: root)
    while let rel = enumerator?.nextObject() as? String {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: root + "/" + rel, isDirectory: &isDir), !isDir.boolValue {
            out[rel] = try bytes(ofFile: root + "/" + rel)
        }
    }
    return out
}

/// `count` pseudo-random bytes from `seed`.
func randomBytes(seed: UInt64, _ count: Int) -> [UInt8] {
    var rng = SplitMix64(seed: seed)
    return rng.bytes(count)
}
