// GossipSub's parameters, with the defaults of gossipsub-v1.0.md / v1.1.md (and go-libp2p-pubsub).
// https://github.com/libp2p/specs/blob/master/pubsub/gossipsub/gossipsub-v1.1.md#parameters

/// Router parameters. The defaults are the spec's; tests shorten the heartbeat.
public struct GossipSubConfig: Sendable {
    /// Desired mesh degree per topic (D) and its bounds (D_lo, D_hi).
    public var meshDegree = 6
    public var meshDegreeLow = 5
    public var meshDegreeHigh = 12
    /// How many non-mesh peers receive IHAVE gossip per topic and heartbeat (D_lazy, at least).
    public var gossipDegree = 6
    /// v1.1: gossip goes to max(D_lazy, gossipFactor × eligible peers).
    public var gossipFactor = 0.25
    public var heartbeatInterval: Duration = .seconds(1)
    /// How long a topic we published to without joining keeps its fanout peers.
    public var fanoutTTL: Duration = .seconds(60)
    /// Message cache: heartbeats a message stays for IWANT (mcache_len), of which the most recent
    /// `messageCacheGossip` windows are advertised in IHAVE (mcache_gossip).
    public var messageCacheLength = 5
    public var messageCacheGossip = 3
    /// How long a message ID is remembered for de-duplication.
    public var seenTTL: Duration = .seconds(120)
    /// At most this many message IDs are remembered for de-duplication (oldest evicted first).
    public var seenMaxEntries = 100_000
    /// Backoff after a PRUNE (the default when the PRUNE names none) and after unsubscribing.
    public var pruneBackoff: Duration = .seconds(60)
    public var unsubscribeBackoff: Duration = .seconds(10)
    /// v1.1 flood publishing: our own messages go to every peer in the topic above the publish
    /// threshold, not only the mesh.
    public var floodPublish = true
    /// At most this many IHAVE messages accepted from one peer per heartbeat, and message IDs
    /// asked for (IWANT) from one peer per heartbeat.
    public var maxIHaveMessages = 10
    public var maxIHaveLength = 5000
    /// A message is sent to the same peer at most this many times in answer to IWANT.
    public var maxIWantRetransmissions = 3
    /// RPCs waiting to go to one peer; beyond this, new RPCs to it are dropped and counted.
    public var peerOutboundQueueLimit = 256
    /// How often in a row our outbound stream to a still-connected peer is reopened after it
    /// died (with a backoff from 100 ms doubling to 10 s); a stream that lived longer than
    /// `outboundReopenReset` starts the count afresh.
    public var maxOutboundReopens = 8
    public var outboundReopenReset: Duration = .seconds(60)
    /// Topics one peer may be subscribed to; further subscriptions from it are ignored (and
    /// counted), so a peer cannot grow our state without bound.
    public var maxTopicsPerPeer = 1024
    /// Messages waiting for one local subscriber; beyond this, new ones are dropped and counted.
    public var subscriberBufferLimit = 1024
    /// Largest message data we publish (the whole RPC must stay under 1 MiB).
    public var maxMessageDataSize = (1 << 20) - 4096
    public var score = PeerScoreConfig()

    public init() {}
}

/// The basic v1.1 peer score implemented here: P4 (invalid messages) and P7 (behaviour penalty)
/// with decay, plus the three thresholds. Not implemented: P1–P3 (time in mesh, first and mesh
/// message deliveries), P3b, P5 (application score), P6 (IP colocation).
public struct PeerScoreConfig: Sendable {
    /// Score = invalidMessageWeight × invalid² + behaviourPenaltyWeight × max(0, penalty − threshold)².
    public var invalidMessageWeight = -10.0
    public var behaviourPenaltyWeight = -10.0
    public var behaviourPenaltyThreshold = 0.0
    /// Counters are multiplied by this at every heartbeat (0.99: halved in about 70 heartbeats)
    /// and reset below `decayToZero`.
    public var decay = 0.99
    public var decayToZero = 0.01
    /// Below this: no gossip to or from the peer (IHAVE/IWANT ignored, none sent).
    public var gossipThreshold = -10.0
    /// Below this: our own messages are not flood-published to the peer.
    public var publishThreshold = -50.0
    /// Below this the peer is graylisted: every RPC from it is ignored.
    public var graylistThreshold = -80.0
    /// How long a disconnected peer's score is kept (so reconnecting does not wash it).
    public var retainScore: Duration = .seconds(600)

    public init() {}
}
