// Multiaddr: self-describing network addresses.
// Spec: https://github.com/multiformats/multiaddr (text and binary forms) and the code table
// https://github.com/multiformats/multiaddr/blob/master/protocols.csv
// Binary: for each component, varint(code) ‖ value, where the value is fixed-size for ip4 (4),
// ip6 (16), tcp/udp (2, big-endian), absent for p2p-circuit/quic-v1, and varint(len) ‖ bytes for
// dns*/p2p. The p2p value is the peer's multihash; its text form is base58btc (CIDs accepted).
public import ElastosCore

/// Why a multiaddr was refused.
public enum MultiaddrError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case mustStartWithSlash
    case unknownProtocol(String)
    case unknownCode(UInt64)
    case missingValue(String)
    case invalidValue(protocol: String, value: String)
    case truncated
    case badVarint

    public var description: String {
        switch self {
        case .empty: "empty multiaddr"
        case .mustStartWithSlash: "a multiaddr starts with '/'"
        case .unknownProtocol(let name): "multiaddr protocol '\(name)' is not supported"
        case .unknownCode(let code): "multiaddr protocol code \(code) is not supported"
        case .missingValue(let name): "multiaddr protocol '\(name)' needs a value"
        case .invalidValue(let name, let value): "'\(value)' is not a valid \(name) value"
        case .truncated: "binary multiaddr ends inside a component"
        case .badVarint: "binary multiaddr has a malformed varint"
        }
    }
}

/// One `/proto/value` step of a multiaddr.
public enum MultiaddrComponent: Hashable, Sendable {
    case ip4([UInt8])
    case ip6([UInt8])
    case tcp(UInt16)
    case udp(UInt16)
    case dns(String)
    case dns4(String)
    case dns6(String)
    case dnsaddr(String)
    /// A peer's multihash bytes (identity for Ed25519 keys, sha2-256 for RSA).
    case p2p([UInt8])
    case p2pCircuit
    case quicV1

    var code: UInt64 {
        switch self {
        case .ip4: 4
        case .tcp: 6
        case .ip6: 41
        case .dns: 53
        case .dns4: 54
        case .dns6: 55
        case .dnsaddr: 56
        case .udp: 273
        case .p2pCircuit: 290
        case .p2p: 421
        case .quicV1: 460
        }
    }

    var name: String {
        switch self {
        case .ip4: "ip4"
        case .tcp: "tcp"
        case .ip6: "ip6"
        case .dns: "dns"
        case .dns4: "dns4"
        case .dns6: "dns6"
        case .dnsaddr: "dnsaddr"
        case .udp: "udp"
        case .p2pCircuit: "p2p-circuit"
        case .p2p: "p2p"
        case .quicV1: "quic-v1"
        }
    }
}

