// capsule.json, schema "elastos.capsule/v1" (docs/CAPSULES.md has the full table).
//
// The schema is strict at every level: an unknown key, a value of the wrong JSON type, a
// duplicate key or a value out of range is refused with the path of the field
// (`capabilities[1].actions[0]: unknown action 'fly'`). The file is parsed by StrictJSON, so
// `true` is never read as 1 and `"a": 1, "a": 2` is refused rather than resolved.

public import ElastosCore

/// Why a capsule.json was refused. Every case names the field.
public enum ManifestError: Error, Equatable, Sendable, CustomStringConvertible {
    case tooLarge(size: Int, limit: Int)
    /// Not JSON at all (or invalid UTF-8, a duplicate key, trailing bytes…).
    case notJSON(String)
    case unsupportedSchema(String)
    case missingField(path: String)
    case unknownField(path: String)
    case wrongType(path: String, expected: String, found: String)
    case invalidValue(path: String, reason: String)

    public var description: String {
        switch self {
        case .tooLarge(let size, let limit):
            return "capsule.json is \(size) bytes; the limit is \(limit)"
        case .notJSON(let reason):
            return "capsule.json is not valid JSON: \(reason)"
        case .unsupportedSchema(let found):
            return "capsule.json: schema: unsupported schema \(StrictJSON.quote(found)), expected \"\(CapsuleManifest.schema)\""
        case .missingField(let path):
            return "capsule.json: \(path): required field is missing"
        case .unknownField(let path):
            return "capsule.json: \(path): unknown field (check the spelling; see docs/CAPSULES.md)"
        case .wrongType(let path, let expected, let found):
            return "capsule.json: \(path): must be \(expected), found \(found)"
        case .invalidValue(let path, let reason):
            return "capsule.json: \(path): \(reason)"
        }
    }
}

/// A capsule's manifest, validated.
public struct CapsuleManifest: Sendable, Equatable {
    /// The only schema this version reads.
    public static let schema = "elastos.capsule/v1"
    /// The file name, at the capsule's root.
    public static let fileName = "capsule.json"
    /// The largest capsule.json read.
    public static let maxSize = 64 * 1024
    /// Most capabilities one capsule may ask for.
    public static let maxCapabilities = 64

    /// How the capsule runs (`type`).
    public enum Kind: String, Sendable, CaseIterable {
        case wasm, microvm, native, data
    }

    /// What the capsule is for (`role`).
    public enum Role: String, Sendable, CaseIterable {
        case app, provider, shell, agent, viewer
    }

    /// One capability the capsule asks for. Asking grants nothing: the shell or the user decides.
    public struct Capability: Sendable, Equatable {
        public let resource: ResourcePattern
        /// In the order written; no duplicates.
        public let actions: [Action]
        /// Why the capsule needs it, shown to the person deciding.
        public let reason: String
    }

    /// Resource limits (`limits`); every field has a default.
    public struct Limits: Sendable, Equatable {
        public static let defaultMemoryMB = 64
        public static let memoryMBRange: ClosedRange<Int64> = 1...4096
        public static let defaultCPUMillis: Int64 = 60_000
        public static let defaultWallMillis: Int64 = 600_000
        public static let timeRange: ClosedRange<Int64> = 1...86_400_000
        public static let fuelRange: ClosedRange<Int64> = 1...9_007_199_254_740_991  // 2^53 - 1

        /// Linear memory (wasm) or guest RAM (microVM) cap, in MiB.
        public var memoryMB: Int = defaultMemoryMB
        /// CPU time cap.
        public var cpuMillis: Int64 = defaultCPUMillis
        /// Wall-clock cap.
        public var wallMillis: Int64 = defaultWallMillis
        /// Explicit wasm fuel budget; nil lets the substrate derive it from ``cpuMillis``.
        public var maxFuel: Int64?

        public init() {}
    }

    /// The viewer a data capsule opens with.
    public enum Viewer: Sendable, Equatable, CustomStringConvertible {
        case name(String)
        case cid(CID)

        public var description: String {
            switch self {
            case .name(let n): n
            case .cid(let c): c.description
            }
        }
    }

    public let name: String
    public let version: String
    public let type: Kind
    public let role: Role
    public let description: String?
    /// A relative path inside the capsule: the module (wasm), image (microvm), executable
    /// (native) or content entry (data).
    public let entrypoint: String
    public let capabilities: [Capability]
    public let limits: Limits
    /// Only for `type: data`, where it is required.
    public let viewer: Viewer?

