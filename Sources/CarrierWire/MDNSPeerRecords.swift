// What libp2p's mDNS discovery says in DNS messages
// (https://github.com/libp2p/specs/blob/master/discovery/mdns.md):
//   query    a PTR question for `_p2p._udp.local`;
//   response a PTR answer `_p2p._udp.local` → `<peer-name>._p2p._udp.local`, and for that name one
//            TXT record per address, each `dnsaddr=<multiaddr ending in /p2p/<peer id>>`.
// `<peer-name>` is random (1–63 characters), so the response does not leak the PeerID in a name.
// Beside what the spec asks, the response also carries a DNS-SD SRV record and A/AAAA records
// for `<peer-name>.local`: resolvers built on DNS-SD (python-zeroconf, which py-libp2p uses)
// only complete a service that has them. Readers use only the TXT records, and accept py-libp2p's
// numbered keys (`dnsaddr2=…`) as well as `dnsaddr=`.

/// Builds libp2p mDNS queries and responses and reads the peers out of responses.
public enum MDNSPeerRecords {
    /// `_p2p._udp.local`
    public static let serviceName: DNSName = (try? DNSName("_p2p._udp.local")) ?? { preconditionFailure("constant name") }()
    /// The TXT attribute that carries an address.
    public static let dnsaddrPrefix = Array("dnsaddr=".utf8)
    /// How long receivers may keep our records (seconds).
    public static let ttl: UInt32 = 120

    /// The query: one PTR question for the service name, ID 0, no flags.
    public static func query() -> DNSMessage {
        DNSMessage(questions: [DNSQuestion(name: serviceName, type: DNSRecordType.ptr)])
    }

    /// Whether `message` is a query that asks for libp2p peers (PTR or ANY on the service name).
    public static func asksForPeers(_ message: DNSMessage) -> Bool {
        !message.isResponse && message.questions.contains {
            ($0.type == DNSRecordType.ptr || $0.type == DNSRecordType.any) && $0.name.matches(serviceName)
        }
    }

    /// The response announcing `addresses` (each ending in `/p2p/<peer>`) under `peerName`.
    /// Addresses whose TXT string would exceed 255 bytes are left out.
    public static func response(peerName: [UInt8], addresses: [Multiaddr]) throws(WireError) -> DNSMessage {
        let instance = try DNSName(labels: [peerName] + serviceName.labels)
        let host = try DNSName(labels: [peerName, Array("local".utf8)])
        let strings = addresses.map { dnsaddrPrefix + Array($0.description.utf8) }.filter { $0.count <= 255 }
        var additionals = strings.map { DNSRecord(name: instance, data: .txt([$0]), ttl: ttl) }
        if let port = addresses.lazy.compactMap({ $0.tcpEndpoint?.port }).first {
            // SRV = priority:u16 ‖ weight:u16 ‖ port:u16 ‖ target (uncompressed)
            var srv: [UInt8] = [0, 0, 0, 0, UInt8(port >> 8), UInt8(port & 0xFF)]
            for label in host.labels { srv.append(UInt8(label.count)); srv += label }
            srv.append(0)
            additionals.append(DNSRecord(name: instance, data: .other(type: DNSRecordType.srv, srv), ttl: ttl))
        }
        for address in addresses {
            switch address.components.first {
            case .ip4(let b): additionals.append(DNSRecord(name: host, data: .a(b), ttl: ttl))
            case .ip6(let b): additionals.append(DNSRecord(name: host, data: .aaaa(b), ttl: ttl))
            default: continue
            }
        }
        var seen = Set<DNSRecord>()
        additionals = additionals.filter { seen.insert($0).inserted }
        return DNSMessage(
            flags: DNSMessage.responseFlag | DNSMessage.authoritativeFlag,
            answers: [DNSRecord(name: serviceName, data: .ptr(instance), ttl: ttl)],
            additionals: additionals)
    }

    /// The address text of a TXT string `dnsaddr=<a>` or `dnsaddr<digits>=<a>`.
    static func dnsaddrValue(_ string: [UInt8]) -> [UInt8]? {
        let key = Array("dnsaddr".utf8)
        guard string.starts(with: key), let equals = string.firstIndex(of: 0x3D) else { return nil }
        guard string[key.count..<equals].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Array(string[(equals + 1)...])
    }

    /// The peers a response announces: each `dnsaddr=` TXT string (in any section) under a name
    /// that the response's PTR answers for the service name point to, parsed as a multiaddr that
    /// ends in `/p2p/<peer>`; grouped by peer, in order of appearance. Anything else is ignored.
    public static func peers(in message: DNSMessage) -> [(peer: Libp2pPeerID, addresses: [Multiaddr])] {
        guard message.isResponse else { return [] }
        var instances: [DNSName] = []
        for record in message.records where record.name.matches(serviceName) {
            if case .ptr(let target) = record.data { instances.append(target) }
        }
        var out: [(peer: Libp2pPeerID, addresses: [Multiaddr])] = []
        for record in message.records where instances.contains(where: record.name.matches) {
            guard case .txt(let strings) = record.data else { continue }
            for string in strings {
                guard let value = dnsaddrValue(string), let text = String(validating: value, as: UTF8.self),
                      let address = try? Multiaddr(parsing: text), let peer = address.peer else { continue }
                if let i = out.firstIndex(where: { $0.peer == peer }) {
                    if !out[i].addresses.contains(address) { out[i].addresses.append(address) }
                } else {
                    out.append((peer, [address]))
                }
            }
        }
        return out
    }

    /// A random peer name: 32 lowercase letters and digits.
    public static func randomPeerName() -> [UInt8] {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8)
        return (0..<32).map { _ in alphabet.randomElement() ?? 0x61 }
    }
}
