#if canImport(Glibc)
import Glibc
#endif
import CapsuleWire
import CarrierWire
import ElastosCarrier
import ElastosCore
import ElastosGuest
import ElastosNode
@testable import ElastosPeer
import ElastosRuntime
import Foundation
import PeerWire
import Synchronization
import Testing

/// Runs blocking guest-SDK work on a thread of its own, so the cooperative pool stays free for
/// Carrier (the provider waits on its actors).
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in
        Thread.detachNewThread { c.resume(with: Result { try body() }) }
    }
}

/// One node: an ElastosNode home, Carrier on loopback, and a router with the peer provider.
final class PeerTestNode: Sendable {
    let path = NSTemporaryDirectory() + "elastos-peer-" + UUID().uuidString
    let node: Node
    let service: PeerService
    let provider = PeerProvider()
    let router: ProviderRouter

    init() async throws {
        node = try Node(home: NodeHome(path: path))
        var config = GossipSubConfig()
        config.heartbeatInterval = .milliseconds(200)
        service = try await PeerService.start(identity: node.key, listening: [try Multiaddr(parsing: "/ip4/127.0.0.1/tcp/0")], pubsub: config)
        provider.bind(service)
        router = try ProviderRouter([(PeerProvider.prefix, provider)])
    }

    func close() async {
        await service.stop()
        try? node.close()
        try? FileManager.default.removeItem(atPath: path)
    }

    /// A capsule session on this node, connected as a native capsule would be.
    func capsule(_ name: String) throws -> TestCapsule {
        let session = Session(capsule: name, version: "0.1.0", cid: "bafy-test", publisher: node.did.description, trust: .node,
                              substrate: "native", startedAt: Node.systemClock())
        let handler = SessionHandler(session: session, node: node, router: router, policy: DeclaredCapabilityPolicy(allowDeclared: false), declared: [])
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { throw POSIXError(.EIO) }
        let channel = CapsuleChannel(fd: fds[0], handler: handler)
        channel.start(name: name)
        return TestCapsule(node: node, session: session, handler: handler, channel: channel, guest: RuntimeConnection(fileDescriptor: fds[1]), guestFD: fds[1])
    }
}

struct TestCapsule: Sendable {
    let node: Node
    let session: Session
    let handler: SessionHandler
    let channel: CapsuleChannel
    let guest: RuntimeConnection
    let guestFD: Int32

    func token(_ pattern: String, _ actions: [Action]) throws -> [UInt8] {
        try node.issue(Grant(holder: session.principal, resource: try ResourcePattern(pattern), actions: ActionSet(actions),
                             expiry: Node.systemClock() + 600)).encoded
    }

    /// A token for everything under elastos://peer/.
    func all() throws -> [UInt8] { try token("elastos://peer/*", [.read, .write, .execute]) }

    func call(_ uri: String, _ action: Action, _ body: [UInt8] = [], token: [UInt8]? = nil) throws -> [UInt8] {
        try guest.call(uri: uri, action: action, token: token ?? all(), body: body)
    }

    /// The next event decoded, or nil after `ms` milliseconds.
    func nextEvent(ms: Int32 = 10_000) throws -> (subscription: UInt32, event: PeerEvent)? {
        guard let e = try guest.nextEvent(timeoutMilliseconds: ms) else { return nil }
        return (e.subscription, try PeerEvent(decoding: e.body))
    }

    /// Waits for the next message event, skipping others; nil on timeout.
    func nextMessage(ms: Int32 = 10_000) throws -> (from: String, data: [UInt8], local: Bool)? {
        let deadline = ContinuousClock.now + .milliseconds(Int64(ms))
        while ContinuousClock.now < deadline {
            guard let (_, event) = try nextEvent(ms: 200) else { continue }
            if case .message(let from, _, let data, let local) = event { return (from, data, local) }
        }
        return nil
    }

    /// Ends the capsule's connection as if it exited.
    func end() {
        Glibc.close(guestFD)
    }
}

/// The guest error `body` fails with (nil if it succeeds; other errors become `.disconnected`).
func refusal(_ body: () throws -> Void) -> GuestError? {
    do { try body(); return nil } catch let e as GuestError { return e } catch { return .disconnected }
}

/// Polls `condition` off the pool until it holds or `seconds` pass.
func eventually(_ seconds: Double = 10, _ condition: @escaping @Sendable () throws -> Bool) async throws -> Bool {
    try await offPool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return try condition()
    }
}

