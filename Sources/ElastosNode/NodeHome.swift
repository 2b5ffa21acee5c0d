import Foundation

/// The node's home directory: keys, capability state and audit log live under it.
///
/// Resolved from `--home`, else `$ELASTOS_HOME`, else `$XDG_DATA_HOME/elastos`, else
/// `~/.local/share/elastos`. Created with mode 0700.
public struct NodeHome: Sendable, Equatable {
    public let path: String

    public init(path: String) { self.path = (path as NSString).standardizingPath }

    /// The home chosen by the environment (see the type's documentation).
    public static func resolve(explicit: String? = nil, environment: [String: String]? = nil) -> NodeHome {
        let environment = environment ?? ProcessInfo.processInfo.environment
        if let explicit, !explicit.isEmpty { return NodeHome(path: absolute(explicit)) }
        if let h = environment["ELASTOS_HOME"], !h.isEmpty { return NodeHome(path: absolute(h)) }
        if let x = environment["XDG_DATA_HOME"], x.hasPrefix("/") { return NodeHome(path: x + "/elastos") }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return NodeHome(path: home + "/.local/share/elastos")
    }

    private static func absolute(_ p: String) -> String {
        p.hasPrefix("/") ? p : FileManager.default.currentDirectoryPath + "/" + p
    }

    public var identityDirectory: String { path + "/identity" }
    public var keyFile: String { identityDirectory + "/node.key" }
    public var capabilityDirectory: String { path + "/capabilities" }
    public var ledgerFile: String { capabilityDirectory + "/ledger.journal" }
    public var auditDirectory: String { path + "/audit" }

    /// Creates the home and its subdirectories (0700) if missing.
    public func prepare() throws(FileError) {
        for d in [path, identityDirectory, capabilityDirectory, auditDirectory] { try FileIO.makeDirectory(d) }
    }
}
