public import CarrierWire
public import ElastosCarrier
import ElastosCore

/// When and how often a node meets the other subscribers of a topic through the DHT.
public struct RendezvousConfig: Sendable {
    /// Delays between rounds after the first (which runs as soon as the topic is joined); the
    /// last repeats while the topic stays joined. Quick at first, so a new subscriber finds the
    /// others within seconds, then every few minutes to catch those who came later.
    public var schedule: [Duration] = [.seconds(2), .seconds(3), .seconds(5), .seconds(10), .seconds(10), .seconds(10),
                                       .seconds(10), .seconds(10), .seconds(120)]
    /// Announce again at least this often (well inside the 24–48 h that DHT servers keep
    /// provider records); every round until the first announcement reached a peer.
    public var reprovideInterval: Duration = .seconds(3600)
    /// Providers asked for per round.
    public var maxProviders = 20

    public init() {}
}

/// Rendezvous on the DHT: for each joined GossipSub topic the node announces itself as a provider
/// of the topic's rendezvous key and looks up the other providers, dialling those it is not
/// connected to; once connected, GossipSub meshes them. Runs while the topic has a local
/// subscriber (docs/CARRIER.md, "Discovery").
public actor TopicRendezvous {
    public nonisolated let config: RendezvousConfig
    private let dht: KademliaDHT
    private let carrier: CarrierNode
    private var tasks: [String: Task<Void, Never>] = [:]
    private var stopped = false
    /// Dials made because the DHT named a provider (for tests and diagnostics).
    public private(set) var dialled = 0

    public init(dht: KademliaDHT, carrier: CarrierNode, config: RendezvousConfig = RendezvousConfig()) {
        self.dht = dht; self.carrier = carrier; self.config = config
    }

    /// The DHT key for `topic`: the sha2-256 multihash (0x12 0x20 ‖ digest) of
    /// "elastos.rendezvous.v1" ‖ 0x00 ‖ the topic's UTF-8 bytes. A multihash, so DHT servers
    /// that insist provider keys be multihashes (go-libp2p's) store it too.
    public static func key(for topic: String) -> [UInt8] {
        Multihash.sha256(of: Array("elastos.rendezvous.v1".utf8) + [0] + Array(topic.utf8)).bytes
    }

    /// Starts or stops the rounds for `topic` (the GossipSub topic observer calls this).
    public func topic(_ topic: String, joined: Bool) {
        if joined {
            guard !stopped, tasks[topic] == nil else { return }
            tasks[topic] = Task { [weak self] in await self?.run(topic) }
        } else {
            tasks.removeValue(forKey: topic)?.cancel()
        }
    }

    /// The topics rendezvous runs for now.
    public var topics: [String] { Array(tasks.keys).sorted() }

    public func stop() {
        stopped = true
        for task in tasks.values { task.cancel() }
        tasks = [:]
    }

    private func run(_ topic: String) async {
        let key = Self.key(for: topic)
        var step = 0
        var lastProvided: ContinuousClock.Instant?
        while !Task.isCancelled {
            if lastProvided.map({ ContinuousClock.now - $0 >= config.reprovideInterval }) ?? true {
                if let stored = try? await dht.provide(key: key), stored > 0 { lastProvided = .now }
            }
            guard !Task.isCancelled else { return }
            await meet(key)
            let schedule = config.schedule
            let delay = schedule.isEmpty ? Duration.seconds(120) : schedule[min(step, schedule.count - 1)]
            step += 1
            try? await Task.sleep(for: delay)
        }
    }

    /// Dials each provider of `key` that is not us and not connected yet.
    private func meet(_ key: [UInt8]) async {
        guard let providers = try? await dht.findProviders(key: key, count: config.maxProviders) else { return }
        for provider in providers where provider.peer != carrier.libp2pPeerID {
            guard !Task.isCancelled else { return }
            if await carrier.isConnected(provider.peer) { continue }
            var addrs = provider.addrs
            if addrs.isEmpty, let found = try? await dht.findPeer(provider.peer) { addrs = found.addrs }
            for address in addrs where address.tcpEndpoint != nil && !address.isUnspecified {
                dialled += 1
                let target = Multiaddr(components: address.withoutPeerID.components + [.p2p(provider.peer.multihash.bytes)])
                if (try? await carrier.dial(target)) != nil { break }
            }
        }
    }
}

extension Multiaddr {
    /// Whether the address is 0.0.0.0 or :: (a listen address, not one to dial).
    public var isUnspecified: Bool {
        switch components.first {
        case .ip4(let b): b.allSatisfy { $0 == 0 }
        case .ip6(let b): b.allSatisfy { $0 == 0 }
        default: false
        }
    }
}
