import ArgumentParser
import Dispatch
import CarrierWire
import ElastosCarrier
import ElastosPeer
import ElastosCore
import ElastosNode
import ElastosRuntime
import Foundation

struct NodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run this node in the foreground: capsules, sessions and the local control API.",
        discussion: """
            Listens on <home>/control.sock (mode 0600, this user only) for 'elastos run', 'ps' and \
            'stop'. Ctrl-C or SIGTERM stops every capsule, signs a final audit checkpoint and exits.
            """
    )

    @OptionGroup var home: HomeOption

    @Option(name: .customLong("storage-provider"), help: ArgumentHelp(
        "Serve localhost://storage/ from this storage provider capsule (a package, an installed name or CID, or with --dev a directory). Default: the installed capsule named \(Assembly.storageProviderName), if there is one.",
        valueName: "capsule"))
    var storageProvider: String?

    @Flag(help: "Sign a --storage-provider or --shell directory with this node's key (development).")
    var dev = false

    @Option(help: ArgumentHelp(
        "Decide capability requests with this shell capsule (role shell; a package, an installed name or CID, or with --dev a directory). Default: the installed capsule named \(Assembly.shellName), if there is one.",
        valueName: "capsule"))
    var shell: String?

    @Flag(name: .customLong("in-process-shell"), help: "Decide capability requests in the node's own process, not in a shell capsule.")
    var inProcessShell = false

    @Option(name: .customLong("listen"), help: ArgumentHelp(
        "Run Carrier, this node's libp2p peer, listening on this multiaddr (repeatable; port 0 picks a free port; /ip4/0.0.0.0/tcp/4001 accepts peers from the network). Without it the node has no peer-to-peer side.",
        valueName: "multiaddr"))
    var listen: [String] = []

    @Option(name: .customLong("connect"), help: ArgumentHelp("With --listen: connect at start to this peer (a ticket or a multiaddr; repeatable).", valueName: "ticket"))
    var connect: [String] = []

    @Flag(name: .customLong("relay-service"), help: ArgumentHelp(
        "With --listen: relay for other peers (Circuit Relay v2 hop: reservations and circuits, each circuit limited to 2 min and 128 KiB per direction)."))
    var relayService = false

    @Option(name: .customLong("relay"), help: ArgumentHelp(
        "With --listen: reserve a slot on this Circuit Relay v2 relay (…/p2p/<relay>; repeatable), renewed before it expires, so peers can reach this node through it; the first goes into the ticket.",
        valueName: "multiaddr"))
    var relay: [String] = []

    @Option(name: .customLong("bootstrap"), help: ArgumentHelp(
        "With --listen: join the DHT through this peer (a multiaddr ending in /p2p/<id>; repeatable). Also read, one per line, from <home>/bootstrap.",
        valueName: "multiaddr"))
    var bootstrap: [String] = []

    @Flag(name: .customLong("no-mdns"), help: "With --listen: do not announce or look for peers on the local link with mDNS.")
    var noMDNS = false

    @Flag(name: .customLong("no-rendezvous"), help: "With --listen: do not meet the other subscribers of a topic through the DHT.")
    var noRendezvous = false

    @Flag(name: .customLong("in-process-storage"), help: "Serve localhost://storage/ in the node's own process, not from a provider capsule.")
    var inProcessStorage = false

    func run() throws {
        if inProcessStorage && storageProvider != nil { throw ValidationError("--in-process-storage and --storage-provider exclude each other") }
        // An explicit provider must start; the installed default falls back to in-process
        // storage (saying so) when it cannot, e.g. without bubblewrap.
        let target = inProcessStorage ? nil : storageProvider ?? Assembly.installedStorageProvider(home: home)
        let provider = target.map { _ in CapsuleProvider(name: "storage") }
        var runtime = try Assembly.runtime(home: home, storage: provider.map { .capsule($0) } ?? .inProcess)
        var supervisor: ProviderSupervisor?
        if let target, let provider {
            let dev = self.dev
            let launched = ProviderSupervisor(runtime: runtime, provider: provider) { [runtime] in
                try Assembly.startStorageProvider(target, dev: dev, runtime: runtime, provider: provider)
            }
            do {
                let session = try launched.start()
                supervisor = launched
                FileHandle.standardError.write(Data("elastos node: localhost://storage/ served by the \(target) capsule (session \(session.id.prefix(8))), restarted if it ends\n".utf8))
            } catch {
                try? runtime.node.close()
                guard storageProvider == nil else { throw error }
                warn("the installed \(target) capsule cannot start, so storage is served in the node's process: \(error)")
                runtime = try Assembly.runtime(home: home, storage: .inProcess)
            }
        }
        let shellSupervisor = try startShell(runtime)
        let carrier = try startCarrier(runtime)
        let server: ControlServer
        do { server = try ControlServer(runtime: runtime, resolver: Assembly.resolver(runtime: runtime), extensions: carrier.map { [$0] } ?? []) } catch {
            throw CLIError("cannot listen on \(ControlServer.socketPath(home.resolved)): \(error)")
        }
        let stop: @Sendable (Int32) -> Void = { [runtime, supervisor, shellSupervisor] sig in
            supervisor?.shutdown()
            shellSupervisor?.shutdown()
            runtime.stopAll(reason: "node shutting down (signal \(sig))")
            server.close()
        }
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let sources = [SIGINT, SIGTERM].map { sig -> any DispatchSourceSignal in
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { stop(sig) }
            s.resume()
            return s
        }
        runtime.node.audit.record(AuditEvent(event: "node.started", subject: runtime.node.did.description, decision: .info,
                                             reason: "control API at \(server.listener.path), substrates \(Assembly.substrateNames.joined(separator: ", "))"))
        FileHandle.standardError.write(Data("elastos node \(runtime.node.did) listening on \(server.listener.path)\n".utf8))
        // The signal sources must live while the node serves: `_ = sources` after the loop let
        // the optimizer release them early, so a release build ignored Ctrl-C and SIGTERM.
        withExtendedLifetime(sources) { server.serve() }
        if let carrier { try? runBlocking { await carrier.service.stop() } }
        runtime.node.audit.record(AuditEvent(event: "node.stopped", subject: runtime.node.did.description, decision: .info, reason: "shutdown"))
        do { try runtime.node.close() } catch { throw CLIError(error.description) }
    }
}

