import ArgumentParser
import ElastosCore
import ElastosNode
import ElastosRuntime
import Foundation

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a capsule: a directory, a package file, or an installed capsule's name or CID.",
        discussion: """
            The capsule's stdin, stdout and stderr are this terminal (or the pipes you give it). \
            If 'elastos node' is running for this home the capsule runs inside it (and shows in \
            'ps'); otherwise a node starts in this process for as long as the capsule runs. \
            Nothing is granted by default: with --allow-declared, capabilities the manifest \
            declares are granted on request to capsules signed by a trusted publisher or this node. \
            The exit status is the capsule's.
            """
    )

    @OptionGroup var home: HomeOption
    @Flag(help: "Sign a capsule directory with this node's key and run it (development).")
    var dev = false
    @Flag(name: .customLong("allow-declared"), help: "Grant on request what the manifest declares (trusted or node-signed capsules only).")
    var allowDeclared = false
    @Argument(help: "Capsule directory, package file, installed name or CID.") var target: String
    @Argument(parsing: .remaining, help: "Arguments for the capsule.") var args: [String] = []

    func run() throws {
        if let conn = Self.connectToNode(home.resolved) {
            let reply = try ControlClient.request(conn, ["op": "run", "target": Assembly.absolute(target), "args": args,
                                                         "allow_declared": allowDeclared, "dev": dev], fds: [0, 1, 2])
            guard reply["ok"] as? Bool == true else { throw CLIError(reply["error"] as? String ?? "run failed") }
            if reply["trust"] as? String == "untrusted" {
                FileHandle.standardError.write(Data("warning: this capsule's publisher is not trusted; nothing will be granted to it\n".utf8))
            }
            let end = try ControlClient.readReply(conn)
            if let e = end["error"] as? String { FileHandle.standardError.write(Data("elastos: \(e)\n".utf8)) }
            throw ExitCode(Int32(end["code"] as? Int ?? 1))
        }
        let runtime = try Assembly.runtime(home: home)
        defer { try? runtime.node.close() }
        let capsule: LaunchableCapsule
        do { capsule = try Assembly.resolver(runtime: runtime).resolve(Assembly.absolute(target), dev: dev) } catch {
            throw CLIError("\(error)")
        }
        if capsule.trust == .untrusted {
            FileHandle.standardError.write(Data("warning: \(capsule.name) is signed by \(capsule.publisher), who is not on your trust list; nothing will be granted to it\n".utf8))
        }
        let session: Session
        let policy = ShellPolicy.forLaunch(of: capsule, node: runtime.node, allowDeclared: allowDeclared,
                                           terminalInput: 0, terminalOutput: isatty(2) == 1 ? 2 : 1)
        do { session = try runtime.launch(capsule, args: args, stdio: .inherited, policy: policy) } catch {
            throw CLIError(error.description)
        }
        let state = runtime.wait(session.id)
        if case .failed(let why) = state { FileHandle.standardError.write(Data("elastos: \(capsule.name) failed: \(why)\n".utf8)) }
        if case .stopped(let why) = state { FileHandle.standardError.write(Data("elastos: \(capsule.name) stopped: \(why)\n".utf8)) }
        try? runtime.node.close()
        throw ExitCode(ControlServer.exitCode(state))
    }
}

extension RunCommand {
    /// The running node's control connection, if one runs for this home. A node that holds the
    /// home but has not opened its socket yet (it is starting) is waited for, up to 30 s, rather
    /// than failing on the home's lock by running in-process.
    static func connectToNode(_ home: NodeHome) -> UnixConnection? {
        if let conn = ControlClient.connect(home) { return conn }
        let lock = home.ledgerFile + ".lock"
        guard FileManager.default.fileExists(atPath: lock) else { return nil }
        for _ in 0..<300 {
            if let fd = try? FileIO.lockExclusively(lock) {  // nobody holds the home: run in-process
                close(fd)
                return ControlClient.connect(home)
            }
            if let conn = ControlClient.connect(home) { return conn }
            usleep(100_000)
        }
        return nil
    }
}
