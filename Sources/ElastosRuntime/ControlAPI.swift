#if canImport(Glibc)
import Glibc
#endif
import ElastosCore
public import ElastosNode
import Foundation

/// More control-API ops, answered on the connection's thread: one JSON object in, one out.
public protocol ControlExtension: Sendable {
    var ops: Set<String> { get }
    func handle(op: String, request: [String: Any]) -> [String: Any]
    /// Ops that keep the connection open and send many lines (a subscription): `stream` owns the
    /// connection's thread until it returns, then the connection is closed.
    var streamingOps: Set<String> { get }
    func stream(op: String, request: [String: Any], connection: UnixConnection)
}

extension ControlExtension {
    public var streamingOps: Set<String> { [] }
    public func stream(op: String, request: [String: Any], connection: UnixConnection) {
        try? connection.sendLine(ControlServer.jsonLine(["ok": false, "error": "unknown op \(op)"]))
    }
}

/// Turns what a user typed after `elastos run` (a directory, a package file or an installed
/// CID/name) into a verified, unpacked capsule.
public protocol CapsuleResolver: Sendable {
    /// `dev`: a capsule directory may be signed with the node key (`--dev`).
    func resolve(_ target: String, dev: Bool) throws -> LaunchableCapsule
}

/// The local control API: one JSON object per line over `<home>/control.sock` (mode 0600, and
/// the peer's uid must be the node's). Requests (docs/RUNTIME.md):
///   {"op":"status"}                   → {"ok":true,"did":…,"pid":…,"sessions":N}
///   {"op":"ps"}                       → {"ok":true,"sessions":[{id,capsule,version,cid,trust,substrate,state,started}]}
///   {"op":"stop","id":…}              → {"ok":true} | {"ok":false,"error":…}
///   {"op":"grants"}                   → {"ok":true,"grants":[{id,holder,resource,actions,issued,expiry?,max_uses?}]}
///   {"op":"revoke","id":…}            → {"ok":true} | {"ok":false,"error":…}
///   {"op":"run","target":…,"args":[…],"allow_declared":bool,"dev":bool} with the client's stdin, stdout
///   and stderr attached (SCM_RIGHTS) → {"ok":true,"session":…} then, when it ends,
///   {"ok":true,"ended":…,"code":N}. If the client goes away the session is stopped.
public final class ControlServer: Sendable {
    public let runtime: RuntimeNode
    public let resolver: any CapsuleResolver
    public let listener: UnixListener
    /// Ops served by parts of the node the runtime does not know (Carrier's `peer.*`).
    public let extensions: [any ControlExtension]

    public static func socketPath(_ home: NodeHome) -> String { home.path + "/control.sock" }

    public init(runtime: RuntimeNode, resolver: any CapsuleResolver, extensions: [any ControlExtension] = []) throws(SocketError) {
        self.runtime = runtime
        self.resolver = resolver
        self.extensions = extensions
        listener = try UnixListener(path: Self.socketPath(runtime.node.home))
    }

    /// Accepts connections until `close()`; each is served on its own thread.
    public func serve() {
        while let conn = listener.accept() {
            let t = Thread { [self] in handle(conn) }
            t.start()
        }
    }

    public func close() { listener.close() }

    /// The largest request line (a `run` carries the capsule's arguments).
    static let requestLimit = 1 << 20

    private func handle(_ conn: UnixConnection) {
        defer { conn.close() }
        guard conn.peerUID() == geteuid() else {
            try? conn.sendLine(Self.json(["ok": false, "error": "control socket is for the node's own user only"]))
            return
        }
        let request: (line: String, fds: [Int32])?
        do { request = try conn.readLine(limit: Self.requestLimit) } catch {
            // Say why rather than leave the client waiting for an answer.
            try? conn.sendLine(Self.json(["ok": false, "error": "request refused: over \(Self.requestLimit >> 10) KiB (\(error))"]))
            return
        }
        guard let (line, fds) = request else { return }
        defer { for d in fds { Glibc.close(d) } }
        guard let data = line.data(using: .utf8), let req = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let op = req["op"] as? String
        else {
            try? conn.sendLine(Self.json(["ok": false, "error": "malformed request: one JSON object with an \"op\" per line"]))
            return
        }
        if let ext = extensions.first(where: { $0.streamingOps.contains(op) }) {
            ext.stream(op: op, request: req, connection: conn)
            return
        }
        if let ext = extensions.first(where: { $0.ops.contains(op) }) {
            try? conn.sendLine(Self.json(ext.handle(op: op, request: req)))
            return
        }
        switch op {
        case "status":
            try? conn.sendLine(Self.json(["ok": true, "did": runtime.node.did.description, "pid": Int(getpid()),
                                          "sessions": runtime.sessions.all.count]))
        case "ps":
            let list: [[String: Any]] = runtime.sessions.all.map { e in
                ["id": e.session.id, "capsule": e.session.capsule, "version": e.session.version, "cid": e.session.cid,
                 "trust": e.session.trust.rawValue, "substrate": e.session.substrate, "mode": runtime.mode(of: e.session.id) ?? "", "state": e.state.description,
                 "started": Int(e.session.startedAt)]
            }
            try? conn.sendLine(Self.json(["ok": true, "sessions": list]))
        case "stop":
            let id = req["id"] as? String ?? ""
            let ok = runtime.stop(id, reason: "stopped by operator")
            try? conn.sendLine(Self.json(ok ? ["ok": true] : ["ok": false, "error": "no running session \(id)"]))
        case "run":
            run(req, fds: fds, conn: conn)
        case "grants":
            let list: [[String: Any]] = runtime.node.liveGrants().map(Self.grantJSON)
            try? conn.sendLine(Self.json(["ok": true, "grants": list]))
        case "revoke":
            guard let id = (req["id"] as? String).flatMap(TokenID.init(hex:)) else {
                try? conn.sendLine(Self.json(["ok": false, "error": "revoke needs a token id (32 hex digits)"]))
                return
            }
            let expiry = runtime.node.grants.all.first { $0.id == id }?.expiry
            do {
                try runtime.node.revoke(id, expiry: expiry, reason: "revoked by the operator ('elastos grants --revoke')")
                try? conn.sendLine(Self.json(["ok": true]))
            } catch {
                try? conn.sendLine(Self.json(["ok": false, "error": "cannot revoke: \(error)"]))
            }
        default:
            try? conn.sendLine(Self.json(["ok": false, "error": "unknown op \(op)"]))
        }
    }

