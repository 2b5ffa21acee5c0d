// libp2p mDNS discovery on the local link
// (https://github.com/libp2p/specs/blob/master/discovery/mdns.md): a UDP socket on port 5353
// joined to 224.0.0.251, which answers PTR queries for `_p2p._udp.local` with our addresses
// (CarrierWire's MDNSPeerRecords), asks the same question at start and then periodically, and
// reports the peers that responses announce. IPv4 only for now (ff02::fb is not joined).
//
// Which link: a node that listens only on loopback announces only loopback addresses and uses
// the loopback interface for multicast (so two nodes on one machine, or in a loopback-only test
// namespace, find each other without announcing anything to the LAN); otherwise it joins the
// group on every up, multicast-capable IPv4 interface and leaves loopback addresses out.
public import CarrierWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Settings for ``MDNSDiscovery``.
public struct MDNSConfig: Sendable {
    /// The mDNS port (5353; another only for tests that cannot share it).
    public var port: UInt16 = 5353
    /// The multicast group.
    public var group = "224.0.0.251"
    /// Delays between our queries after the first (at start); the last repeats.
    public var querySchedule: [Duration] = [.seconds(1), .seconds(3), .seconds(15)]
    /// At most one answer per this interval, however many queries arrive.
    public var minimumAnswerInterval: Duration = .milliseconds(500)

    public init() {}
}

/// Told about each peer a response announces (not us), with the addresses it gave.
public typealias MDNSPeerObserver = @Sendable (_ peer: Libp2pPeerID, _ addresses: [Multiaddr]) -> Void

public actor MDNSDiscovery {
    public nonisolated let config: MDNSConfig
    private let channel: any Channel
    private var queryTask: Task<Void, Never>?
    private nonisolated let groupAddress: SocketAddress
    /// Datagrams refused, queries answered, peers heard (for tests and diagnostics).
    private nonisolated let counters: NIOLockedValueBox<(malformed: Int, answered: Int, announced: Int)>

    private init(config: MDNSConfig, channel: any Channel, groupAddress: SocketAddress,
                 counters: NIOLockedValueBox<(malformed: Int, answered: Int, announced: Int)>) {
        self.config = config; self.channel = channel; self.groupAddress = groupAddress; self.counters = counters
    }

    /// Opens the socket, joins the group, and starts querying. `addresses` gives the node's
    /// dialable addresses (without `/p2p/`) each time a query is answered; `onPeer` hears of
    /// every other peer announced.
    public static func start(
        peer: Libp2pPeerID, addresses: @escaping @Sendable () -> [Multiaddr],
        config: MDNSConfig = MDNSConfig(), onPeer: @escaping MDNSPeerObserver
    ) async throws(CarrierError) -> MDNSDiscovery {
        let groupAddress: SocketAddress
        do { groupAddress = try SocketAddress(ipAddress: config.group, port: Int(config.port)) } catch {
            throw .invalidAddress("mDNS group \(config.group): \(error)")
        }
        let loopbackOnly = { () -> Bool in
            let current = addresses()
            return !current.isEmpty && current.allSatisfy(\.isLoopback)
        }()
        let peerName = MDNSPeerRecords.randomPeerName()
        let counters = NIOLockedValueBox((malformed: 0, answered: 0, announced: 0))
        let responder = Responder(
            peer: peer, peerName: peerName, addresses: addresses, group: groupAddress,
            minimumInterval: config.minimumAnswerInterval, onPeer: onPeer, counters: counters)
        let bootstrap = DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(MDNSHandler(responder: responder)) }
            }
        let channel: any Channel
        do { channel = try await bootstrap.bind(host: "0.0.0.0", port: Int(config.port)).get() } catch {
            throw .dialFailed(address: "udp/\(config.port)", reason: "cannot open the mDNS socket: \(error)")
        }
        do {
            try await join(channel, group: groupAddress, loopbackOnly: loopbackOnly)
        } catch {
            try? await channel.close()
            throw error
        }
        let discovery = MDNSDiscovery(config: config, channel: channel, groupAddress: groupAddress, counters: counters)
        await discovery.startQuerying()
        return discovery
    }

    /// Joins the group on loopback alone, or on every multicast-capable non-loopback interface.
    private static func join(_ channel: any Channel, group: SocketAddress, loopbackOnly: Bool) async throws(CarrierError) {
        guard let multicast = channel as? any MulticastChannel, let options = channel as? any SocketOptionProvider else {
            throw .dialFailed(address: "udp", reason: "the datagram channel has no multicast support")
        }
        let devices = ((try? System.enumerateDevices()) ?? []).filter {
            if case .v4 = $0.address { return true } else { return false }
        }
        func isLoopback(_ device: NIONetworkDevice) -> Bool {
            guard case .v4(let a) = device.address else { return false }
            return UInt32(bigEndian: a.address.sin_addr.s_addr) >> 24 == 127
        }
        var joined = 0
        var failures: [String] = []
        let chosen = loopbackOnly ? devices.filter(isLoopback) : devices.filter { !isLoopback($0) && $0.multicastSupported }
        for device in chosen {
            do {
                if loopbackOnly, case .v4(let a) = device.address, case .v4(let g) = group {
                    // NIO refuses devices without IFF_MULTICAST, which loopback lacks by
                    // default; the kernel loops multicast back on it all the same.
                    let request = ip_mreq(imr_multiaddr: g.address.sin_addr, imr_interface: a.address.sin_addr)
                    try await options.unsafeSetSocketOption(level: .ip, name: .ip_add_membership, value: request).get()
                    try await options.setIPMulticastIF(a.address.sin_addr).get()
                } else {
                    try await multicast.joinGroup(group, device: device).get()
                }
                joined += 1
            } catch {
                failures.append("\(device.name): \(error)")
            }
        }
        if joined == 0 {
            // No interface to choose: let the kernel pick by its routes.
            do { try await multicast.joinGroup(group).get() } catch {
                throw .dialFailed(address: "\(group)", reason: "cannot join the mDNS group: " + (failures + ["default: \(error)"]).joined(separator: "; "))
            }
        }
    }

    private func startQuerying() {
        let schedule = config.querySchedule
        queryTask = Task { [weak self] in
            var step = 0
            while !Task.isCancelled {
                guard let self else { return }
                await self.query()
                let delay = schedule.isEmpty ? Duration.seconds(15) : schedule[min(step, schedule.count - 1)]
                step += 1
                try? await Task.sleep(for: delay)
            }
        }
    }

    /// Sends one query for libp2p peers now.
    public func query() {
        send(MDNSPeerRecords.query().encoded())
    }

    private func send(_ bytes: [UInt8]) {
        let buffer = channel.allocator.buffer(bytes: bytes)
        channel.writeAndFlush(AddressedEnvelope(remoteAddress: groupAddress, data: buffer), promise: nil)
    }

    /// How many datagrams were refused, queries answered and peers heard announced.
    public nonisolated var statistics: (malformed: Int, answered: Int, announced: Int) { counters.withLockedValue { $0 } }

    /// Stops querying and closes the socket.
    public func stop() async {
        queryTask?.cancel()
        queryTask = nil
        try? await channel.close()
    }
}

