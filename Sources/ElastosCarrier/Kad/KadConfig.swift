// Parameters and results of the Kademlia DHT.
public import CarrierWire

/// How a ``KademliaDHT`` behaves; every limit that bounds memory or work is here.
public struct KadConfig: Sendable {
    public enum Mode: Sendable, Equatable {
        /// Uses the DHT but does not answer `/ipfs/kad/1.0.0` (nor advertise it in identify).
        case client
        /// Also answers requests from other peers and stores their records.
        case server
    }

    public var mode: Mode
    /// k: bucket size, and how many closest peers a lookup converges on and stores records at.
    public var bucketSize = 20
    /// α: requests in flight per lookup.
    public var alpha = 3
    /// One request to one peer, dial included.
    public var requestTimeout: Duration = .seconds(5)
    /// How long bootstrap waits for a dialled peer's identify (which says whether it serves
    /// the DHT); longer than a request, since a loaded machine runs identify late.
    public var identifyTimeout: Duration = .seconds(15)
    /// One whole iterative lookup.
    public var lookupTimeout: Duration = .seconds(30)
    /// How long a provider record we store stays valid (go-libp2p: 48 h).
    public var providerTTL: Duration = .seconds(48 * 3600)
    /// How long a value record we publish stays valid, in seconds (its signed expiry).
    public var recordLifetimeSeconds: UInt64 = 36 * 3600
    /// Self-lookup and a random lookup this often, to keep the table fresh; nil disables it.
    public var refreshInterval: Duration? = .seconds(600)
    /// Our own provider records are announced again, and our value records re-signed (new
    /// expiry) and put again, this often; checked at each refresh, so needs `refreshInterval`.
    public var republishInterval: Duration = .seconds(22 * 3600)
    /// Keys and value names we keep republishing; further ones are published once.
    public var maxRepublished = 1024
    /// Lookups run at once by this node; further ones wait.
    public var maxConcurrentLookups = 8
    /// Inbound DHT streams served at once; further ones are reset.
    public var maxInboundStreams = 64
    /// Requests answered on one inbound stream before we close it.
    public var maxRequestsPerStream = 256
    public var maxProviderKeys = 10_000
    public var maxProvidersPerKey = 20
    public var maxValueRecords = 10_000
    /// A lookup for a value stops once this many valid records have arrived.
    public var valueQuorum = 4
    /// The protocol IDs served and spoken. kubo's LAN DHT speaks `/ipfs/lan/kad/1.0.0`, the
    /// same protocol under another name (docs/CARRIER.md).
    public var protocolIDs = [KadMessage.protocolID]

    public init(mode: Mode = .server) { self.mode = mode }
}

/// A peer and the addresses it can be dialled on.
public struct PeerAddresses: Sendable, Equatable, CustomStringConvertible {
    public let peer: Libp2pPeerID
    public var addrs: [Multiaddr]

    public init(peer: Libp2pPeerID, addrs: [Multiaddr]) {
        self.peer = peer
        self.addrs = addrs
    }

    public var description: String { "\(peer) \(addrs.map(\.description).joined(separator: " "))" }
}

/// Why a DHT operation failed.
public enum KadError: Error, Sendable, CustomStringConvertible {
    /// The routing table is empty: bootstrap first.
    case noPeers
    case peerNotFound(Libp2pPeerID)
    case valueNotFound(String)
    /// None of the bootstrap peers could be reached or speaks the DHT.
    case bootstrapFailed([String])
    case invalidRecord(WireError)
    case stopped

    public var description: String {
        switch self {
        case .noPeers: "the DHT routing table is empty (bootstrap from a peer that serves /ipfs/kad/1.0.0)"
        case .peerNotFound(let peer): "peer \(peer) was not found in the DHT"
        case .valueNotFound(let key): "no valid record for \(key) was found in the DHT"
        case .bootstrapFailed(let why): "DHT bootstrap failed: " + why.joined(separator: "; ")
        case .invalidRecord(let e): "invalid record: \(e)"
        case .stopped: "the DHT is stopped"
        }
    }
}
