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

/// Sealing to a did:key against libsodium (the conversions) and pyhpke (HPKE): Python opens
/// what we seal, and we open what Python seals to the libsodium-converted key.
@Suite struct DIDSealInteropTests {
    @Test func sealsOpenBothWaysWithPyhpkeAndLibsodiumKeys() throws {
        var keys: [SigningKey] = []
        var lines: [String] = []
        for i in 0..<16 {
            let key = SigningKey()
            let plaintext = (0..<(i * 97)).map { _ in UInt8.random(in: 0...255) }
            let aad = Array("dm:\(i)".utf8)
            let fields: [String: String] = [
                "seed": Hex.encode(key.seed), "public_key": Hex.encode(key.publicKey.bytes),
                "x25519": Hex.encode(try X25519FromEd25519.publicKey(key.publicKey.bytes)),
                "x25519_private": Hex.encode(Array(try X25519FromEd25519.privateKey(seed: key.seed).rawRepresentation)),
                "aad": Hex.encode(aad), "plaintext": Hex.encode(plaintext),
                "sealed": Hex.encode(try DIDSeal.seal(plaintext, to: try DIDKey(key.publicKey.did.description).publicKey, aad: aad)),
            ]
            keys.append(key)
            lines.append(String(decoding: try JSONSerialization.data(withJSONObject: fields), as: UTF8.self))
        }
        let out = try InteropTests().runPython("did_seal_crosscheck.py", input: lines.joined(separator: "\n"))
        #expect(out.hasSuffix("16 passed, 0 failed\n"), "\(out)")
        let answers = out.split(separator: "\n").dropLast()
        try #require(answers.count == keys.count, "\(out)")
        for (n, (key, line)) in zip(keys, answers).enumerated() {
            let answer = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect((answer["problems"] as? [String]) == [], "\(line)")
            func bytes(_ field: String) throws -> [UInt8] { try #require((answer[field] as? String).flatMap(Hex.decode), "\(field) in \(line)") }
            let sealed = try bytes("sealed"), aad = try bytes("aad"), plaintext = try bytes("plaintext")
            #expect(try DIDSeal.open(sealed, with: key, aad: aad) == plaintext)
            #expect(throws: DIDSealError.doesNotOpen) { try DIDSeal.open(sealed, with: key, aad: aad + [0]) }
            #expect(throws: DIDSealError.doesNotOpen) { try DIDSeal.open(sealed, with: keys[(n + 1) % keys.count], aad: aad) }
        }
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