/// A parsed multiaddr such as `/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…`.
public struct Multiaddr: Hashable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    public var components: [MultiaddrComponent]

    public init(components: [MultiaddrComponent]) { self.components = components }

    /// Parses the text form, throwing a typed error.
    public init(parsing text: String) throws(MultiaddrError) {
        guard !text.isEmpty else { throw .empty }
        guard text.hasPrefix("/") else { throw .mustStartWithSlash }
        var parts = text.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        if parts.last == "" { parts.removeLast() }  // a trailing slash is tolerated, as go does
        guard !parts.isEmpty else { throw .empty }
        var out: [MultiaddrComponent] = []
        var index = 0
        func value(_ name: String) throws(MultiaddrError) -> String {
            index += 1
            guard index < parts.count, !parts[index].isEmpty else { throw .missingValue(name) }
            return parts[index]
        }
        while index < parts.count {
            let name = parts[index]
            switch name {
            case "ip4":
                let v = try value(name)
                guard let bytes = IPAddressText.parseIPv4(v) else { throw .invalidValue(protocol: name, value: v) }
                out.append(.ip4(bytes))
            case "ip6":
                let v = try value(name)
                guard let bytes = IPAddressText.parseIPv6(v) else { throw .invalidValue(protocol: name, value: v) }
                out.append(.ip6(bytes))
            case "tcp", "udp":
                let v = try value(name)
                guard v.utf8.count <= 5, v.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let port = UInt16(v) else {
                    throw .invalidValue(protocol: name, value: v)
                }
                out.append(name == "tcp" ? .tcp(port) : .udp(port))
            case "dns", "dns4", "dns6", "dnsaddr":
                let v = try value(name)
                guard v.utf8.count <= 255 else { throw .invalidValue(protocol: name, value: v) }
                switch name {
                case "dns": out.append(.dns(v))
                case "dns4": out.append(.dns4(v))
                case "dns6": out.append(.dns6(v))
                default: out.append(.dnsaddr(v))
                }
            case "p2p", "ipfs":
                let v = try value(name)
                guard let hash = Self.peerMultihash(fromText: v) else { throw .invalidValue(protocol: "p2p", value: v) }
                out.append(.p2p(hash))
            case "p2p-circuit": out.append(.p2pCircuit)
            case "quic-v1": out.append(.quicV1)
            default: throw .unknownProtocol(name)
            }
            index += 1
        }
        components = out
    }

    public init?(_ description: String) {
        guard let parsed = try? Multiaddr(parsing: description) else { return nil }
        self = parsed
    }

    /// Decodes the binary form (as carried in identify and relay messages).
    public init(bytes: [UInt8]) throws(MultiaddrError) {
        guard !bytes.isEmpty else { throw .empty }
        var out: [MultiaddrComponent] = []
        var offset = 0
        func take(_ n: Int) throws(MultiaddrError) -> [UInt8] {
            guard n >= 0, bytes.count - offset >= n else { throw .truncated }
            defer { offset += n }
            return Array(bytes[offset..<offset + n])
        }
        func varint() throws(MultiaddrError) -> UInt64 {
            do {
                guard let v = try UVarint.decodeIfComplete(bytes, offset: &offset) else { throw MultiaddrError.truncated }
                return v
            } catch let e as MultiaddrError { throw e } catch { throw .badVarint }
        }
        func lengthPrefixed() throws(MultiaddrError) -> [UInt8] {
            let n = try varint()
            guard n <= UInt64(bytes.count - offset) else { throw .truncated }
            return try take(Int(n))
        }
        func text(_ name: String) throws(MultiaddrError) -> String {
            let raw = try lengthPrefixed()
            guard raw.count <= 255, let s = String(validating: raw, as: UTF8.self), !s.isEmpty, !s.contains("/") else {
                throw .invalidValue(protocol: name, value: "\(raw.count) bytes")
            }
            return s
        }
        while offset < bytes.count {
            let code = try varint()
            switch code {
            case 4: out.append(.ip4(try take(4)))
            case 41: out.append(.ip6(try take(16)))
            case 6, 273:
                let p = try take(2)
                let port = UInt16(p[0]) << 8 | UInt16(p[1])
                out.append(code == 6 ? .tcp(port) : .udp(port))
            case 53: out.append(.dns(try text("dns")))
            case 54: out.append(.dns4(try text("dns4")))
            case 55: out.append(.dns6(try text("dns6")))
            case 56: out.append(.dnsaddr(try text("dnsaddr")))
            case 421:
                let hash = try lengthPrefixed()
                guard (try? Multihash(bytes: hash)) != nil else { throw .invalidValue(protocol: "p2p", value: "\(hash.count) bytes") }
                out.append(.p2p(hash))
            case 290: out.append(.p2pCircuit)
            case 460: out.append(.quicV1)
            default: throw .unknownCode(code)
            }
        }
        components = out
    }

    /// The binary form.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        for component in components {
            UVarint.append(component.code, to: &out)
            switch component {
            case .ip4(let b), .ip6(let b): out += b
            case .tcp(let port), .udp(let port): out += [UInt8(port >> 8), UInt8(port & 0xff)]
            case .dns(let s), .dns4(let s), .dns6(let s), .dnsaddr(let s):
                UVarint.append(UInt64(s.utf8.count), to: &out)
                out += Array(s.utf8)
            case .p2p(let hash):
                UVarint.append(UInt64(hash.count), to: &out)
                out += hash
            case .p2pCircuit, .quicV1: break
            }
        }
        return out
    }

    public var description: String {
        var out = ""
        for component in components {
            out += "/" + component.name
            switch component {
            case .ip4(let b): out += "/" + IPAddressText.formatIPv4(b)
            case .ip6(let b): out += "/" + IPAddressText.formatIPv6(b)
            case .tcp(let port), .udp(let port): out += "/\(port)"
            case .dns(let s), .dns4(let s), .dns6(let s), .dnsaddr(let s): out += "/" + s
            case .p2p(let hash): out += "/" + Base58.encode(hash)
            case .p2pCircuit, .quicV1: break
            }
        }
        return out
    }

    /// The multihash of a `/p2p/` text value: base58btc (`12D3KooW…`, `Qm…`) or a libp2p-key CID.
    static func peerMultihash(fromText text: String) -> [UInt8]? {
        if text.hasPrefix("1") || text.hasPrefix("Qm") {
            guard let raw = try? Base58.decode(text), (try? Multihash(bytes: raw)) != nil else { return nil }
            return raw
        }
        guard let cid = try? CID(string: text), cid.codec == .libp2pKey else { return nil }
        return cid.multihash.bytes
    }

    // MARK: Convenience

    /// The last `/p2p/` component's PeerID, of any key type.
    public var peer: Libp2pPeerID? {
        for case .p2p(let hash) in components.reversed() {
            return (try? Multihash(bytes: hash)).map(Libp2pPeerID.init(multihash:))
        }
        return nil
    }

    /// The last `/p2p/` component's PeerID, if it names an Ed25519 key.
    public var peerID: PeerID? {
        for case .p2p(let hash) in components.reversed() {
            guard let mh = try? Multihash(bytes: hash) else { return nil }
            return try? PeerID(multihash: mh)
        }
        return nil
    }

    /// The address without a trailing `/p2p/…`.
    public var withoutPeerID: Multiaddr {
        var c = components
        if case .p2p = c.last { c.removeLast() }
        return Multiaddr(components: c)
    }

    /// This address with `/p2p/<peer>` appended (or replaced).
    public func appending(peer: PeerID) -> Multiaddr {
        var c = withoutPeerID.components
        c.append(.p2p(peer.multihash.bytes))
        return Multiaddr(components: c)
    }

    /// The host and TCP port of an `/ip4|ip6|dns*/…/tcp/…` address, for dialing directly.
    public var tcpEndpoint: (host: String, port: UInt16)? {
        guard components.count >= 2, case .tcp(let port) = components[1] else { return nil }
        switch components[0] {
        case .ip4(let b): return (IPAddressText.formatIPv4(b), port)
        case .ip6(let b): return (IPAddressText.formatIPv6(b), port)
        case .dns(let s), .dns4(let s), .dns6(let s): return (s, port)
        default: return nil
        }
    }
}
