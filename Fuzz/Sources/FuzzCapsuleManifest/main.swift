// libFuzzer target: capsule.json (CapsuleManifest(json:), StrictJSON underneath, canonicalJSON).
//
// Each input is tried two ways:
//  1. raw: `CapsuleManifest(json: input)`;
//  2. field: the first byte picks a field of a valid manifest, and the rest of the input, as
//     lossy UTF-8, becomes that field's value: JSON-quoted (with every escape the grammar has,
//     or with only the required ones) for the string fields, spliced in unquoted for the numbers
//     and for the `capabilities`/`limits` values. If the manifest is accepted, the field holds
//     exactly that text (as bytes), the number exactly that integer, written canonically.
// Whenever a manifest is accepted:
//  * it satisfies the schema's rules as docs/CAPSULES.md states them (name 1–64 of [a-z0-9-] not
//    starting with '-', a 5–64-byte version, a relative entrypoint without '..', '\' or empty
//    segments, description ≤ 1024 and reasons ≤ 512 bytes without control characters, ≤ 64
//    capabilities with non-empty duplicate-free actions and canonical resources, limits in
//    range, a viewer exactly for data capsules, a viewer CID only for a dag-pb directory);
//  * its canonicalJSON parses back to an equal manifest (compared field by field as bytes, not
//    with Swift's canonically-equivalent String ==), and writes the same canonicalJSON again.
//    (canonicalJSON fills in defaults and writes DEL as \u007f, so near the 64 KiB limit it can
//    outgrow what the reader accepts; then `tooLarge` is the one answer allowed.)
// Every error's description is rendered (it quotes parts of the input).

import ElastosCapsule
import ElastosCore
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCapsuleManifest(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = fuzzBytes(start, count)

    // 1. Raw.
    if let m = parse(input, input: input) { checkAccepted(m, input: input) }

    // 2. One field from the input.
    if let selector = input.first {
        let text = lossyText(input.dropFirst())
        let field = Field.allCases[Int(selector) % Field.allCases.count]
        let json = field.manifest(text, escapeAll: selector & 0x80 != 0)
        if let m = parse(json, input: input) {
            checkAccepted(m, input: input)
            if let problem = field.check(m, text) {
                propertyFailed("field \(field) = \(text.debugDescription) accepted, but \(problem)\nmanifest: \(lossyText(json))", input: input)
            }
        }
    }
    return 0
}

func parse(_ bytes: [UInt8], input: [UInt8]) -> CapsuleManifest? {
    do throws(ManifestError) {
        return try CapsuleManifest(json: bytes)
    } catch {
        _ = error.description
        if bytes.count > CapsuleManifest.maxSize {
            expect(error == .tooLarge(size: bytes.count, limit: CapsuleManifest.maxSize), "a \(bytes.count)-byte manifest fails with \(error)", input: input)
        }
        return nil
    }
}

// MARK: - Accepted manifests

func checkAccepted(_ m: CapsuleManifest, input: [UInt8]) {
    if let problem = ruleBroken(m) { propertyFailed("accepted manifest breaks a rule: \(problem)\n\(m.canonicalJSON)", input: input) }

    let canonical = Array(m.canonicalJSON.utf8)
    do throws(ManifestError) {
        let back = try CapsuleManifest(json: canonical)
        expect(back == m && sameBytes(back, m), "canonicalJSON parses to another manifest:\n\(m.canonicalJSON)\n\(back.canonicalJSON)", input: input)
        expect(Array(back.canonicalJSON.utf8) == canonical, "canonicalJSON is not a fixpoint:\n\(m.canonicalJSON)\n\(back.canonicalJSON)", input: input)
    } catch {
        if case .tooLarge = error, canonical.count > CapsuleManifest.maxSize { return }
        propertyFailed("canonicalJSON of an accepted manifest is refused (\(error)):\n\(m.canonicalJSON)", input: input)
    }
}

/// Field by field, strings as bytes.
func sameBytes(_ a: CapsuleManifest, _ b: CapsuleManifest) -> Bool {
    func eq(_ x: String?, _ y: String?) -> Bool {
        switch (x, y) {
        case (nil, nil): true
        case (let x?, let y?): x.utf8.elementsEqual(y.utf8)
        default: false
        }
    }
    return eq(a.name, b.name) && eq(a.version, b.version) && a.type == b.type && a.role == b.role
        && eq(a.description, b.description) && eq(a.entrypoint, b.entrypoint) && a.limits == b.limits
        && a.capabilities.count == b.capabilities.count
        && zip(a.capabilities, b.capabilities).allSatisfy {
            eq($0.resource.text, $1.resource.text) && $0.actions == $1.actions && eq($0.reason, $1.reason)
        }
        && eq(a.viewer?.description, b.viewer?.description) && a.viewer == b.viewer
}

