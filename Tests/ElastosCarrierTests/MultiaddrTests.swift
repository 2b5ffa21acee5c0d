import CarrierWire
import ElastosCore
import Testing

@Suite struct MultiaddrTests {
    static let vectorPeer = "12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB"

    @Test func ip4TcpHasTheSpecBinaryForm() throws {
        let addr = try Multiaddr(parsing: "/ip4/127.0.0.1/tcp/4001")
        #expect(addr.bytes == [0x04, 127, 0, 0, 1, 0x06, 0x0f, 0xa1])
        #expect(try Multiaddr(bytes: addr.bytes) == addr)
        #expect(addr.description == "/ip4/127.0.0.1/tcp/4001")
    }

    @Test func textFormsRoundTrip() throws {
        for text in ["/ip6/::1/tcp/4001", "/ip6/2001:db8::1/tcp/1", "/ip6/fe80::/tcp/0", "/ip6/1:2:3:4:5:6:7:8/tcp/65535",
                     "/dns4/example.com/tcp/443", "/dns/x.y/tcp/1", "/dns6/a/tcp/2", "/dnsaddr/bootstrap.libp2p.io",
                     "/ip4/1.2.3.4/tcp/5/p2p/\(Self.vectorPeer)",
                     "/ip4/1.2.3.4/tcp/5/p2p/\(Self.vectorPeer)/p2p-circuit/p2p/\(Self.vectorPeer)",
                     "/ip4/127.0.0.1/udp/4001/quic-v1",
                     "/ip4/1.2.3.4/tcp/5/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"] {
            let addr = try Multiaddr(parsing: text)
            #expect(addr.description == text)
            #expect(try Multiaddr(bytes: addr.bytes) == addr)
        }
    }

    @Test func ipv6IsFormattedCanonically() throws {
        #expect(try Multiaddr(parsing: "/ip6/0:0:0:0:0:0:0:1/tcp/1").description == "/ip6/::1/tcp/1")
        #expect(try Multiaddr(parsing: "/ip6/2001:DB8:0:0:1:0:0:1/tcp/1").description == "/ip6/2001:db8::1:0:0:1/tcp/1")
        #expect(try Multiaddr(parsing: "/ip6/::ffff:1.2.3.4/tcp/1").bytes.count == 1 + 16 + 1 + 2)
        #expect(try Multiaddr(parsing: "/ip6/::/tcp/1").description == "/ip6/::/tcp/1")
    }

    @Test func p2pAcceptsTheCIDFormAndYieldsThePeerID() throws {
        let cidForm = try Multiaddr(parsing: "/ip4/1.2.3.4/tcp/5/p2p/k51qzi5uqu5dg9ufswxt229ntzdy7p4125xzv5rtyjso89ajdujg6csfxcj260")
        #expect(cidForm.description == "/ip4/1.2.3.4/tcp/5/p2p/\(Self.vectorPeer)")
        #expect(cidForm.peerID?.description == Self.vectorPeer)
        #expect(cidForm.withoutPeerID.description == "/ip4/1.2.3.4/tcp/5")
        #expect(try Multiaddr(parsing: "/ip4/1.2.3.4/tcp/5/ipfs/\(Self.vectorPeer)").description.hasSuffix(Self.vectorPeer))
    }

    @Test func malformedTextGetsATypedError() {
        let cases: [(String, MultiaddrError)] = [
            ("", .empty), ("ip4/1.2.3.4", .mustStartWithSlash), ("/", .empty),
            ("/ip4", .missingValue("ip4")), ("/ip4/1.2.3", .invalidValue(protocol: "ip4", value: "1.2.3")),
            ("/ip4/1.2.3.256", .invalidValue(protocol: "ip4", value: "1.2.3.256")),
            ("/ip4/01.2.3.4", .invalidValue(protocol: "ip4", value: "01.2.3.4")),
            ("/ip4/1.2.3.4/tcp/65536", .invalidValue(protocol: "tcp", value: "65536")),
            ("/ip4/1.2.3.4/tcp/-1", .invalidValue(protocol: "tcp", value: "-1")),
            ("/ip4/1.2.3.4/tcp/+1", .invalidValue(protocol: "tcp", value: "+1")),
            ("/ip6/1::2::3", .invalidValue(protocol: "ip6", value: "1::2::3")),
            ("/ip6/1:2:3:4:5:6:7:8:9", .invalidValue(protocol: "ip6", value: "1:2:3:4:5:6:7:8:9")),
            ("/ip6/12345::", .invalidValue(protocol: "ip6", value: "12345::")),
            ("/ip6/:::", .invalidValue(protocol: "ip6", value: ":::")),
            ("/quic/1", .unknownProtocol("quic")), ("/p2p/notapeer", .invalidValue(protocol: "p2p", value: "notapeer")),
            ("/ip4//tcp/1", .missingValue("ip4")),
        ]
        for (text, expected) in cases {
            #expect(throws: expected, "\(text)") { try Multiaddr(parsing: text) }
        }
    }