extension NodeCommand {
    /// Starts Carrier on the --listen addresses, prints the node's ticket, and dials --connect.
    func startCarrier(_ runtime: RuntimeNode) throws -> NodeCarrier? {
        guard !listen.isEmpty else {
            if !connect.isEmpty { throw ValidationError("--connect needs --listen: Carrier runs only when the node listens") }
            if relayService || !relay.isEmpty { throw ValidationError("--relay-service and --relay need --listen: Carrier runs only when the node listens") }
            if !bootstrap.isEmpty { throw ValidationError("--bootstrap needs --listen: Carrier runs only when the node listens") }
            return nil
        }
        let addresses = try listen.map { text in
            do { return try Multiaddr(parsing: text) } catch { throw CLIError("--listen \(text): \(error)") }
        }
        let relays = try relay.map { text in
            do { return try Multiaddr(parsing: text) } catch { throw CLIError("--relay \(text): \(error)") }
        }
        let key = runtime.node.key
        let relayConfig = relayService ? RelayServiceConfig() : nil
        var discovery = PeerService.Discovery()
        discovery.bootstrap = try bootstrapPeers()
        if !noMDNS { discovery.mdns = MDNSConfig() }
        if noRendezvous { discovery.rendezvous = nil }
        let service: PeerService = try runBlocking { [discovery] in
            do { return try await PeerService.start(identity: key, listening: addresses, discovery: discovery, relayService: relayConfig) } catch {
                throw CLIError("cannot listen: \(error)")
            }
        }
        let carrier = service.carrier
        let control = NodeCarrier(service: service)
        if relayService { FileHandle.standardError.write(Data("elastos node: relay service on (\(CircuitRelay.hopProtocolID))\n".utf8)) }
        for address in relays {
            let result = waitForAsync { () -> Result<RelayReservationInfo, CarrierError> in
                do throws(CarrierError) { return .success(try await service.reserve(on: address)) } catch { return .failure(error) }
            }
            switch result {
            case .success(let info):
                let voucher = info.voucher == nil ? "no voucher" : "voucher verified"
                FileHandle.standardError.write(Data("elastos node: reserved on relay \(info.relay), reachable at \(info.circuitAddress)/p2p/\(carrier.peerID) (\(voucher))\n".utf8))
                runtime.node.audit.record(AuditEvent(event: "carrier.relay.reserved", subject: runtime.node.did.description, decision: .info,
                                                     reason: "relay \(info.relay) until \(info.expire)"))
            case .failure(let error):
                warn("--relay \(address): \(error)")
            }
        }
        if let provider = Assembly.peerProvider(runtime) { provider.bind(service) }
        let ticket = control.ticket
        FileHandle.standardError.write(Data(("elastos node: carrier peer \(carrier.peerID) on " + carrier.listenAddrs.map(\.description).joined(separator: " ")
                                             + "\nelastos node: ticket \(ticket)\n").utf8))
        runtime.node.audit.record(AuditEvent(event: "carrier.started", subject: runtime.node.did.description, decision: .info,
                                             reason: "peer \(carrier.peerID) listening on \(carrier.listenAddrs.map(\.description).joined(separator: " "))"))
        let ways = (discovery.bootstrap.isEmpty ? [] : ["DHT through \(discovery.bootstrap.count) bootstrap peer(s)"])
            + (service.rendezvous != nil ? ["rendezvous on joined topics"] : []) + (service.mdns != nil ? ["mDNS"] : [])
        FileHandle.standardError.write(Data("elastos node: discovery: \(ways.isEmpty ? "tickets only" : ways.joined(separator: ", "))\n".utf8))
        for target in connect {
            do {
                let (peer, address) = try control.connect(target)
                FileHandle.standardError.write(Data("elastos node: connected to \(peer) at \(address)\n".utf8))
            } catch {
                warn("--connect \(target.prefix(40))…: \(error)")
            }
        }
        return control
    }