func hasControl(_ s: String, allowNewline: Bool) -> Bool {
    s.unicodeScalars.contains { ($0.value < 0x20 && !(allowNewline && $0 == "\n")) || $0.value == 0x7F }
}

func ruleBroken(_ m: CapsuleManifest) -> String? {
    let name = Array(m.name.utf8)
    if !(1...64).contains(name.count) || name[0] == UInt8(ascii: "-")
        || !name.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == UInt8(ascii: "-") }) {
        return "name \(m.name.debugDescription)"
    }
    if !CapsuleManifest.isValidName(m.name) { return "isValidName(\(m.name.debugDescription)) is false" }
    if !(5...64).contains(m.version.utf8.count) || m.version.split(separator: "+", maxSplits: 1, omittingEmptySubsequences: false)[0]
        .split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)[0]
        .split(separator: ".", omittingEmptySubsequences: false).count != 3 {
        return "version \(m.version.debugDescription)"
    }
    let e = m.entrypoint
    if e.isEmpty || e.utf8.count > 1024 || e.hasPrefix("/") || e.utf8.contains(UInt8(ascii: "\\")) || e.utf8.contains(0)
        || e.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0.isEmpty || $0 == "." || $0 == ".." || $0.utf8.count > 255 }) {
        return "entrypoint \(e.debugDescription)"
    }
    if let d = m.description, d.utf8.count > 1024 || hasControl(d, allowNewline: true) { return "description \(d.debugDescription)" }
    if m.capabilities.count > CapsuleManifest.maxCapabilities { return "\(m.capabilities.count) capabilities" }
    for (i, c) in m.capabilities.enumerated() {
        if c.actions.isEmpty || Set(c.actions).count != c.actions.count { return "capabilities[\(i)].actions \(c.actions)" }
        if c.reason.utf8.count > 512 || hasControl(c.reason, allowNewline: false) || c.reason.allSatisfy(\.isWhitespace) {
            return "capabilities[\(i)].reason \(c.reason.debugDescription)"
        }
        guard let again = try? ResourcePattern(c.resource.text), again.text.utf8.elementsEqual(c.resource.text.utf8) else {
            return "capabilities[\(i)].resource \(c.resource.text.debugDescription) is not canonical"
        }
    }
    let l = m.limits
    if !CapsuleManifest.Limits.memoryMBRange.contains(Int64(l.memoryMB)) || !CapsuleManifest.Limits.timeRange.contains(l.cpuMillis)
        || !CapsuleManifest.Limits.timeRange.contains(l.wallMillis) || l.maxFuel.map({ !CapsuleManifest.Limits.fuelRange.contains($0) }) == true {
        return "limits \(l)"
    }
    switch (m.type, m.viewer) {
    case (.data, nil): return "a data capsule without a viewer"
    case (.data, .name(let n)?): if !CapsuleManifest.isValidName(n) { return "viewer name \(n.debugDescription)" }
    case (.data, .cid(let c)?): if c.codec != .dagPB { return "viewer CID \(c) is not dag-pb" }
    case (_, nil): break
    case (_, .some): return "a \(m.type) capsule with a viewer"
    }
    return nil
}

// MARK: - One field from the input

