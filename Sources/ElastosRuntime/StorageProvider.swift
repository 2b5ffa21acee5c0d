public import ElastosCore
public import ElastosStorage

/// `localhost://storage/` served in the runtime's own process: ``StorageService`` over the
/// node's encrypted store (docs/STORAGE.md). The storage provider capsule
/// (`capsules/native/storage-provider`) serves the same requests with the same code behind
/// ``CapsuleProvider``.
public struct StorageProvider: Provider {
    public static let prefix = "localhost://storage"

    let service: StorageService

    public init(store: EncryptedStore) { service = StorageService(store: store) }

    public var name: String { "storage" }

    // Classification stays the default (public): the declared-capability policy grants at
    // that ceiling, and a capsule's own namespace is reached only through its own token anyway.

    public func handle(_ call: ProviderCall) -> ProviderResult {
        switch service.handle(resource: call.resource, action: call.action, body: call.body) {
        case .ok(let body): .ok(body)
        case .failed(let code, let message): .failed(code: code, message: message)
        }
    }

    /// `localhost://storage/apps/<capsule>/<path>` → namespace and path.
    public static func address(of resource: ResourceURI) throws(StoragePathError) -> StorageAddress {
        try StorageService.address(of: resource)
    }
}
