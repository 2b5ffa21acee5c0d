// Bounds on what other machines can make a node hold, checked before any work is done for
// them: an inbound TCP connection over a limit is closed as soon as it is accepted (before the
// Noise handshake), and an inbound connection from a peer that already has its share is
// closed once the handshake names the peer. Our own dials are not limited by these, but past
// a high-water mark of connections in all the node trims back to a low-water mark, as go's
// connection manager does.
import NIOConcurrencyHelpers
import NIOCore

public struct ConnectionLimits: Sendable, Equatable {
    /// Inbound connections held at once, handshaking or established.
    public var maxInbound = 512
    /// Inbound connections still in the Noise/Yamux handshake (each bounded by 10 s): what a
    /// peer that connects and then says nothing can tie up.
    public var maxPendingInbound = 64
    /// Inbound connections from one IP address (go-libp2p's resource manager allows 8 per
    /// IPv4 address and 8 per IPv6 /56).
    public var maxInboundPerIP = 16
    /// Inbound connections from one peer (its PeerID), relayed ones included.
    public var maxInboundPerPeer = 8
    /// Whether connections from loopback skip the per-IP limit: they are local processes, and
    /// a machine running several nodes (tests, benchmarks) connects them over loopback.
    public var loopbackExemptFromPerIP = true
    /// Past this many connections (both directions) the node closes some, down to
    /// ``lowWater``: those not protected (``CarrierNode/protect(_:tag:)``), older than
    /// ``gracePeriod``, fewest open streams first, then the oldest. kubo's defaults.
    public var highWater = 96
    public var lowWater = 32
    public var gracePeriod: Duration = .seconds(20)

    public init() {}

    public static let standard = ConnectionLimits()
}

/// Counts of inbound connections, shared by the accept path (on NIO's loops) and the node actor.
final class InboundAdmission: Sendable {
    private struct Counts {
        var total = 0
        var pending = 0
        var perIP: [String: Int] = [:]
        var refused = 0
    }
    let limits: ConnectionLimits
    private let counts = NIOLockedValueBox(Counts())

    init(limits: ConnectionLimits) { self.limits = limits }

    var refused: Int { counts.withLockedValue { $0.refused } }
    var pending: Int { counts.withLockedValue { $0.pending } }
    var total: Int { counts.withLockedValue { $0.total } }

    func countRefusal() { counts.withLockedValue { $0.refused += 1 } }

    /// Admits `channel` or refuses it; an admitted channel is counted until it closes, and as
    /// pending until `handshakeEnded` is called (once; further calls do nothing).
    func admit(_ channel: any Channel) -> (@Sendable () -> Void)? {
        let address = channel.remoteAddress
        let ip = address?.ipAddress ?? "?"
        let exempt = limits.loopbackExemptFromPerIP && Self.isLoopback(address)
        let admitted = counts.withLockedValue { c in
            guard c.total < limits.maxInbound, c.pending < limits.maxPendingInbound,
                  exempt || c.perIP[ip, default: 0] < limits.maxInboundPerIP else {
                c.refused += 1
                return false
            }
            c.total += 1
            c.pending += 1
            if !exempt { c.perIP[ip, default: 0] += 1 }
            return true
        }
        guard admitted else { return nil }
        let pendingOnce = NIOLockedValueBox(true)
        let handshakeEnded: @Sendable () -> Void = { [counts] in
            let first = pendingOnce.withLockedValue { isPending in
                defer { isPending = false }
                return isPending
            }
            guard first else { return }
            counts.withLockedValue { $0.pending -= 1 }
        }
        channel.closeFuture.whenComplete { [counts] _ in
            handshakeEnded()
            counts.withLockedValue { c in
                c.total -= 1
                if !exempt {
                    c.perIP[ip, default: 1] -= 1
                    if c.perIP[ip] == 0 { c.perIP[ip] = nil }
                }
            }
        }
        return handshakeEnded
    }

    static func isLoopback(_ address: SocketAddress?) -> Bool {
        switch address {
        case .v4(let a)?: return UInt32(bigEndian: a.address.sin_addr.s_addr) >> 24 == 127
        case .v6(let a)?:
            let b = withUnsafeBytes(of: a.address.sin6_addr) { Array($0) }
            if b == [UInt8](repeating: 0, count: 15) + [1] { return true }
            // ::ffff:127.x.y.z
            return b[0..<10].allSatisfy { $0 == 0 } && b[10] == 0xff && b[11] == 0xff && b[12] == 127
        default: return false
        }
    }
}

/// The error an inbound channel refused by the limits fails its initializer with.
struct InboundRefused: Error {}