    /// Parses and validates capsule.json.
    public init(json bytes: [UInt8]) throws(ManifestError) {
        guard bytes.count <= Self.maxSize else { throw .tooLarge(size: bytes.count, limit: Self.maxSize) }
        let root: JSONValue
        do { root = try StrictJSON.parse(bytes) } catch { throw .notJSON(error.description) }
        let top = try FieldReader(root, path: "")
        let schema = try top.string("schema", required: true)
        guard schema == Self.schema else { throw .unsupportedSchema(schema ?? "") }
        try top.refuseUnknown(["schema", "name", "version", "type", "role", "description", "entrypoint",
                               "capabilities", "limits", "viewer"])

        name = try Self.validName(try top.string("name", required: true) ?? "", path: "name")
        version = try Self.validVersion(try top.string("version", required: true) ?? "")

        let typeText = try top.string("type", required: true) ?? ""
        guard let type = Kind(rawValue: typeText) else {
            throw .invalidValue(path: "type", reason: "unknown type \(StrictJSON.quote(typeText)) (expected wasm, microvm, native or data)")
        }
        self.type = type
        let roleText = try top.string("role", required: true) ?? ""
        guard let role = Role(rawValue: roleText) else {
            throw .invalidValue(path: "role", reason: "unknown role \(StrictJSON.quote(roleText)) (expected app, provider, shell, agent or viewer)")
        }
        self.role = role

        if let d = try top.string("description", required: false) {
            guard d.utf8.count <= 1024 else { throw .invalidValue(path: "description", reason: "longer than 1024 bytes") }
            guard !d.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" || $0.value == 0x7F }) else {
                throw .invalidValue(path: "description", reason: "contains control characters")
            }
            description = d
        } else {
            description = nil
        }

        entrypoint = try Self.validRelativePath(try top.string("entrypoint", required: true) ?? "", path: "entrypoint")
        capabilities = try Self.capabilities(top.value("capabilities"))
        limits = try Self.limits(top.value("limits"))