@Suite(.serialized) struct PeerProviderTests {
    static let general = "elastos://peer/topic/%23general"

    @Test func aCapsuleConnectsByTicketAndSeesThePeer() async throws {
        let a = try await PeerTestNode(), b = try await PeerTestNode()
        let ca = try a.capsule("app"), cb = try b.capsule("app")
        let (me, connected, peers) = try await offPool { () throws -> (PeerSelf, PeerList, PeerList) in
            let me = try PeerSelf(decoding: try ca.call("elastos://peer/self", .read))
            let connected = try PeerList(decoding: try cb.call("elastos://peer/connect", .execute, Array(me.ticket.utf8)))
            let peers = try PeerList(decoding: try cb.call("elastos://peer/peers", .read))
            return (me, connected, peers)
        }
        #expect(me.peer == a.service.carrier.libp2pPeerID.description)
        #expect(me.did == a.node.did.description)
        #expect(me.ticket.hasPrefix(Ticket.prefix))
        #expect(me.addresses.allSatisfy { $0.hasPrefix("/ip4/127.0.0.1/tcp/") })
        #expect(connected.peers.map(\.peer) == [me.peer])
        #expect(connected.peers.first?.outbound == true)
        #expect(peers.peers.map(\.peer).contains(me.peer))
        // A malformed ticket is a clear error, not a crash or a hang.
        let refused = try await offPool { refusal { _ = try cb.call("elastos://peer/connect", .execute, Array("elastosnotaticket".utf8)) } }
        guard case .refused(let code, let message)? = refused else { Issue.record("a bad ticket was accepted"); return }
        #expect(code == .invalidRequest)
        #expect(message.contains("ticket"))
        await a.close(); await b.close()
    }

    @Test func topicMessagesReachEveryCapsuleOnBothNodes() async throws {
        let a = try await PeerTestNode(), b = try await PeerTestNode()
        let a1 = try a.capsule("chat-a"), b1 = try b.capsule("chat-native"), b2 = try b.capsule("chat-wasm")
        try await offPool {
            let ticket = try PeerSelf(decoding: try a1.call("elastos://peer/self", .read)).ticket
            _ = try b1.call("elastos://peer/connect", .execute, Array(ticket.utf8))
            for c in [a1, b1, b2] { _ = try c.guest.subscribe(uri: Self.general, token: try c.all()) }
        }
        // Each node learns that the other is on the topic.
        #expect(try await eventually { try PeerList(decoding: try a1.call(Self.general, .read)).peers.count == 1 })
        #expect(try await eventually { try PeerList(decoding: try b1.call(Self.general, .read)).peers.count == 1 })
        #expect(await a.service.pubsub.topics == ["#general"])

        let published = try await offPool { try PeerPublished(decoding: try a1.call(Self.general, .write, Array("hello from a".utf8))) }
        #expect(published.recipients == 1)
        let aPeer = a.service.carrier.libp2pPeerID.description, bPeer = b.service.carrier.libp2pPeerID.description
        let (atB1, atB2, atA1) = try await offPool { (try b1.nextMessage(), try b2.nextMessage(), try a1.nextMessage()) }
        #expect(atB1?.data == Array("hello from a".utf8) && atB1?.from == aPeer && atB1?.local == false)
        #expect(atB2?.data == Array("hello from a".utf8) && atB2?.local == false)
        // The publisher's own capsule hears it too, marked local.
        #expect(atA1?.data == Array("hello from a".utf8) && atA1?.local == true)

        // A capsule on B publishes: the other capsule on B (local) and the one on A hear it.
        _ = try await offPool { try b2.call(Self.general, .write, Array("hello from wasm".utf8)) }
        let (again1, againA) = try await offPool { (try b1.nextMessage(), try a1.nextMessage()) }
        #expect(again1?.data == Array("hello from wasm".utf8) && again1?.local == true && again1?.from == bPeer)
        #expect(againA?.data == Array("hello from wasm".utf8) && againA?.local == false && againA?.from == bPeer)
        await a.close(); await b.close()
    }