    private func run(_ req: [String: Any], fds: [Int32], conn: UnixConnection) {
        guard fds.count == 3 else {
            try? conn.sendLine(Self.json(["ok": false, "error": "run needs the client's stdin, stdout and stderr attached"]))
            return
        }
        let target = req["target"] as? String ?? ""
        let args = req["args"] as? [String] ?? []
        let allow = req["allow_declared"] as? Bool ?? false
        let dev = req["dev"] as? Bool ?? false
        do {
            let capsule = try resolver.resolve(target, dev: dev)
            let session = try runtime.launch(capsule, args: args, stdio: StdioDescriptors(input: fds[0], output: fds[1], error: fds[2]),
                                             policy: runtime.policy(forLaunch: capsule, allowDeclared: allow,
                                                                    terminalInput: fds[0], terminalOutput: isatty(fds[2]) == 1 ? fds[2] : fds[1]))
            try? conn.sendLine(Self.json(["ok": true, "session": session.id, "trust": capsule.trust.rawValue]))
            // A client that goes away (Ctrl-C) takes its session with it.
            let watcher = Thread { [runtime] in
                while (try? conn.readLine()) != nil {}
                runtime.stop(session.id, reason: "the client disconnected")
            }
            watcher.start()
            let state = runtime.wait(session.id)
            var end: [String: Any] = ["ok": true, "ended": state.description, "code": Int(Self.exitCode(state))]
            if case .failed(let why) = state { end["error"] = why }
            try? conn.sendLine(Self.json(end))
        } catch {
            try? conn.sendLine(Self.json(["ok": false, "error": "\(error)"]))
        }
    }

    /// The exit status a CLI reports for a session's end.
    public static func exitCode(_ state: SessionState) -> Int32 {
        switch state {
        case .exited(let c): c
        case .running: 0
        case .failed, .stopped: 1
        }
    }

    /// A grant as the control API and `elastos grants --json` show it.
    public static func grantJSON(_ g: GrantRecord) -> [String: Any] {
        var o: [String: Any] = ["id": g.id.description, "holder": g.holder, "resource": g.resource, "actions": g.actions,
                                "issued": Int(g.issuedAt)]
        if let e = g.expiry { o["expiry"] = Int(e) }
        if let u = g.maxUses { o["max_uses"] = Int(u) }
        return o
    }

    /// One JSON object on one line, keys sorted.
    public static func jsonLine(_ object: [String: Any]) -> String { json(object) }

    static func json(_ object: [String: Any]) -> String {
        guard let d = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return "{}" }
        return String(decoding: d, as: UTF8.self)
    }
}

/// The CLI side of the control API.
public enum ControlClient {
    /// Connects to a running node, or returns nil if none is listening.
    public static func connect(_ home: NodeHome) -> UnixConnection? {
        try? UnixConnection.connect(path: ControlServer.socketPath(home))
    }

    /// Sends one request and reads one reply.
    public static func request(_ conn: UnixConnection, _ object: [String: Any], fds: [Int32] = []) throws -> [String: Any] {
        do { try conn.sendLine(ControlServer.json(object), fds: fds) } catch {
            // The node may refuse a request before it has all of it (over the size limit) and
            // close: its reply says why, so read it before reporting the failed send.
            if let reply = try? readReply(conn) { return reply }
            throw error
        }
        return try readReply(conn)
    }

    public static func readReply(_ conn: UnixConnection) throws -> [String: Any] {
        guard let (line, _) = try conn.readLine() else { throw LaunchError("the node closed the control connection") }
        guard let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw LaunchError("the node sent a malformed reply")
        }
        return obj
    }
}
