import ElastosCore
import Foundation
import Testing

/// Compares this implementation with independent ones (pynacl, base58, py-multiformats, didkit)
/// in the venv that scripts/test.sh creates (.venv, or $ELASTOS_TEST_PYTHON).
@Suite struct InteropTests {
    static var python: String {
        if let p = ProcessInfo.processInfo.environment["ELASTOS_TEST_PYTHON"], !p.isEmpty { return p }
        return CLI.packageRoot.appendingPathComponent(".venv/bin/python").path
    }

    func runPython(_ script: String, input: String) throws -> String {
        let py = Self.python
        try #require(FileManager.default.isExecutableFile(atPath: py),
                     "no interop venv at \(py): run scripts/test.sh, which creates it from Tests/interop/requirements.txt")
        let r = try CLI.exec(py, [CLI.packageRoot.appendingPathComponent("Tests/interop/\(script)").path], stdin: input)
        #expect(r.status == 0, "\(r.stderr)")
        return r.stdout
    }

    @Test func randomKeysMatchPyNaClBase58MultiformatsAndDidkit() throws {
        var lines: [String] = []
        for i in 0..<64 {
            let key = SigningKey()
            let msg = (0..<(i * 7)).map { _ in UInt8.random(in: 0...255) }
            let peer = PeerID(publicKey: key.publicKey)
            let fields: [String: String] = [
                "seed": Hex.encode(key.seed), "public_key": Hex.encode(key.publicKey.bytes),
                "did": key.publicKey.did.description, "peer_id": peer.description,
                "peer_id_cid": peer.cid.string(in: .base36Lower), "message": Hex.encode(msg),
                "signature": Hex.encode(key.signRaw(msg)),
            ]
            lines.append(String(decoding: try JSONSerialization.data(withJSONObject: fields), as: UTF8.self))
        }
        let out = try runPython("identity_crosscheck.py", input: lines.joined(separator: "\n"))
        #expect(out.hasSuffix("64 passed, 0 failed\n"), "\(out)")
    }

    @Test func randomContentCIDsMatchPyMultiformats() throws {
        var lines: [String] = []
        for i in 0..<64 {
            let content = (0..<(i * 37)).map { _ in UInt8.random(in: 0...255) }
            let cid = CID.rawFile(content)
            let fields = ["content_hex": Hex.encode(content), "cidv1_raw": cid.description,
                          "sha256": Hex.encode(cid.multihash.digest)]
            lines.append(String(decoding: try JSONSerialization.data(withJSONObject: fields), as: UTF8.self))
        }
        let out = try runPython("content_crosscheck.py", input: lines.joined(separator: "\n"))
        #expect(out.hasSuffix("64 passed, 0 failed\n"), "\(out)")
    }
}
