// The basic GossipSub v1.1 peer score (gossipsub-v1.1.md "Peer Scoring"): only P4 (invalid
// message deliveries) and P7 (behaviour penalty: GRAFT while backed off, too many IHAVEs), each a
// decaying counter with a negative quadratic weight. Positive components (P1–P3) are not kept,
// so a score is at most 0 and well-behaved peers sit at exactly 0.
import CarrierWire

struct PeerScores {
    private struct Counters {
        var invalidMessages = 0.0
        var behaviourPenalty = 0.0
        var disconnectedAt: ContinuousClock.Instant?
    }

    let config: PeerScoreConfig
    private var counters: [Libp2pPeerID: Counters] = [:]

    init(config: PeerScoreConfig) { self.config = config }

    func score(of peer: Libp2pPeerID) -> Double {
        guard let c = counters[peer] else { return 0 }
        let excess = max(0, c.behaviourPenalty - config.behaviourPenaltyThreshold)
        return config.invalidMessageWeight * c.invalidMessages * c.invalidMessages
            + config.behaviourPenaltyWeight * excess * excess
    }

    mutating func recordInvalidMessage(from peer: Libp2pPeerID) { counters[peer, default: Counters()].invalidMessages += 1 }

    mutating func recordMisbehaviour(of peer: Libp2pPeerID) { counters[peer, default: Counters()].behaviourPenalty += 1 }

    mutating func connected(_ peer: Libp2pPeerID) { counters[peer]?.disconnectedAt = nil }

    mutating func disconnected(_ peer: Libp2pPeerID, now: ContinuousClock.Instant) { counters[peer]?.disconnectedAt = now }

    /// One heartbeat: decay every counter; forget peers gone for longer than `retainScore` or
    /// whose counters decayed to nothing.
    mutating func decay(now: ContinuousClock.Instant) {
        for (peer, var c) in counters {
            c.invalidMessages *= config.decay
            c.behaviourPenalty *= config.decay
            if c.invalidMessages < config.decayToZero { c.invalidMessages = 0 }
            if c.behaviourPenalty < config.decayToZero { c.behaviourPenalty = 0 }
            let expired = c.disconnectedAt.map { now - $0 > config.retainScore } ?? false
            if expired || (c.invalidMessages == 0 && c.behaviourPenalty == 0) {
                counters.removeValue(forKey: peer)
            } else {
                counters[peer] = c
            }
        }
    }
}
