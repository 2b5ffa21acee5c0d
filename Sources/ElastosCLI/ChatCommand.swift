#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import ElastosNode
import ElastosRuntime
import Foundation

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat in rooms over Carrier with other nodes (the chat capsule, native or WASM).",
        discussion: """
            Attaches to this home's running node, or starts one in the background (with Carrier \
            listening on --listen; its log is <home>/node.log, and it keeps running after chat \
            ends, for the next chat or other capsules). Then runs the installed chat capsule in \
            it on this terminal: it joins the room, prints this node's ticket and waits.

            On another machine, `elastos chat --nick bob --connect <ticket>` connects to this \
            node directly and joins the same room. Without a ticket the node finds the room's \
            members itself: on the local link with mDNS, and through the DHT (given a \
            --bootstrap peer) by meeting at a key derived from the room's topic (docs/CHAT.md). Messages are signed with each node's DID and \
            checked by every receiver (docs/CHAT.md). Typing /help lists the commands.

            On a terminal the chat is full-screen: scrollback (PgUp/PgDn), the rooms and who is \
            in them beside the messages, an input line that stays put, Tab to switch rooms, \
            Ctrl+C to quit. --plain gives plain lines instead; --json one JSON object per line.
            """
    )

    @OptionGroup var home: HomeOption
    @Option(help: "Your name in the room (1 to 32 characters, no spaces).") var nick: String?
    @Option(help: "The room to join first.") var room = "#general"
    @Option(help: ArgumentHelp("Connect to this peer first (a ticket or multiaddr; repeatable).", valueName: "ticket"))
    var connect: [String] = []
    @Flag(help: "One JSON object per output line, for scripts.") var json = false
    @Flag(help: "Plain lines on a terminal (the capsule's own line interface) instead of the full-screen chat.") var plain = false
    @Flag(help: "Run the WASM build of the chat capsule (chat-wasm) instead of the native one.") var wasm = false
    @Option(help: ArgumentHelp("The chat capsule to run: an installed name or CID, or (with --dev) a directory.", valueName: "capsule"))
    var capsule: String?
    @Flag(help: "Sign a --capsule directory with this node's key (development).") var dev = false
    @Option(help: ArgumentHelp("Where a node started by chat listens for peers.", valueName: "multiaddr"))
    var listen = "/ip4/0.0.0.0/tcp/0"
    @Option(help: ArgumentHelp("A node started by chat joins the DHT through this peer (a multiaddr ending in /p2p/<id>; repeatable), to meet the room's other members without a ticket.", valueName: "multiaddr"))
    var bootstrap: [String] = []
    @Flag(name: .customLong("no-mdns"), help: "A node started by chat does not look for peers on the local link with mDNS.")
    var noMDNS = false

    func run() throws {
        let home = self.home.resolved
        let probe: UnixConnection
        if let running = RunCommand.connectToNode(home) {
            if !bootstrap.isEmpty || noMDNS {
                warn("a node already runs for \(home.path), so --bootstrap and --no-mdns do not apply (they are for the node chat starts)")
            }
            probe = running
        } else {
            probe = try startNode(home)
        }
        let ticket = try ControlClient.request(probe, ["op": "peer.ticket"])
        guard ticket["ok"] as? Bool == true else {
            throw CLIError("the running node has no Carrier peer, so it cannot chat: stop it and start it with `elastos node --listen \(listen)` (or let `elastos chat` start it)")
        }
        let name = capsule ?? (wasm ? "chat-wasm" : "chat")
        var args = ["--nick", nick ?? Self.defaultNick(), "--room", room]
        for t in connect { args += ["--connect", t] }
        let fullScreen = !json && !plain && isatty(0) == 1 && isatty(1) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
        if json || fullScreen { args.append("--json") }
        let request: [String: Any] = ["op": "run", "target": Assembly.absolute(name), "args": args, "allow_declared": true, "dev": dev]
        if fullScreen {
            do {
                throw ExitCode(try ChatTerminal(home: home, request: request).run())
            } catch let refused as ChatRunRefused {
                throw explain(refused.reason, name: name)
            }
        }
        // One request per control connection: the run goes on a fresh one.
        guard let conn = ControlClient.connect(home) else { throw CLIError("the node stopped answering on its control socket") }
        let reply = try ControlClient.request(conn, request, fds: [0, 1, 2])
        guard reply["ok"] as? Bool == true else { throw explain(reply["error"] as? String ?? "run failed", name: name) }
        let end = try ControlClient.readReply(conn)
        if let e = end["error"] as? String { FileHandle.standardError.write(Data("elastos: \(e)\n".utf8)) }
        throw ExitCode(Int32(end["code"] as? Int ?? 1))
    }

    /// Why the node would not run the chat capsule, with how to install it when that is why.
    func explain(_ why: String, name: String) -> CLIError {
        if capsule == nil, why.contains("not installed") || why.contains("no capsule") || why.contains("not found") {
            return CLIError("\(why)\nThe \(name) capsule is installed by scripts/install.sh (or: elastos capsule install --dev capsules/\(wasm ? "chat-wasm" : "native/chat"))")
        }
        return CLIError(why)
    }

    /// Sets FD_CLOEXEC on every open descriptor from `first` on (as listed in /proc/self/fd).
    static func markDescriptorsCloseOnExec(from first: Int32) {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in entries.compactMap(Int32.init) where fd >= first {
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    /// $USER, if it is a valid nick, else "anon".
    static func defaultNick() -> String {
        let user = ProcessInfo.processInfo.environment["USER"] ?? ""
        let ok = !user.isEmpty && user.utf8.count <= 32 && user.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7F }
        return ok ? user : "anon"
    }

    /// Starts `elastos node --listen …` for this home in its own session (so closing this
    /// terminal does not end it), logging to <home>/node.log, and waits for its control socket.
    func startNode(_ home: NodeHome) throws -> UnixConnection {
        try FileManager.default.createDirectory(atPath: home.path, withIntermediateDirectories: true)
        let logPath = home.path + "/node.log"
        let log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard log >= 0 else { throw CLIError("cannot open \(logPath): \(String(cString: strerror(errno)))") }
        defer { close(log) }
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { if devNull >= 0 { close(devNull) } }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let argv = [executable, "node", "--home", home.path, "--listen", listen] + bootstrap.flatMap { ["--bootstrap", $0] }
            + (noMDNS ? ["--no-mdns"] : [])
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, devNull, 0)
        posix_spawn_file_actions_adddup2(&actions, log, 1)
        posix_spawn_file_actions_adddup2(&actions, log, 2)
        // Nothing else this process has open goes to the node: it outlives the chat, and a
        // copy of the pipe a script reads the chat's output from would keep that pipe open
        // (posix_spawn_file_actions_addclosefrom_np is not exported to Swift).
        Self.markDescriptorsCloseOnExec(from: 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, 0x80)  // POSIX_SPAWN_SETSID (glibc), not exported to Swift
        var pid: pid_t = 0
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { for a in cArgs { free(a) } }
        let status = posix_spawn(&pid, executable, &actions, &attributes, cArgs, environ)
        guard status == 0 else { throw CLIError("cannot start the node: \(String(cString: strerror(status)))") }
        FileHandle.standardError.write(Data("elastos chat: started the node (pid \(pid), listening on \(listen); log \(logPath))\n".utf8))
        for _ in 0..<600 {
            if let conn = ControlClient.connect(home) { return conn }
            var exitStatus: Int32 = 0
            if waitpid(pid, &exitStatus, WNOHANG) == pid {
                throw CLIError("the node ended at start; see \(logPath)")
            }
            usleep(50_000)
        }
        throw CLIError("the node did not open its control socket within 30 s; see \(logPath)")
    }
}
