import Foundation
import Testing

/// Guests link the protocol module as Embedded Swift for wasm32: keep it compiling that way.
@Suite struct EmbeddedWireTests {
    @Test func capsuleWireCompilesAsEmbeddedSwiftForWasm32() throws {
        let sources = try FileManager.default.contentsOfDirectory(atPath: CLI.packageRoot.appendingPathComponent("Sources/CapsuleWire").path)
            .filter { $0.hasSuffix(".swift") }
            .map { CLI.packageRoot.appendingPathComponent("Sources/CapsuleWire/\($0)").path }
        let out = NSTemporaryDirectory() + "capsulewire-\(UUID().uuidString).o"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let swiftc = ["/opt/swift/usr/bin/swiftc", "/usr/bin/swiftc"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "swiftc"
        let r = try CLI.exec(swiftc, ["-target", "wasm32-unknown-none-wasm", "-enable-experimental-feature", "Embedded",
                                      "-wmo", "-parse-as-library", "-Osize", "-package-name", "elastos",
                                      "-module-name", "CapsuleWire", "-c"] + sources + ["-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: out))
    }

    /// DIDWire (verify, seal and open bodies) is for the same guests: it compiles against an
    /// Embedded CapsuleWire module.
    @Test func didWireCompilesAsEmbeddedSwiftForWasm32() throws {
        let root = CLI.packageRoot
        let capsuleWire = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("Sources/CapsuleWire").path)
            .filter { $0.hasSuffix(".swift") }
            .map { root.appendingPathComponent("Sources/CapsuleWire/\($0)").path }
        let dir = NSTemporaryDirectory() + "didwire-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let swiftc = ["/opt/swift/usr/bin/swiftc", "/usr/bin/swiftc"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "swiftc"
        let common = ["-target", "wasm32-unknown-none-wasm", "-enable-experimental-feature", "Embedded",
                      "-wmo", "-parse-as-library", "-Osize", "-package-name", "elastos"]
        let module = try CLI.exec(swiftc, common + ["-module-name", "CapsuleWire", "-emit-module", "-emit-module-path", dir + "/CapsuleWire.swiftmodule",
                                                    "-c"] + capsuleWire + ["-o", dir + "/CapsuleWire.o"])
        try #require(module.status == 0, "\(module.stderr)")
        let r = try CLI.exec(swiftc, common + ["-module-name", "DIDWire", "-I", dir, "-c",
                                               root.appendingPathComponent("Sources/DIDWire/DIDWire.swift").path, "-o", dir + "/DIDWire.o"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir + "/DIDWire.o"))
    }
}