    /// --bootstrap, then the lines of <home>/bootstrap (blank lines and `#` comments skipped);
    /// each must be a multiaddr with /p2p/<id>.
    func bootstrapPeers() throws -> [Multiaddr] {
        let path = home.resolved.path + "/bootstrap"
        let file = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let listed = file.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        var out: [Multiaddr] = []
        for (text, origin) in bootstrap.map({ ($0, "--bootstrap") }) + listed.map({ ($0, path) }) {
            let address: Multiaddr
            do { address = try Multiaddr(parsing: text) } catch { throw CLIError("\(origin) \(text): \(error)") }
            guard address.peer != nil, address.tcpEndpoint != nil else {
                throw CLIError("\(origin) \(text): a bootstrap peer is /ip4|ip6|dns/…/tcp/…/p2p/<id>")
            }
            if !out.contains(address) { out.append(address) }
        }
        return out
    }

    /// Starts the shell capsule (named, or the installed default) under a supervisor and makes
    /// the runtime use it; nil when the node decides in-process.
    func startShell(_ runtime: RuntimeNode) throws -> ProviderSupervisor? {
        if inProcessShell && shell != nil { throw ValidationError("--in-process-shell and --shell exclude each other") }
        guard !inProcessShell, let target = shell ?? Assembly.installedShell(runtime: runtime) else { return nil }
        let provider = CapsuleProvider(name: RuntimeNode.shellProviderName, timeout: .seconds(10))
        let dev = self.dev
        let supervisor = ProviderSupervisor(runtime: runtime, provider: provider) { [runtime] in
            try Assembly.startShell(target, dev: dev, runtime: runtime, shell: provider)
        }
        do {
            let session = try supervisor.start()
            runtime.useShell(provider)
            FileHandle.standardError.write(Data("elastos node: capability requests decided by the \(target) capsule (session \(session.id.prefix(8)))\n".utf8))
            return supervisor
        } catch {
            guard shell == nil else { try? runtime.node.close(); throw error }
            warn("the installed \(target) capsule cannot start, so the node decides capability requests in its own process: \(error)")
            return nil
        }
    }
}

struct PsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ps",
        abstract: "List the capsules running on this node (needs a running 'elastos node')."
    )

    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var home: HomeOption

    func run() throws {
        guard let conn = ControlClient.connect(home.resolved) else {
            throw CLIError("no node is running for \(home.resolved.path) (start one with 'elastos node')")
        }
        let reply = try ControlClient.request(conn, ["op": "ps"])
        let sessions = reply["sessions"] as? [[String: Any]] ?? []
        if json {
            let d = try JSONSerialization.data(withJSONObject: sessions, options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: d, as: UTF8.self))
            return
        }
        print("SESSION   CAPSULE          SUBSTRATE   TRUST      STATE")
        for s in sessions {
            let id = String((s["id"] as? String ?? "").prefix(8))
            let name = "\(s["capsule"] as? String ?? "?") \(s["version"] as? String ?? "")"
            // A substrate with modes shows which one runs the session: microvm/kvm, microvm/tcg.
            let mode = s["mode"] as? String ?? ""
            let substrate = (s["substrate"] as? String ?? "") + (mode.isEmpty ? "" : "/" + mode)
            print("\(id)  \(name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(substrate.padding(toLength: 11, withPad: " ", startingAt: 0)) \((s["trust"] as? String ?? "").padding(toLength: 10, withPad: " ", startingAt: 0)) \(s["state"] as? String ?? "")")
        }
    }
}

struct StopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Stop a running capsule by its session id (or a unique prefix of it, as 'ps' shows)."
    )

    @Argument(help: "Session id or prefix (at least 4 characters).") var id: String
    @OptionGroup var home: HomeOption

    func run() throws {
        guard let conn = ControlClient.connect(home.resolved) else {
            throw CLIError("no node is running for \(home.resolved.path)")
        }
        let reply = try ControlClient.request(conn, ["op": "stop", "id": id])
        guard reply["ok"] as? Bool == true else { throw CLIError(reply["error"] as? String ?? "stop failed") }
        print("stopped \(id)")
    }
}
