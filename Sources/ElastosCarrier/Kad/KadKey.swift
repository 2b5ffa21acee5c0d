// The Kademlia keyspace of libp2p: a key's position is SHA-256 of its bytes (a binary PeerID for
// peers, a multihash for provider records, the record key for values), and distance is XOR of
// positions read as a 256-bit big-endian number.
// https://github.com/libp2p/specs/blob/master/kad-dht/README.md#distance
import Crypto
public import CarrierWire

/// A point in the 256-bit Kademlia keyspace.
public struct KadKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public static let bitCount = 256
    /// The 32 bytes of SHA-256, most significant first.
    public let bytes: [UInt8]

    /// The position of `key` (its SHA-256).
    public init(hashing key: [UInt8]) { bytes = Array(SHA256.hash(data: key)) }

    /// The position of a peer: SHA-256 of its binary PeerID.
    public init(peer: Libp2pPeerID) { self.init(hashing: peer.multihash.bytes) }

    /// A position given directly (32 bytes), for tests and random refresh targets.
    public init?(raw: [UInt8]) {
        guard raw.count == 32 else { return nil }
        bytes = raw
    }

    /// XOR distance to `other`, itself a 256-bit number (as a KadKey, so distances compare).
    public func distance(to other: KadKey) -> KadKey {
        KadKey(unchecked: zip(bytes, other.bytes).map { $0 ^ $1 })
    }

    /// How many leading bits this key shares with `other` (256 for equal keys).
    public func commonPrefixLength(with other: KadKey) -> Int {
        for (index, (a, b)) in zip(bytes, other.bytes).enumerated() where a != b {
            return index * 8 + (a ^ b).leadingZeroBitCount
        }
        return Self.bitCount
    }

    /// Big-endian order, so distances sort nearest first.
    public static func < (a: KadKey, b: KadKey) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }

    public var description: String { bytes.prefix(6).map { String($0, radix: 16).leftPadded(to: 2) }.joined() + "…" }

    private init(unchecked bytes: [UInt8]) { self.bytes = bytes }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