    @Test func malformedBinaryGetsATypedError() {
        let cases: [([UInt8], MultiaddrError)] = [
            ([], .empty), ([0x04, 1, 2], .truncated), ([0x06, 1], .truncated), ([0x29] + [UInt8](repeating: 0, count: 15), .truncated),
            ([0x99, 0x01], .unknownCode(153)), ([0x80], .truncated), ([0x80, 0x00], .badVarint),
            ([0xa5, 0x03, 0x05, 0x00, 0x24], .truncated), ([0xa5, 0x03, 0x02, 0xff, 0x00], .invalidValue(protocol: "p2p", value: "2 bytes")),
            ([0x35, 0x01, 0x2f], .invalidValue(protocol: "dns", value: "1 bytes")),
        ]
        for (bytes, expected) in cases {
            #expect(throws: expected, "\(bytes)") { try Multiaddr(bytes: bytes) }
        }
    }

    @Test func randomBytesNeverTrap() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 0...40, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if let addr = try? Multiaddr(bytes: bytes) {
                // Whatever decodes re-encodes to the same bytes and its text parses back.
                #expect(addr.bytes == bytes)
                #expect(try Multiaddr(parsing: addr.description) == addr)
            }
            _ = try? Multiaddr(parsing: "/" + String(decoding: bytes, as: UTF8.self))
        }
    }
}

@Suite struct PeerIDVectorTests {
    /// The shared identity vector (seed 00…1f), as py-libp2p 0.8.1 and kubo 0.22 report it.
    @Test func sharedSeedGivesTheSamePeerIDAsPyLibp2pAndKubo() throws {
        let key = try SigningKey(seed: Array(0..<32))
        let peer = PeerID(publicKey: key.publicKey)
        #expect(Hex.encode(key.publicKey.bytes) == "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8")
        #expect(Hex.encode(Libp2pPublicKey.protobuf(for: key.publicKey)) == "08011220" + "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8")
        #expect(peer.description == "12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB")
        #expect(peer.cid.string(in: .base36Lower) == "k51qzi5uqu5dg9ufswxt229ntzdy7p4125xzv5rtyjso89ajdujg6csfxcj260")
        #expect(peer.cid.string(in: .base32Lower) == "bafzaajaiaejcaa5ba677htqqxyoxbxiy45f4bglh4tldbg5fbvpr3xegmqjfkmny")
        #expect(try PeerID("bafzaajaiaejcaa5ba677htqqxyoxbxiy45f4bglh4tldbg5fbvpr3xegmqjfkmny") == peer)
        #expect(key.publicKey.did.description == "did:key:z6MkehRgf7yJbgaGfYsdoAsKdBPE3dj2CYhowQdcjqSJgvVd")
        #expect(try Libp2pPublicKey.ed25519(from: Libp2pPublicKey.protobuf(for: key.publicKey)) == key.publicKey)
    }

    @Test func otherKeyTypesAndBrokenKeysAreTypedErrors() {
        #expect(throws: WireError.unsupportedKeyType(0)) { try Libp2pPublicKey.ed25519(from: [0x08, 0x00, 0x12, 0x01, 0x00]) }
        #expect(throws: WireError.missingField("PublicKey.Type")) { try Libp2pPublicKey.ed25519(from: []) }
        #expect(throws: WireError.missingField("PublicKey.Data")) { try Libp2pPublicKey.ed25519(from: [0x08, 0x01]) }
        #expect(throws: WireError.invalidKey("an Ed25519 public key is 32 bytes, got 1")) {
            try Libp2pPublicKey.ed25519(from: [0x08, 0x01, 0x12, 0x01, 0x00])
        }
        #expect(throws: WireError.unexpectedWireType(field: 1)) { try Libp2pPublicKey.ed25519(from: [0x0a, 0x00]) }
    }
}