/// `s` as a JSON string: the required escapes only (quote, backslash, controls), or, with
/// `escapeAll`, every non-ASCII scalar as \u escapes (surrogate pairs above U+FFFF) and the
/// short escapes where they exist.
func jsonString(_ s: String, escapeAll: Bool) -> String {
    func u(_ v: UInt32) -> String {
        let h = String(v, radix: 16, uppercase: v & 1 == 0)  // both cases of hex digits
        return "\\u" + String(repeating: "0", count: 4 - h.count) + h
    }
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "/" where escapeAll: out += "\\/"
        case "\n" where escapeAll: out += "\\n"
        case "\t" where escapeAll: out += "\\t"
        case "\r" where escapeAll: out += "\\r"
        case "\u{08}" where escapeAll: out += "\\b"
        case "\u{0C}" where escapeAll: out += "\\f"
        default:
            if scalar.value < 0x20 {
                out += u(scalar.value)
            } else if escapeAll && scalar.value > 0x7E {
                if scalar.value > 0xFFFF {
                    let v = scalar.value - 0x10000
                    out += u(0xD800 + (v >> 10)) + u(0xDC00 + (v & 0x3FF))
                } else {
                    out += u(scalar.value)
                }
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

enum Field: CaseIterable {
    case name, version, description, entrypoint, viewer, resource, reason, action
    case memoryMB, maxFuel, type, role, capabilitiesValue, limitsValue

    func manifest(_ text: String, escapeAll: Bool) -> [UInt8] {
        let q = jsonString(text, escapeAll: escapeAll)
        var fields: [(String, String)] = [
            ("schema", "\"elastos.capsule/v1\""), ("name", "\"fuzz\""), ("version", "\"1.0.0\""),
            ("type", self == .viewer ? "\"data\"" : "\"wasm\""), ("role", "\"app\""), ("entrypoint", "\"main.wasm\""),
        ]
        func set(_ key: String, _ value: String) {
            if let i = fields.firstIndex(where: { $0.0 == key }) { fields[i].1 = value } else { fields.append((key, value)) }
        }
        func capability(resource: String = "\"localhost://storage/apps/fuzz/*\"", actions: String = "[\"read\"]",
                        reason: String = "\"fuzzing\"") -> String {
            "[{\"resource\":\(resource),\"actions\":\(actions),\"reason\":\(reason)}]"
        }
        switch self {
        case .name: set("name", q)
        case .version: set("version", q)
        case .description: set("description", q)
        case .entrypoint: set("entrypoint", q)
        case .viewer: set("viewer", q)
        case .resource: set("capabilities", capability(resource: q))
        case .reason: set("capabilities", capability(reason: q))
        case .action: set("capabilities", capability(actions: "[\"write\",\(q)]"))
        case .memoryMB: set("limits", "{\"memory_mb\":\(text)}")
        case .maxFuel: set("limits", "{\"cpu_ms\":1000,\"max_fuel\":\(text)}")
        case .type: set("type", q)
        case .role: set("role", q)
        case .capabilitiesValue: set("capabilities", text)
        case .limitsValue: set("limits", text)
        }
        return Array(("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}").utf8)
    }

    /// Nil if the accepted manifest holds `text` where it was put.
    func check(_ m: CapsuleManifest, _ text: String) -> String? {
        func same(_ a: String, _ what: String) -> String? {
            a.utf8.elementsEqual(text.utf8) ? nil : "\(what) is \(a.debugDescription)"
        }
        // A spliced number is checked only when the text is one number token (it could also
        // close the object and add fields).
        let trimmed = String(decoding: Array(text.utf8).drop(while: isJSONSpace).reversed().drop(while: isJSONSpace).reversed(), as: UTF8.self)
        let oneNumber = !trimmed.isEmpty && trimmed.utf8.allSatisfy { Array("-+.eE0123456789".utf8).contains($0) }
        switch self {
        case .name: return same(m.name, "name")
        case .version: return same(m.version, "version")
        case .description: return m.description.flatMap { same($0, "description") } ?? (m.description == nil ? "description is missing" : nil)
        case .entrypoint: return same(m.entrypoint, "entrypoint")
        case .viewer:
            switch m.viewer {
            case .name(let n)?: return same(n, "viewer")
            case .cid(let c)?: return (try? CID(string: text)) == c ? nil : "viewer CID \(c) is not what the text names"
            case nil: return "viewer is missing"
            }
        case .resource: return m.capabilities.first.flatMap { same($0.resource.text, "resource") }
        case .reason: return m.capabilities.first.flatMap { same($0.reason, "reason") }
        case .action:
            guard let a = Action(rawValue: text) else { return "\(text.debugDescription) is not an action name" }
            return m.capabilities.first?.actions == [.write, a] ? nil : "actions are \(m.capabilities.first.map { "\($0.actions)" } ?? "missing")"
        case .memoryMB: return !oneNumber || String(m.limits.memoryMB) == trimmed ? nil : "memory_mb is \(m.limits.memoryMB)"
        case .maxFuel: return !oneNumber || m.limits.maxFuel.map(String.init) == trimmed ? nil : "max_fuel is \(String(describing: m.limits.maxFuel))"
        case .type: return same(m.type.rawValue, "type")
        case .role: return same(m.role.rawValue, "role")
        case .capabilitiesValue, .limitsValue: return nil
        }
    }
}

func isJSONSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
