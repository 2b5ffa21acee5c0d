import ArgumentParser
import CarrierWire
import ElastosRuntime
import Foundation

/// A control-API request to the running node's Carrier (`elastos node --listen …`).
func carrierRequest(_ home: HomeOption, _ request: [String: Any]) throws -> [String: Any] {
    let reply = try ControlClient.request(try carrierConnection(home), request)
    guard reply["ok"] as? Bool == true else { throw PeerNodeReply.error(reply) }
    return reply
}

/// A control connection to the node running for `home`, or a clear error when there is none.
func carrierConnection(_ home: HomeOption) throws -> UnixConnection {
    guard let conn = ControlClient.connect(home.resolved) else {
        throw CLIError("no node is running for \(home.resolved.path): start one with 'elastos node --listen /ip4/0.0.0.0/tcp/4001'")
    }
    return conn
}

enum PeerNodeReply {
    /// The error a refused control-API reply means to the user.
    static func error(_ reply: [String: Any]) -> CLIError {
        let error = reply["error"] as? String ?? "request failed"
        if error.hasPrefix("unknown op") { return CLIError("the running node has no Carrier (or is older than this elastos): restart it with --listen <multiaddr>") }
        return CLIError(error)
    }
}

struct PeerTicket: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ticket",
        abstract: "Print the running node's ticket: its PeerID and addresses, for another node's --connect.")
    @OptionGroup var home: HomeOption

    func run() throws {
        print(try carrierRequest(home, ["op": "peer.ticket"])["ticket"] as? String ?? "")
    }
}

struct PeerConnect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect",
        abstract: "Connect the running node to a peer, given its ticket or a multiaddr ending in /p2p/<PeerID>.")
    @Argument(help: ArgumentHelp("A ticket (elastos…) or a multiaddr.", valueName: "ticket")) var target: String
    @OptionGroup var home: HomeOption

    func run() throws {
        if target.hasPrefix(Ticket.prefix) {
            do { _ = try Ticket(parsing: target) } catch { throw CLIError("\(error)") }
        }
        let reply = try carrierRequest(home, ["op": "peer.connect", "target": target])
        print("connected to \(reply["peer"] as? String ?? "?") at \(reply["address"] as? String ?? "?")")
    }
}

struct PeerPeers: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peers",
        abstract: "List the peers the running node is connected to.")
    @Flag(help: "One JSON object per peer.") var json = false
    @OptionGroup var home: HomeOption

    func run() throws {
        let peers = try carrierRequest(home, ["op": "peer.peers"])["peers"] as? [[String: Any]] ?? []
        for p in peers {
            if json {
                print(ControlServer.jsonLine(p))
            } else {
                let direction = (p["outbound"] as? Bool ?? false) ? "out" : "in "
                print("\(p["peer"] as? String ?? "?")  \(direction)  \(p["address"] as? String ?? "")  \(p["agent"] as? String ?? "")")
            }
        }
    }
}

struct PeerReserve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reserve",
        abstract: "Reserve a slot for the running node on a Circuit Relay v2 relay, renewed until the node stops.",
        discussion: """
            Like 'elastos node --relay', without a restart. The relay's signed voucher is checked; \
            peers connected now learn the new circuit address by identify push.
            """)
    @Argument(help: ArgumentHelp("The relay's multiaddr, ending in /p2p/<PeerID>.", valueName: "relay")) var relay: String
    @OptionGroup var home: HomeOption

    func run() throws {
        let reply = try carrierRequest(home, ["op": "peer.reserve", "relay": relay])
        print("reserved on \(reply["relay"] as? String ?? "?"): reachable at \(reply["circuit_address"] as? String ?? "?")")
    }
}
