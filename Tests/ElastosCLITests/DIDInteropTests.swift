@testable import ElastosCore
import Foundation
import Testing

/// DID documents and X25519 key agreement keys against libsodium (pynacl) and didkit.
@Suite struct DIDInteropTests {
    @Test func documentsAndKeyAgreementKeysMatchLibsodiumAndDidkit() throws {
        var lines: [String] = []
        for _ in 0..<32 {
            let key = SigningKey()
            let fields: [String: String] = [
                "seed": Hex.encode(key.seed), "public_key": Hex.encode(key.publicKey.bytes),
                "did": key.publicKey.did.description, "x25519": Hex.encode(try #require(key.publicKey.x25519)),
                "x25519_private": Hex.encode(Array(key.keyAgreementKey.rawRepresentation)),
                "document": key.publicKey.did.document,
            ]
            lines.append(String(decoding: try JSONSerialization.data(withJSONObject: fields), as: UTF8.self))
        }
        let out = try InteropTests().runPython("did_crosscheck.py", input: lines.joined(separator: "\n"))
        #expect(out.hasSuffix("32 passed, 0 failed\n"), "\(out)")
    }
}

@Suite struct DIDCLITests {
    let dir = TempDir()
    var cli: CLI { CLI(home: dir.path + "/home") }

    @Test func identityPrintsTheNodesDocumentAndResolvesOthers() throws {
        let did = try #require(try cli.run(["identity", "--json"]).stdout.firstMatch(of: /"did":"(did:key:z6Mk[1-9A-HJ-NP-Za-km-z]+)"/)?.1)
        let doc = try cli.run(["identity", "--document"])
        #expect(doc.status == 0)
        #expect(doc.stdout == (try DIDKey(String(did))).document + "\n")
        let other = SigningKey().publicKey.did
        #expect(try cli.run(["identity", "--resolve", other.description]).stdout == other.document + "\n")
        let bad = try cli.run(["identity", "--resolve", "did:key:z6MkNOTAKEY"])
        #expect(bad.status == 1 && bad.stderr.contains("did:key:z6MkNOTAKEY"))
    }
}
