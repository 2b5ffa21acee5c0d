import CarrierWire
import ElastosCore
import Testing
@testable import ElastosCarrier

/// Two Swift nodes over real TCP on loopback.
@Suite(.serialized) struct LoopbackTests {
    static let loopback4 = try! Multiaddr(parsing: "/ip4/127.0.0.1/tcp/0")
    static let loopback6 = try! Multiaddr(parsing: "/ip6/::1/tcp/0")

    func pair(listenOn address: Multiaddr = loopback4) async throws -> (dialer: CarrierNode, listener: CarrierNode, address: Multiaddr) {
        let listener = CarrierNode(identity: SigningKey())
        let bound = try await listener.start(listening: [address])
        let dialer = CarrierNode(identity: SigningKey())
        return (dialer, listener, try #require(bound.first).appending(peer: listener.peerID))
    }

    @Test func dialPingAndIdentifyOverIPv4() async throws {
        let (dialer, listener, address) = try await pair()
        let remote = try await dialer.dial(address)
        #expect(remote == Libp2pPeerID(listener.peerID))
        let rtts = try await dialer.ping(remote, count: 5)
        #expect(rtts.count == 5)
        let info = try #require(await dialer.waitForIdentify(remote))
        #expect(info.agentVersion == CarrierNode.agentVersion)
        #expect(info.protocols.contains(PingService.protocolID))
        #expect(info.listenAddrs == listener.listenAddrs)
        // The listener identified the dialer too.
        let back = try #require(await listener.waitForIdentify(Libp2pPeerID(dialer.peerID)))
        #expect(back.isOutbound == false)
        await dialer.stop()
        await listener.stop()
    }

    @Test func dialOverIPv6() async throws {
        let (dialer, listener, address) = try await pair(listenOn: Self.loopback6)
        #expect(address.description.hasPrefix("/ip6/::1/tcp/"))
        let remote = try await dialer.dial(address)
        #expect(try await dialer.ping(remote).count == 1)
        await dialer.stop()
        await listener.stop()
    }

    @Test func dialingTheWrongPeerIDFails() async throws {
        let (dialer, listener, address) = try await pair()
        let wrong = address.withoutPeerID.appending(peer: PeerID(publicKey: SigningKey().publicKey))
        await #expect(throws: CarrierError.self) { try await dialer.dial(wrong) }
        await dialer.stop()
        await listener.stop()
    }

    @Test func unknownProtocolIsRefusedAndManyStreamsEcho() async throws {
        let (dialer, listener, address) = try await pair()
        listener.handle("/test/echo/1.0.0") { stream in
            while let chunk = try? await stream.read() { try? await stream.write(chunk) }
            try? await stream.closeWrite()
        }
        let remote = try await dialer.dial(address)
        await #expect(throws: CarrierError.self) { try await dialer.openStream(to: remote, protocol: "/no/such/1.0.0") }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<100 {
                group.addTask {
                    let stream = try await dialer.openStream(to: remote, protocol: "/test/echo/1.0.0")
                    let message = (0..<(i * 997 % 70_000)).map { UInt8(truncatingIfNeeded: $0 &+ i) }
                    try await stream.write(message)
                    try await stream.closeWrite()
                    let echoed = try await stream.readToEnd(limit: 1 << 20)
                    #expect(echoed == message)
                }
            }
            try await group.waitForAll()
        }
        await dialer.stop()
        await listener.stop()
    }

    @Test func aReaderThatStopsReadingBoundsTheSendersBuffer() async throws {
        let (dialer, listener, address) = try await pair()
        let gate = AsyncGate()
        listener.handle("/test/sink/1.0.0") { stream in
            await gate.wait()  // do not read until told
            var total = 0
            while let chunk = try? await stream.read() { total += chunk.count }
            try? await stream.write(Array(String(total).utf8))
            try? await stream.closeWrite()
        }
        let remote = try await dialer.dial(address)
        let stream = try await dialer.openStream(to: remote, protocol: "/test/sink/1.0.0")
        let size = 2 * 1024 * 1024
        let finished = AsyncGate()
        let writer = Task {
            try await stream.write([UInt8](repeating: 0xAB, count: size))
            await finished.open()
        }
        try await Task.sleep(for: .milliseconds(300))
        // The write cannot finish: the peer granted only its 256 KiB window.
        #expect(await !finished.isOpen)
        let buffered = await listener.bufferedBytes()
        #expect(buffered <= Int(YamuxSession.initialWindow))
        #expect(buffered > 0)
        await gate.open()
        try await writer.value
        try await stream.closeWrite()
        let reply = try await stream.readToEnd(limit: 64)
        #expect(String(decoding: reply, as: UTF8.self) == String(size))
        await dialer.stop()
        await listener.stop()
    }

    @Test func aReaderThatKeepsUpGrowsItsWindowWithinTheBudget() async throws {
        let (dialer, listener, address) = try await pair()
        let drained = AsyncGate(), release = AsyncGate()
        listener.handle("/test/sink/1.0.0") { stream in
            var total = 0
            while let chunk = try? await stream.read() { total += chunk.count }
            await drained.open()
            await release.wait()  // keep the stream (and its window) until the test has looked
            try? await stream.write(Array(String(total).utf8))
            try? await stream.closeWrite()
        }
        let remote = try await dialer.dial(address)
        // The round trip that auto-tuning compares against is measured at connection start.
        try await Task.sleep(for: .milliseconds(50))
        let stream = try await dialer.openStream(to: remote, protocol: "/test/sink/1.0.0")
        let size = 32 * 1024 * 1024
        let chunk = [UInt8](repeating: 0x5A, count: 1 << 20)
        for _ in 0..<(size >> 20) { try await stream.write(chunk) }
        try await stream.closeWrite()
        await drained.wait()
        let growth = await listener.receiveWindowGrowth()
        #expect(growth > 0, "a reader that kept up with 32 MiB never had its window grown")
        #expect(growth <= Int(YamuxSession.maxStreamWindow - YamuxSession.initialWindow))
        await release.open()
        let reply = try await stream.readToEnd(limit: 64)
        #expect(String(decoding: reply, as: UTF8.self) == String(size))
        // The stream is gone on both sides: its growth is given back to the session's budget.
        try await Task.sleep(for: .milliseconds(50))
        #expect(await listener.receiveWindowGrowth() == 0)
        await dialer.stop()
        await listener.stop()
    }

    @Test func yamuxPingAndStreamLimit() async throws {
        let (dialer, listener, address) = try await pair()
        listener.handle("/test/hold/1.0.0") { stream in _ = try? await stream.readToEnd(limit: 10) }
        let remote = try await dialer.dial(address)
        _ = try await dialer.muxerPing(remote)
        var streams: [CarrierStream] = []
        var refused = 0
        for _ in 0..<(YamuxSession.defaultStreamLimit + 10) {
            do { streams.append(try await dialer.openStream(to: remote, protocol: "/test/hold/1.0.0")) } catch { refused += 1 }
        }
        #expect(refused >= 10)
        #expect(streams.count <= YamuxSession.defaultStreamLimit)
        await dialer.stop()
        await listener.stop()
    }
}

/// A one-shot gate for tests.
actor AsyncGate {
    private(set) var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }
    func open() {
        isOpen = true
        for w in waiters { w.resume() }
        waiters = []
    }
}
