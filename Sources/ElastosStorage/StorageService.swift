public import CapsuleWire
public import ElastosCore

/// What a storage request comes to: the reply body, or a stable error code and a message.
public enum StorageReply: Sendable, Equatable {
    case ok([UInt8])
    case failed(code: CapsuleErrorCode, message: String)
}

/// The `localhost://storage/` request forms over an ``EncryptedStore``, for calls that already
/// passed the capability checks — which namespace and paths a caller may touch is decided by
/// its token, not here. Shared by the runtime's in-process provider and the storage provider
/// capsule, so both answer byte for byte the same.
///
/// Request forms (URI `localhost://storage/apps/<capsule>/<path>`):
///
/// | action | body | does | reply |
/// |---|---|---|---|
/// | read | empty | a file's content, or a directory's listing | bytes / listing JSON |
/// | read | `stat` | metadata | `{"kind":…,"size":N,"version":N}` |
/// | read | `list` | a directory's listing | `[{"name":…,"kind":…,"size":N,"version":N},…]` |
/// | write | `put\n` ‖ content | replace (or create) the file | stat JSON |
/// | write | `append\n` ‖ content | append (create if missing) | stat JSON |
/// | write | `mkdir` or `mkdir\n` | create the directory (and parents) | stat JSON |
/// | delete | empty | delete a file or an empty directory | empty |
public struct StorageService: Sendable {
    public let store: EncryptedStore

    public init(store: EncryptedStore) { self.store = store }

    public func handle(resource: ResourceURI, action: Action, body: [UInt8]) -> StorageReply {
        let address: StorageAddress
        do { address = try Self.address(of: resource) } catch {
            return .failed(code: .invalidRequest, message: error.description)
        }
        do throws(StorageError) {
            switch action {
            case .read:
                switch String(decoding: body, as: UTF8.self) {
                case "":
                    let s = try store.stat(address)
                    return .ok(s.kind == .file ? try store.read(address) : Self.json(try store.list(address)))
                case "stat": return .ok(Self.json(try store.stat(address)))
                case "list": return .ok(Self.json(try store.list(address)))
                default: return .failed(code: .invalidRequest, message: "a storage read's body is empty, 'stat' or 'list'")
                }
            case .write:
                if let content = Self.after(verb: "put", in: body) { return .ok(Self.json(try store.write(content, to: address))) }
                if let content = Self.after(verb: "append", in: body) { return .ok(Self.json(try store.append(content, to: address))) }
                if body.elementsEqual("mkdir".utf8) || body.elementsEqual("mkdir\n".utf8) {
                    return .ok(Self.json(try store.makeDirectory(address)))
                }
                return .failed(code: .invalidRequest, message: "a storage write's body starts with 'put\\n', 'append\\n' or is 'mkdir'")
            case .delete:
                guard body.isEmpty else { return .failed(code: .invalidRequest, message: "a storage delete has an empty body") }
                try store.delete(address)
                return .ok([])
            default:
                return .failed(code: .invalidRequest, message: "storage supports read, write and delete, not \(action)")
            }
        } catch {
            return Self.failure(error)
        }
    }

    /// `localhost://storage/apps/<capsule>/<path>` → namespace and path (segments
    /// percent-decoded; a decoded `/`, `..` or control character is refused).
    public static func address(of resource: ResourceURI) throws(StoragePathError) -> StorageAddress {
        guard resource.scheme == "localhost", resource.authority == "storage" else {
            throw .invalidNamespace("not a localhost://storage/ URI")
        }
        var names: [String] = []
        for segment in resource.segments {
            guard let decoded = StorageAddress.percentDecode(segment) else { throw .invalidNamespace("malformed percent-encoding") }
            guard !decoded.contains("/") else { throw .emptyName }
            names.append(decoded)
        }
        return try StorageAddress(segments: names)
    }

    static func after(verb: String, in body: [UInt8]) -> [UInt8]? {
        let head = Array(verb.utf8) + [0x0A]
        return body.starts(with: head) ? Array(body[head.count...]) : nil
    }

    /// The stable code for each failure; I/O and key problems say nothing about the key.
    static func failure(_ error: StorageError) -> StorageReply {
        let code: CapsuleErrorCode = switch error {
        case .notFound: .notFound
        case .integrity: .integrityFailed
        case .invalidPath, .tooLarge: .invalidRequest
        case .isADirectory, .notADirectory, .directoryNotEmpty, .rootCannotBeDeleted: .conflict
        case .masterKey, .io: .providerFailed
        }
        // File-system details stay with the operator; the capsule learns only that it failed.
        let message = switch error {
        case .masterKey, .io: "storage is unavailable on this node"
        default: error.description
        }
        return .failed(code: code, message: message)
    }

    static func json(_ s: StorageStat) -> [UInt8] {
        Array("{\"kind\":\"\(s.kind)\",\"size\":\(s.size),\"version\":\(s.version)}".utf8)
    }

    static func json(_ listing: [StorageListing]) -> [UInt8] {
        var out = "["
        for (i, e) in listing.enumerated() {
            if i > 0 { out += "," }
            out += "{\"name\":\(quote(e.name)),\"kind\":\"\(e.stat.kind)\",\"size\":\(e.stat.size),\"version\":\(e.stat.version)}"
        }
        return Array((out + "]").utf8)
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20:
                out += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
