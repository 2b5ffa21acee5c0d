import CarrierWire
import ElastosCore
import Testing

@Suite struct TicketTests {
    let peer = Libp2pPeerID(PeerID(publicKey: SigningKey().publicKey))
    let addresses = [try! Multiaddr(parsing: "/ip4/192.0.2.7/tcp/4001"), try! Multiaddr(parsing: "/ip6/2001:db8::1/tcp/4001")]

    @Test func aTicketRoundTripsAndDialsItsPeer() throws {
        let relayPeer = Libp2pPeerID(PeerID(publicKey: SigningKey().publicKey))
        let relay = try Multiaddr(parsing: "/ip4/198.51.100.1/tcp/4001/p2p/\(relayPeer)")
        for t in [Ticket(peer: peer, addresses: addresses), Ticket(peer: peer, addresses: addresses, relay: relay),
                  Ticket(peer: peer, addresses: [], relay: relay)] {
            let text = t.description
            #expect(text.hasPrefix("elastos") && text.allSatisfy { $0.isLowercase || $0.isNumber })
            #expect(try Ticket(parsing: text) == t)
            #expect(try Ticket(parsing: "  " + text.uppercased().replacingOccurrences(of: "ELASTOS", with: "elastos") + "\n") == t)
            #expect(t.dialAddresses.allSatisfy { $0.peer == peer })
        }
        let direct = Ticket(peer: peer, addresses: addresses, relay: relay).dialAddresses
        #expect(direct.map(\.description) == addresses.map { "\($0)/p2p/\(peer)" } + ["\(relay)/p2p-circuit/p2p/\(peer)"])
        #expect(Ticket(peer: peer, addresses: addresses).description.count < 140)  // two addresses: 131 characters
    }

    @Test func damagedTicketsGetClearErrors() {
        let text = Ticket(peer: peer, addresses: addresses).description
        func error(_ s: String) -> TicketError? {
            do { _ = try Ticket(parsing: s); return nil } catch { return error }
        }
        #expect(error("") == .notATicket)
        #expect(error("12D3KooW" + text) == .notATicket)
        #expect(error(text + String(repeating: "a", count: 3000)) == .tooLong(text.count + 3000))
        #expect(error(text.replacingOccurrences(of: "elastos", with: "elastos!")) == .notBase32)
        #expect(error("elastosaa") == .truncated)
        // Every single-character substitution, and every cut, is refused (never a wrong ticket).
        let body = Array(text.dropFirst(7))
        for i in body.indices {
            var changed = body
            changed[i] = changed[i] == "a" ? "b" : "a"
            #expect(error("elastos" + String(changed)) != nil, "substitution at \(i)")
        }
        for n in 0..<body.count { #expect(error("elastos" + String(body.prefix(n))) != nil, "cut at \(n)") }
        // A well-formed ticket of another version, or with no address.
        #expect(error(Self.forged(version: 2, peer: peer, addresses: addresses)) == .unsupportedVersion(2))
        #expect(error(Self.forged(version: 1, peer: peer, addresses: [])) == .noAddresses)
        #expect(error(Self.forged(version: 1, peer: peer, addresses: Array(repeating: addresses[0], count: 17))) == .tooManyAddresses)
        // Random text after the prefix: an error, never a trap.
        for _ in 0..<3000 {
            let junk = String((0..<Int.random(in: 0..<120)).map { _ in "abcdefghijklmnopqrstuvwxyz234567".randomElement()! })
            _ = try? Ticket(parsing: "elastos" + junk)
        }
    }

    /// A ticket with a valid checksum over whatever payload it is given.
    static func forged(version: UInt8, peer: Libp2pPeerID, addresses: [Multiaddr]) -> String {
        var w = ProtobufWriter()
        w.bytes(1, peer.multihash.bytes)
        for a in addresses { w.bytes(2, a.bytes) }
        let payload = [version] + w.bytes
        return "elastos" + Base32.encode(payload + Array(Multihash.sha256(of: payload).digest.prefix(4)))
    }
}