    @Test func oneCapsuleLeavingKeepsTheOthersSubscriptionAndTheLastLeavesTheTopic() async throws {
        let a = try await PeerTestNode()
        let c1 = try a.capsule("one"), c2 = try a.capsule("two")
        let s1 = try await offPool { () -> UInt32 in
            let s1 = try c1.guest.subscribe(uri: Self.general, token: try c1.all())
            _ = try c2.guest.subscribe(uri: Self.general, token: try c2.all())
            return s1
        }
        #expect(c1.handler.subscriptionCount == 1)
        try await offPool { try c1.guest.unsubscribe(s1) }
        #expect(c1.handler.subscriptionCount == 0)
        // Unsubscribing twice names the subscription.
        let again = try await offPool { refusal { try c1.guest.unsubscribe(s1) } }
        guard case .refused(.unknownSubscription, _)? = again else { Issue.record("second unsubscribe: \(String(describing: again))"); return }
        // c2 still hears messages on the topic.
        _ = try await offPool { try c1.call(Self.general, .write, Array("still here?".utf8)) }
        let heard = try await offPool { try c2.nextMessage() }
        #expect(heard?.data == Array("still here?".utf8))
        #expect(await a.service.pubsub.topics == ["#general"])
        // c2's capsule ends: its subscription ends with it and the node leaves the topic.
        c2.end()
        #expect(try await eventually { c2.handler.subscriptionCount == 0 })
        var left = false
        for _ in 0..<100 where !left {
            left = await a.service.pubsub.topics.isEmpty
            if !left { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(left)
        await a.close()
    }

    @Test func capabilityChecksGuardEveryOperation() async throws {
        let a = try await PeerTestNode()
        let c = try a.capsule("app")
        let results = try await offPool { () -> [String: GuestError?] in
            let attempt = refusal
            let readOnlyOther = try c.token("elastos://peer/topic/other", [.read])
            let readGeneral = try c.token(Self.general, [.read])
            return [
                "subscribe without token": attempt { _ = try c.guest.subscribe(uri: Self.general, token: []) },
                "subscribe other topic's token": attempt { _ = try c.guest.subscribe(uri: Self.general, token: readOnlyOther) },
                "publish with read-only token": attempt { _ = try c.call(Self.general, .write, [1], token: readGeneral) },
                "connect with read-only token": attempt { _ = try c.call("elastos://peer/connect", .execute, [1], token: readGeneral) },
                "subscribe with read token": attempt { _ = try c.guest.subscribe(uri: Self.general, token: readGeneral) },
                "bad topic encoding": attempt { _ = try c.call("elastos://peer/topic/%FF%FE", .write, [1]) },
                "oversized message": attempt { _ = try c.call(Self.general, .write, [UInt8](repeating: 7, count: PeerProvider.maxMessage + 1)) },
                "unknown resource": attempt { _ = try c.call("elastos://peer/nothing", .read) },
            ]
        }
        func code(_ key: String) -> CapsuleErrorCode? {
            if case .refused(let code, _)?? = results[key] { return code }
            return nil
        }
        #expect(code("subscribe without token") == .missingToken)
        #expect(code("subscribe other topic's token") == .denied)
        #expect(code("publish with read-only token") == .denied)
        #expect(code("connect with read-only token") == .denied)
        #expect(results["subscribe with read token"] == .some(nil))
        #expect(code("bad topic encoding") == .invalidURI)
        #expect(code("oversized message") == .invalidRequest)
        #expect(code("unknown resource") == .invalidRequest)
        await a.close()
    }

    @Test func peersComingAndGoingArePushed() async throws {
        let a = try await PeerTestNode(), b = try await PeerTestNode()
        let c = try a.capsule("watcher")
        _ = try await offPool { try c.guest.subscribe(uri: "elastos://peer/peers", token: try c.all()) }
        let bPeer = b.service.carrier.libp2pPeerID.description
        _ = try await b.service.connect(a.service.ticket.description)
        let up = try await offPool { try c.nextEvent() }
        #expect(up?.event == .peerConnected(peer: bPeer))
        await b.close()
        let down = try await offPool { try c.nextEvent() }
        #expect(down?.event == .peerDisconnected(peer: bPeer))
        await a.close()
    }

    @Test func withoutCarrierTheProviderSaysHowToStartIt() throws {
        let provider = PeerProvider()
        let session = Session(capsule: "x", version: "1", cid: "c", publisher: "p", trust: .node, substrate: "native", startedAt: 0)
        let result = provider.handle(ProviderCall(session: session, resource: try ResourceURI("elastos://peer/self"), action: .read, body: []))
        guard case .failed(let code, let message) = result else { Issue.record("answered without Carrier"); return }
        #expect(code == .noProvider)
        #expect(message.contains("--listen"))
    }
}
