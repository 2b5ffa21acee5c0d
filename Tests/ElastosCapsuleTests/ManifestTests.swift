// capsule.json: defaults, and every kind of schema error naming its field.

import ElastosCapsule
import ElastosCore
import Foundation
import Testing

private func parse(_ text: String) throws(ManifestError) -> CapsuleManifest {
    try CapsuleManifest(json: Array(text.utf8))
}

/// The error's message for `text`, or nil if it parsed.
private func message(_ text: String) -> String? {
    do {
        _ = try parse(text)
        return nil
    } catch {
        return error.description
    }
}

@Suite struct ManifestTests {
    @Test func aMinimalManifestGetsTheDocumentedDefaults() throws {
        let m = try parse(manifestJSON())
        #expect(m.name == "hello" && m.version == "1.0.0" && m.type == .wasm && m.role == .app)
        #expect(m.entrypoint == "hello.wasm" && m.capabilities.isEmpty && m.viewer == nil && m.description == nil)
        #expect(m.limits.memoryMB == 64 && m.limits.cpuMillis == 60_000 && m.limits.wallMillis == 600_000 && m.limits.maxFuel == nil)
    }

    @Test func aFullManifestParses() throws {
        let m = try parse("""
            {"schema":"elastos.capsule/v1","name":"notes-2","version":"2.10.0-beta.1+build.7","type":"native",
             "role":"provider","description":"Notes\\nprovider","entrypoint":"bin/notes",
             "capabilities":[{"resource":"localhost://storage/apps/notes/*","actions":["read","write"],"reason":"its notes"},
                             {"resource":"elastos://peer/*","actions":["message"],"reason":"sync"}],
             "limits":{"memory_mb":256,"cpu_ms":1000,"wall_ms":2000,"max_fuel":1000000}}
            """)
        #expect(m.capabilities.count == 2 && m.capabilities[0].actions == [.read, .write])
        #expect(m.capabilities[1].resource.text == "elastos://peer/*")
        #expect(m.limits.memoryMB == 256 && m.limits.maxFuel == 1_000_000)
        #expect(m.description == "Notes\nprovider")
        let data = try parse(manifestJSON(type: "data", entrypoint: "rom.gba", extra: #","viewer":"gba-emulator""#))
        #expect(data.viewer == .name("gba-emulator"))
        let byCID = try parse(manifestJSON(type: "data", entrypoint: "a",
                                           extra: #","viewer":"bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y""#))
        guard case .cid = byCID.viewer else { Issue.record("viewer should be a CID"); return }
    }

    @Test func unknownFieldsAreRefusedAtEveryLevelByPath() {
        #expect(message(manifestJSON(extra: #","dependencies":[]"#))?.contains("capsule.json: dependencies: unknown field") == true)
        #expect(message(manifestJSON(extra: #","limits":{"memory":64}"#))?.contains("limits.memory: unknown field") == true)
        let cap = #","capabilities":[{"resource":"elastos://did/*","actions":["read"],"reason":"x","why":"y"}]"#
        #expect(message(manifestJSON(extra: cap))?.contains("capabilities[0].why: unknown field") == true)
    }

    @Test func mistypedFieldsAreRefusedByPath() {
        #expect(message(manifestJSON(extra: #","limits":{"memory_mb":"64"}"#)) == "capsule.json: limits.memory_mb: must be an integer, found a string")
        #expect(message(manifestJSON(extra: #","limits":{"memory_mb":true}"#)) == "capsule.json: limits.memory_mb: must be an integer, found a boolean")
        #expect(message(manifestJSON(extra: #","limits":{"cpu_ms":1.5}"#))?.contains("limits.cpu_ms: must be an integer, found a non-integer number") == true)
        #expect(message(manifestJSON(extra: #","limits":{"wall_ms":0}"#))?.contains("limits.wall_ms: 0 is outside 1…86400000") == true)
        #expect(message(manifestJSON(extra: #","limits":{"memory_mb":5000}"#))?.contains("limits.memory_mb") == true)
        #expect(message(manifestJSON(extra: #","limits":[]"#)) == "capsule.json: limits: must be an object, found an array")
        #expect(message(manifestJSON(extra: #","capabilities":{}"#)) == "capsule.json: capabilities: must be an array, found an object")
        #expect(message(manifestJSON(extra: #","capabilities":["elastos://did/*"]"#)) == "capsule.json: capabilities[0]: must be an object, found a string")
        #expect(message(#"{"schema":"elastos.capsule/v1","name":5}"#) == "capsule.json: name: must be a string, found a number")
        #expect(message("[1]") == "capsule.json: (top level): must be an object, found an array")
    }

    @Test func aBadActionIsNamedWithItsIndex() {
        let caps = #","capabilities":[{"resource":"elastos://did/*","actions":["read"],"reason":"a"},"#
            + #"{"resource":"elastos://peer/*","actions":["fly"],"reason":"b"}]"#
        let m = message(manifestJSON(extra: caps))
        #expect(m?.hasPrefix("capsule.json: capabilities[1].actions[0]: unknown action 'fly'") == true, "\(m ?? "parsed")")
        let twice = #","capabilities":[{"resource":"elastos://did/*","actions":["read","read"],"reason":"a"}]"#
        #expect(message(manifestJSON(extra: twice))?.contains("capabilities[0].actions[1]: 'read' is listed twice") == true)
        let none = #","capabilities":[{"resource":"elastos://did/*","actions":[],"reason":"a"}]"#
        #expect(message(manifestJSON(extra: none))?.contains("capabilities[0].actions: must list at least one action") == true)
        let upper = #","capabilities":[{"resource":"elastos://did/*","actions":["Read"],"reason":"a"}]"#
        #expect(message(manifestJSON(extra: upper))?.contains("unknown action 'Read'") == true)
        let noReason = #","capabilities":[{"resource":"elastos://did/*","actions":["read"],"reason":"  "}]"#
        #expect(message(manifestJSON(extra: noReason))?.contains("capabilities[0].reason: must say why") == true)
        let missingReason = #","capabilities":[{"resource":"elastos://did/*","actions":["read"]}]"#
        #expect(message(manifestJSON(extra: missingReason)) == "capsule.json: capabilities[0].reason: required field is missing")
        let badURI = #","capabilities":[{"resource":"http://x/../..","actions":["read"],"reason":"a"}]"#
        #expect(message(manifestJSON(extra: badURI))?.contains("capabilities[0].resource:") == true)
        let nonCanonical = #","capabilities":[{"resource":"LOCALHOST://storage/a/","actions":["read"],"reason":"a"}]"#
        #expect(message(manifestJSON(extra: nonCanonical))?.contains("not in canonical form: write \"localhost://storage/a\"") == true)
    }

    @Test func entrypointsMustStayInsideTheCapsule() {
        for (path, expected) in [("../evil.wasm", "'..' is not allowed"), ("a/../../b", "'..' is not allowed"),
                                 ("/bin/sh", "not absolute"), ("a\\\\b", "not '\\\\'"), ("a//b", "empty name"),
                                 ("./a", "'.'"), ("a/", "empty name"), ("", "must not be empty")] {
            let m = message(manifestJSON(entrypoint: path))
            #expect(m?.hasPrefix("capsule.json: entrypoint: ") == true, "\(path): \(m ?? "parsed")")
            #expect(m?.contains(expected.replacingOccurrences(of: "\\\\", with: "\\")) == true, "\(path): \(m ?? "parsed")")
        }
        #expect(message(manifestJSON(entrypoint: "a..b.wasm")) == nil)  // '..' inside a name is fine
        #expect(message(manifestJSON(entrypoint: "bin/app.wasm")) == nil)
    }

    @Test func dataCapsulesNeedAViewerAndOnlyThey() {
        #expect(message(manifestJSON(type: "data", entrypoint: "index.md")) == "capsule.json: viewer: required field is missing")
        #expect(message(manifestJSON(extra: #","viewer":"md-viewer""#))?.contains("viewer: only data capsules have a viewer (this one is type wasm)") == true)
        #expect(message(manifestJSON(type: "data", entrypoint: "a", extra: #","viewer":"../x""#))?.contains("viewer: must be a capsule name or a capsule CID") == true)
        #expect(message(manifestJSON(type: "data", entrypoint: "a",
                                     extra: #","viewer":"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku""#))?.contains("not a dag-pb") == true)
    }

    @Test func schemaNameVersionTypeAndRoleAreChecked() {
        #expect(message(#"{"name":"a"}"#) == "capsule.json: schema: required field is missing")
        #expect(message(#"{"schema":"elastos.capsule/v99"}"#)?.contains("unsupported schema \"elastos.capsule/v99\"") == true)
        for bad in ["", "Hello", "-x", "a_b", "a b", String(repeating: "a", count: 65), "é"] {
            #expect(message(manifestJSON(name: bad))?.hasPrefix("capsule.json: name: ") == true, "\(bad)")
        }
        #expect(message(manifestJSON(name: String(repeating: "a", count: 64))) == nil)
        for bad in ["1", "1.0", "01.0.0", "1.0.0-", "1.0.0-01", "1.0.0+", "v1.0.0", "1.0.0.0", "1.a.0"] {
            let text = manifestJSON().replacingOccurrences(of: "\"1.0.0\"", with: "\"\(bad)\"")
            #expect(message(text)?.hasPrefix("capsule.json: version: ") == true, "\(bad)")
        }
        for good in ["0.0.0", "10.20.30", "1.0.0-rc.1", "1.0.0-0.3.7", "1.0.0+20130313144700", "1.0.0-beta+exp.sha.5114f85"] {
            #expect(message(manifestJSON().replacingOccurrences(of: "\"1.0.0\"", with: "\"\(good)\"")) == nil, "\(good)")
        }
        #expect(message(manifestJSON(type: "oci"))?.contains("type: unknown type \"oci\"") == true)
        #expect(message(manifestJSON().replacingOccurrences(of: "\"app\"", with: "\"daemon\""))?.contains("role: unknown role") == true)
    }

    @Test func notJSONDuplicateKeysAndOversizeAreRefused() {
        #expect(message(#"{"schema":"elastos.capsule/v1","name":"a","name":"b"}"#)?.contains("duplicate key \"name\"") == true)
        #expect(message(manifestJSON() + "x")?.contains("not valid JSON") == true)
        #expect(message("{\"schema\":\"elastos.capsule/v1\",\"name\":\"\u{1}\"}")?.contains("control character") == true)
        #expect(message(#"{"a":01}"#)?.contains("leading zeros") == true)
        #expect(message(#"{"a":"\ud800"}"#)?.contains("surrogate") == true)
        #expect(message(String(repeating: "[", count: 40) + String(repeating: "]", count: 40))?.contains("nested deeper") == true)
        var invalidUTF8 = Array(#"{"schema":"elastos.capsule/v1","description":""#.utf8)
        invalidUTF8 += [0xC0, 0xAF, 0x22, 0x7D]
        #expect {
            try CapsuleManifest(json: invalidUTF8)
        } throws: { ($0 as? ManifestError)?.description.contains("invalid UTF-8") == true }
        let big = manifestJSON(extra: ",\"description\":\"" + String(repeating: "x", count: 70_000) + "\"")
        #expect(message(big) == "capsule.json is \(big.utf8.count) bytes; the limit is 65536")
    }

    @Test func canonicalJSONFillsInDefaultsAndParsesBack() throws {
        let m = try parse(manifestJSON(extra: #","capabilities":[{"resource":"elastos://did/*","actions":["read"],"reason":"q\"uote"}]"#))
        let again = try parse(m.canonicalJSON)
        #expect(again == m)
        #expect(m.canonicalJSON.contains(#""limits":{"memory_mb":64,"cpu_ms":60000,"wall_ms":600000}"#))
    }
}