        let viewerText = try top.string("viewer", required: false)
        switch (type, viewerText) {
        case (.data, nil):
            throw .missingField(path: "viewer")
        case (.data, let text?):
            if let cid = try? CID(string: text) {
                guard cid.codec == .dagPB else {
                    throw .invalidValue(path: "viewer", reason: "CID \(text) is not a dag-pb capsule directory")
                }
                viewer = .cid(cid)
            } else {
                do { viewer = .name(try Self.validName(text, path: "viewer")) } catch {
                    throw .invalidValue(path: "viewer", reason: "must be a capsule name or a capsule CID, found \(StrictJSON.quote(text))")
                }
            }
        case (_, nil):
            viewer = nil
        case (_, .some):
            throw .invalidValue(path: "viewer", reason: "only data capsules have a viewer (this one is type \(type.rawValue))")
        }
    }

    // MARK: Field rules

    /// 1–64 of `[a-z0-9-]`, not starting with `-`.
    static func validName(_ text: String, path: String) throws(ManifestError) -> String {
        let bytes = Array(text.utf8)
        guard (1...64).contains(bytes.count) else {
            throw .invalidValue(path: path, reason: "must be 1 to 64 characters long")
        }
        guard bytes.allSatisfy({ isLowerAlnum($0) || $0 == UInt8(ascii: "-") }) else {
            throw .invalidValue(path: path, reason: "\(StrictJSON.quote(text)) may only use a-z, 0-9 and '-'")
        }
        guard bytes[0] != UInt8(ascii: "-") else {
            throw .invalidValue(path: path, reason: "must not start with '-'")
        }
        return text
    }

    /// Whether `text` is a valid capsule name.
    public static func isValidName(_ text: String) -> Bool {
        (try? validName(text, path: "name")) != nil
    }

    private static func isLowerAlnum(_ b: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b)
    }

    /// Semantic-versioning shape: `MAJOR.MINOR.PATCH`, optional `-prerelease` and `+build`
    /// (dot-separated `[0-9A-Za-z-]` identifiers), numbers without leading zeros, ≤ 64 bytes.
    static func validVersion(_ text: String) throws(ManifestError) -> String {
        let bad = ManifestError.invalidValue(
            path: "version", reason: "\(StrictJSON.quote(text)) is not a version like 1.2.3, 1.2.3-beta.1 or 1.2.3+build.5")
        guard (5...64).contains(text.utf8.count) else { throw bad }
        var rest = Substring(text)
        var build: Substring?
        if let plus = rest.firstIndex(of: "+") {
            build = rest[rest.index(after: plus)...]
            rest = rest[..<plus]
        }
        var pre: Substring?
        if let dash = rest.firstIndex(of: "-") {
            pre = rest[rest.index(after: dash)...]
            rest = rest[..<dash]
        }
        let core = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard core.count == 3, core.allSatisfy(isNumericIdentifier) else { throw bad }
        for part in [pre, build].compactMap({ $0 }) {
            let ids = part.split(separator: ".", omittingEmptySubsequences: false)
            guard ids.allSatisfy({ id in
                !id.isEmpty && id.utf8.allSatisfy { isAlnumASCII($0) || $0 == UInt8(ascii: "-") }
            }) else { throw bad }
        }
        if let pre {
            // Numeric prerelease identifiers have no leading zeros either.
            for id in pre.split(separator: ".") where id.utf8.allSatisfy(isDigitASCII) {
                guard isNumericIdentifier(id) else { throw bad }
            }
        }
        return text
    }

    private static func isNumericIdentifier(_ s: Substring) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy(isDigitASCII) && (s == "0" || s.first != "0")
    }

    private static func isDigitASCII(_ b: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) }
    private static func isAlnumASCII(_ b: UInt8) -> Bool {
        isDigitASCII(b) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b)
    }

    /// A relative path of valid entry names separated by single `/`: no `..`, no `.`, no empty
    /// segment, no leading `/`, no `\`, at most 1024 bytes.
    static func validRelativePath(_ text: String, path: String) throws(ManifestError) -> String {
        guard !text.isEmpty else { throw .invalidValue(path: path, reason: "must not be empty") }
        guard text.utf8.count <= 1024 else { throw .invalidValue(path: path, reason: "longer than 1024 bytes") }
        guard !text.hasPrefix("/") else {
            throw .invalidValue(path: path, reason: "must be a path relative to the capsule root, not absolute")
        }
        guard !text.contains("\\") else { throw .invalidValue(path: path, reason: "must use '/' as separator, not '\\'") }
        for segment in text.split(separator: "/", omittingEmptySubsequences: false) {
            if segment == ".." {
                throw .invalidValue(path: path, reason: "must stay inside the capsule: '..' is not allowed")
            }
            if let problem = UnixFSImporter.nameProblem(String(segment)) {
                throw .invalidValue(path: path, reason: "\(StrictJSON.quote(text)) is not a clean relative path: \(problem)")
            }
        }
        return text
    }

    private static func capabilities(_ value: JSONValue?) throws(ManifestError) -> [Capability] {
        guard let value else { return [] }
        guard case .array(let items) = value else {
            throw .wrongType(path: "capabilities", expected: "an array", found: value.typeName)
        }
        guard items.count <= maxCapabilities else {
            throw .invalidValue(path: "capabilities", reason: "more than \(maxCapabilities) entries")
        }
        var out: [Capability] = []
        for (i, item) in items.enumerated() {
            let path = "capabilities[\(i)]"
            let fields = try FieldReader(item, path: path)
            try fields.refuseUnknown(["resource", "actions", "reason"])
            let resourceText = try fields.string("resource", required: true) ?? ""
            let resource: ResourcePattern
            do { resource = try ResourcePattern(resourceText) } catch {
                throw .invalidValue(path: path + ".resource", reason: error.description)
            }
            guard resource.text == resourceText else {
                throw .invalidValue(path: path + ".resource", reason: "not in canonical form: write \(StrictJSON.quote(resource.text))")
            }
            guard let actionsValue = fields.value("actions") else { throw .missingField(path: path + ".actions") }
            guard case .array(let actionItems) = actionsValue else {
                throw .wrongType(path: path + ".actions", expected: "an array of action names", found: actionsValue.typeName)
            }
            guard !actionItems.isEmpty else { throw .invalidValue(path: path + ".actions", reason: "must list at least one action") }
            var actions: [Action] = []
            for (j, a) in actionItems.enumerated() {
                let apath = "\(path).actions[\(j)]"
                guard case .string(let name) = a else { throw .wrongType(path: apath, expected: "a string", found: a.typeName) }
                guard let action = Action(rawValue: name) else {
                    throw .invalidValue(path: apath, reason: "unknown action \(StrictJSON.quote(name).replacingQuotes) (expected read, write, execute, message, delete or admin)")
                }
                guard !actions.contains(action) else { throw .invalidValue(path: apath, reason: "'\(name)' is listed twice") }
                actions.append(action)
            }
            let reason = try fields.string("reason", required: true) ?? ""
            guard reason.contains(where: { !$0.isWhitespace }) else {
                throw .invalidValue(path: path + ".reason", reason: "must say why the capsule needs this")
            }
            guard reason.utf8.count <= 512 else { throw .invalidValue(path: path + ".reason", reason: "longer than 512 bytes") }
            guard !reason.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw .invalidValue(path: path + ".reason", reason: "contains control characters")
            }
            out.append(Capability(resource: resource, actions: actions, reason: reason))
        }
        return out
    }

    private static func limits(_ value: JSONValue?) throws(ManifestError) -> Limits {
        var limits = Limits()
        guard let value else { return limits }
        let fields = try FieldReader(value, path: "limits")
        try fields.refuseUnknown(["memory_mb", "cpu_ms", "wall_ms", "max_fuel"])
        if let m = try fields.integer("memory_mb", in: Limits.memoryMBRange) { limits.memoryMB = Int(m) }
        if let c = try fields.integer("cpu_ms", in: Limits.timeRange) { limits.cpuMillis = c }
        if let w = try fields.integer("wall_ms", in: Limits.timeRange) { limits.wallMillis = w }
        limits.maxFuel = try fields.integer("max_fuel", in: Limits.fuelRange)
        return limits
    }

    // MARK: Output

    /// The manifest as canonical JSON with every default filled in (for `inspect --json`).
    public var canonicalJSON: String {
        var fields: [(String, String)] = [
            ("schema", StrictJSON.quote(Self.schema)), ("name", StrictJSON.quote(name)),
            ("version", StrictJSON.quote(version)), ("type", StrictJSON.quote(type.rawValue)),
            ("role", StrictJSON.quote(role.rawValue)),
        ]
        if let description { fields.append(("description", StrictJSON.quote(description))) }
        fields.append(("entrypoint", StrictJSON.quote(entrypoint)))
        let caps = capabilities.map { c in
            "{\"resource\":\(StrictJSON.quote(c.resource.text)),\"actions\":["
                + c.actions.map { StrictJSON.quote($0.rawValue) }.joined(separator: ",")
                + "],\"reason\":\(StrictJSON.quote(c.reason))}"
        }
        fields.append(("capabilities", "[" + caps.joined(separator: ",") + "]"))
        var limitFields = "{\"memory_mb\":\(limits.memoryMB),\"cpu_ms\":\(limits.cpuMillis),\"wall_ms\":\(limits.wallMillis)"
        if let fuel = limits.maxFuel { limitFields += ",\"max_fuel\":\(fuel)" }
        fields.append(("limits", limitFields + "}"))
        if let viewer { fields.append(("viewer", StrictJSON.quote(viewer.description))) }
        return "{" + fields.map { "\(StrictJSON.quote($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }
}

private extension String {
    /// `"fly"` → `'fly'`, for messages that quote a user's value.
    var replacingQuotes: String {
        guard hasPrefix("\""), hasSuffix("\""), count >= 2 else { return self }
        return "'" + dropFirst().dropLast() + "'"
    }
}

/// Reads an object's fields by name, tracking which were looked at.
struct FieldReader {
    let path: String
    let members: [(key: String, value: JSONValue)]

    init(_ value: JSONValue, path: String) throws(ManifestError) {
        guard case .object(let members) = value else {
            throw .wrongType(path: path.isEmpty ? "(top level)" : path, expected: "an object", found: value.typeName)
        }
        self.path = path
        self.members = members
    }

    func fieldPath(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    func refuseUnknown(_ known: Set<String>) throws(ManifestError) {
        // Byte comparison: Swift's String == would let a canonically equivalent key through.
        for (key, _) in members where !known.contains(where: { $0.utf8.elementsEqual(key.utf8) }) {
            throw .unknownField(path: fieldPath(key))
        }
    }

    func value(_ key: String) -> JSONValue? {
        members.first { $0.key.utf8.elementsEqual(key.utf8) }?.value
    }

    func string(_ key: String, required: Bool) throws(ManifestError) -> String? {
        guard let v = value(key) else {
            if required { throw .missingField(path: fieldPath(key)) }
            return nil
        }
        guard case .string(let s) = v else { throw .wrongType(path: fieldPath(key), expected: "a string", found: v.typeName) }
        return s
    }

    func integer(_ key: String, in range: ClosedRange<Int64>) throws(ManifestError) -> Int64? {
        guard let v = value(key) else { return nil }
        guard case .number = v, let n = v.integer else {
            throw .wrongType(path: fieldPath(key), expected: "an integer", found: v.typeName == "a number" ? "a non-integer number" : v.typeName)
        }
        guard range.contains(n) else {
            throw .invalidValue(path: fieldPath(key), reason: "\(n) is outside \(range.lowerBound)…\(range.upperBound)")
        }
        return n
    }
}
