// Carrier against a real py-libp2p 0.8.1 peer, both directions (Tests/interop/libp2p_peer.py):
// `elastos peer ping` dials py (Noise + Yamux, identify, ping), and py dials `elastos peer
// listen` (ping, identify, a 300 kB echo that needs window updates). Everything runs in a new
// network namespace with only loopback, bounded by `timeout`.

import Foundation
import Testing

@Suite struct CarrierInteropTests {
    @Test func pyLibp2pAndCarrierConnectPingAndIdentifyBothWays() throws {
        let py = InteropTests.python
        try #require(FileManager.default.isExecutableFile(atPath: py),
                     "no interop venv at \(py): run scripts/test.sh, which creates it from Tests/interop/requirements.txt")
        let check = try CLI.exec(py, ["-c", "import libp2p, trio"])
        try #require(check.status == 0, "the venv at \(py) has no py-libp2p: \(py) -m pip install -r Tests/interop/requirements.txt")
        let home = TempDir()
        let script = CLI.packageRoot.appendingPathComponent("Tests/interop/libp2p_peer.py").path
        let quoted = [py, script, CLI.binary, home.path].map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let namespace = getuid() == 0 ? ["--net"] : ["--map-root-user", "--net"]
        let r = try CLI.exec("/usr/bin/timeout", ["180", "unshare"] + namespace + ["sh", "-c", "ip link set lo up && exec " + quoted])
        #expect(r.status == 0, "libp2p_peer.py failed (status \(r.status)):\n\(r.stdout)\n\(r.stderr)")
        let summary = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        #expect(summary.hasSuffix(" passed, 0 failed"), "\(r.stdout)\n\(r.stderr)")
        // The script makes 16 checks; fewer would mean a step was skipped.
        #expect(summary.hasPrefix("16 passed"), "\(summary)")
    }
}