/// Decides what to do with each datagram; shared by the handler on the channel's loop.
private final class Responder: Sendable {
    let peer: Libp2pPeerID
    let peerName: [UInt8]
    let addresses: @Sendable () -> [Multiaddr]
    let group: SocketAddress
    let minimumInterval: Duration
    let onPeer: MDNSPeerObserver
    let counters: NIOLockedValueBox<(malformed: Int, answered: Int, announced: Int)>
    let lastAnswer = NIOLockedValueBox<ContinuousClock.Instant?>(nil)

    init(peer: Libp2pPeerID, peerName: [UInt8], addresses: @escaping @Sendable () -> [Multiaddr], group: SocketAddress,
         minimumInterval: Duration, onPeer: @escaping MDNSPeerObserver,
         counters: NIOLockedValueBox<(malformed: Int, answered: Int, announced: Int)>) {
        self.peer = peer; self.peerName = peerName; self.addresses = addresses; self.group = group
        self.minimumInterval = minimumInterval; self.onPeer = onPeer; self.counters = counters
    }

    /// The response to send for `datagram`, if it is a query we answer now.
    func handle(_ datagram: [UInt8]) -> [UInt8]? {
        let message: DNSMessage
        do { message = try DNSMessage(decoding: datagram) } catch {
            counters.withLockedValue { $0.malformed += 1 }
            return nil
        }
        if message.isResponse {
            for (found, addrs) in MDNSPeerRecords.peers(in: message) where found != peer {
                counters.withLockedValue { $0.announced += 1 }
                onPeer(found, addrs)
            }
            return nil
        }
        guard MDNSPeerRecords.asksForPeers(message) else { return nil }
        let now = ContinuousClock.now
        let due = lastAnswer.withLockedValue { last -> Bool in
            if let last, now - last < minimumInterval { return false }
            last = now
            return true
        }
        guard due, let response = try? MDNSPeerRecords.response(peerName: peerName, addresses: announced()) else { return nil }
        counters.withLockedValue { $0.answered += 1 }
        return response.encoded()
    }

    /// Our addresses as announced: loopback ones only when there is nothing else, each with
    /// `/p2p/<us>`.
    func announced() -> [Multiaddr] {
        let all = addresses().filter { $0.tcpEndpoint != nil }
        let chosen = all.allSatisfy(\.isLoopback) ? all : all.filter { !$0.isLoopback }
        return chosen.map { Multiaddr(components: $0.withoutPeerID.components + [.p2p(peer.multihash.bytes)]) }
    }
}

private final class MDNSHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>
    let responder: Responder

    init(responder: Responder) { self.responder = responder }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        var buffer = envelope.data
        guard let bytes = buffer.readBytes(length: buffer.readableBytes), let answer = responder.handle(bytes) else { return }
        let out = context.channel.allocator.buffer(bytes: answer)
        context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: responder.group, data: out)), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A bad datagram or an unreachable send must not close the socket.
    }
}

extension Multiaddr {
    /// Whether the address is on 127.0.0.0/8 or ::1.
    public var isLoopback: Bool {
        switch components.first {
        case .ip4(let b): b.first == 127
        case .ip6(let b): b == [UInt8](repeating: 0, count: 15) + [1]
        default: false
        }
    }
}
