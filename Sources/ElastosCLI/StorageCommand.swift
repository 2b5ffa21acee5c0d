#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import ElastosNode
import ElastosStorage
import Foundation

/// `elastos storage`: the operator's view of the encrypted store in the node home.
struct StorageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage",
        abstract: "Read and change the encrypted storage behind localhost://storage/ (docs/STORAGE.md).",
        discussion: """
            An offline operator tool: it opens <home>/storage directly with the node's storage \
            master key, taking the same per-namespace locks a running node takes, so it is safe \
            beside one. Addresses are URIs (localhost://storage/apps/<capsule>/<path>) or bare \
            paths (apps/<capsule>/<path>). Content is never taken from the command line.
            """,
        subcommands: [StorageList.self, StorageGet.self, StoragePut.self, StorageRemove.self]
    )
}

/// The address argument shared by the subcommands.
struct StorageTarget: ParsableArguments {
    @Argument(help: ArgumentHelp("localhost://storage/apps/<capsule>/<path>, or apps/<capsule>/<path>.", valueName: "uri-or-path"))
    var target: String

    @OptionGroup var home: HomeOption

    var address: StorageAddress {
        get throws {
            do { return try StorageAddress(parsing: target) } catch { throw CLIError("\(target): \(error)") }
        }
    }

    func openStore() throws -> EncryptedStore {
        do { return try EncryptedStore(home: home.resolved) } catch { throw CLIError(error.description) }
    }

    /// Runs one store operation, turning its typed error into one line.
    func step<R>(_ body: () throws(StorageError) -> R) throws -> R {
        do { return try body() } catch { throw CLIError("\(target): \(error)") }
    }
}

struct StorageList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List a directory's direct children: size, version and name (directories end in '/').",
        discussion: "The namespace root is apps/<capsule>. On a file, prints that file's line."
    )

    @OptionGroup var target: StorageTarget

    func run() throws {
        let store = try target.openStore()
        let address = try target.address
        let s = try target.step { () throws(StorageError) in try store.stat(address) }
        var entries = [StorageListing(name: address.path.lastName ?? "", stat: s)]
        if s.kind == .directory { entries = try target.step { () throws(StorageError) in try store.list(address) } }
        for e in entries {
            let size: String = e.stat.kind == .file ? String(e.stat.size) : "-"
            let padding = String(repeating: " ", count: max(0, 12 - size.count))
            let suffix = e.stat.kind == .directory ? "/" : ""
            print("\(padding)\(size)  v\(e.stat.version)  \(e.name)\(suffix)")
        }
    }
}

struct StorageGet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Write a file's decrypted content to stdout, or to --out.",
        discussion: "An integrity failure (tampered, swapped, truncated or rolled-back file) prints an error and no content."
    )

    @OptionGroup var target: StorageTarget
    @Option(name: .long, help: ArgumentHelp("Write to this file (mode 0600, atomically) instead of stdout.", valueName: "file"))
    var out: String?

    func run() throws {
        let store = try target.openStore()
        let address = try target.address
        let content = try target.step { () throws(StorageError) in try store.read(address) }
        if let out {
            do { try FileIO.writeAtomically(content, to: out, mode: 0o600) } catch { throw CLIError(error.description) }
        } else {
            do { try FileIO.writeAll(1, content, path: "stdout") } catch { throw CLIError(error.description) }
        }
    }
}

struct StoragePut: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put",
        abstract: "Store stdin (or --file) as a file, replacing it; missing directories are created.",
        discussion: "The new content becomes visible all at once: a crash leaves the old or the new content, never a mix."
    )

    @OptionGroup var target: StorageTarget
    @Option(name: .long, help: ArgumentHelp("Read the content from this file instead of stdin.", valueName: "file"))
    var file: String?

    func run() throws {
        let address = try target.address
        let store = try target.openStore()
        let content: [UInt8]
        if let file {
            do {
                guard let bytes = try FileIO.read(file, limit: EncryptedStore.maxObjectSize) else { throw CLIError("\(file) does not exist") }
                content = bytes
            } catch let e as FileError { throw CLIError(e.description) }
        } else {
            content = try Self.readStandardInput(limit: EncryptedStore.maxObjectSize)
        }
        let s = try target.step { () throws(StorageError) in try store.write(content, to: address) }
        print("stored \(s.size) bytes at \(address) (version \(s.version))")
    }

    static func readStandardInput(limit: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw CLIError("cannot read stdin: \(String(cString: strerror(errno)))") }
            if n == 0 { return out }
            out.append(contentsOf: buffer[0..<n])
            if out.count > limit { throw CLIError("stdin is over the \(limit)-byte object limit") }
        }
    }
}

struct StorageRemove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Delete a file or an empty directory."
    )

    @OptionGroup var target: StorageTarget

    func run() throws {
        let store = try target.openStore()
        let address = try target.address
        try target.step { () throws(StorageError) in try store.delete(address) }
        print("removed \(address)")
    }
}
