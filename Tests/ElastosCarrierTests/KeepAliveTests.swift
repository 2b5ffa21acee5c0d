import CarrierWire
import ElastosCore
import Foundation
import Synchronization
import Testing
@testable import ElastosCarrier
#if canImport(Glibc)
import Glibc
#endif

/// Yamux keep-alive between two Swift nodes through a TCP relay on loopback that can swallow
/// everything (a peer that vanished without FIN or RST: a dead NAT mapping, a pulled cable).
@Suite(.serialized) struct KeepAliveTests {
    static let fast = YamuxKeepAlive(interval: .milliseconds(150), timeout: .milliseconds(300))

    @Test func anIdleHealthyConnectionIsPingedAndStaysUp() async throws {
        let listener = CarrierNode(identity: SigningKey(), keepAlive: Self.fast)
        let bound = try #require(try await listener.start(listening: [LoopbackTests.loopback4]).first)
        let proxy = try SwallowingProxy(to: bound)
        defer { proxy.stop() }
        let dialer = CarrierNode(identity: SigningKey(), keepAlive: Self.fast)
        let remote = try await dialer.dial(proxy.address.appending(peer: listener.peerID))
        _ = await dialer.waitForIdentify(remote)
        try await Task.sleep(for: .milliseconds(300))
        let before = proxy.forwarded
        // Nothing of ours talks for ten intervals: only keep-alive frames cross the relay.
        try await Task.sleep(for: .milliseconds(1500))
        let during = proxy.forwarded - before
        #expect(during > 0, "no keep-alive traffic on an idle connection")
        #expect(await dialer.peers().contains { $0.peer == remote })
        #expect(try await dialer.ping(remote).count == 1)
        await dialer.stop()
        await listener.stop()
    }

    @Test func aPeerThatVanishesIsDroppedAfterTheTimeout() async throws {
        let listener = CarrierNode(identity: SigningKey(), keepAlive: nil)
        let bound = try #require(try await listener.start(listening: [LoopbackTests.loopback4]).first)
        let proxy = try SwallowingProxy(to: bound)
        defer { proxy.stop() }
        let dialer = CarrierNode(identity: SigningKey(), keepAlive: Self.fast)
        let remote = try await dialer.dial(proxy.address.appending(peer: listener.peerID))
        #expect(try await dialer.ping(remote).count == 1)
        proxy.swallow()
        let start = ContinuousClock.now
        var connected = true
        while connected, ContinuousClock.now - start < .seconds(10) {
            try await Task.sleep(for: .milliseconds(25))
            connected = await dialer.peers().contains { $0.peer == remote }
        }
        let elapsed = ContinuousClock.now - start
        #expect(!connected, "the connection to a silent peer outlived the keep-alive timeout")
        // At most an interval of silence, the tick after it, then the timeout (plus scheduling slack).
        #expect(elapsed < .seconds(3), "dropped after \(elapsed)")
        #expect(elapsed >= .milliseconds(300), "dropped after \(elapsed), before any ping could time out")
        await dialer.stop()
        await listener.stop()
    }

    @Test func withoutKeepAliveASilentPeerIsNotNoticed() async throws {
        let listener = CarrierNode(identity: SigningKey(), keepAlive: nil)
        let bound = try #require(try await listener.start(listening: [LoopbackTests.loopback4]).first)
        let proxy = try SwallowingProxy(to: bound)
        defer { proxy.stop() }
        let dialer = CarrierNode(identity: SigningKey(), keepAlive: nil)
        let remote = try await dialer.dial(proxy.address.appending(peer: listener.peerID))
        _ = await dialer.waitForIdentify(remote)
        try await Task.sleep(for: .milliseconds(200))
        let before = proxy.forwarded
        proxy.swallow()
        try await Task.sleep(for: .milliseconds(1000))
        // The control case for the test above: no pings were sent, and nothing closed the connection.
        #expect(proxy.forwarded == before)
        #expect(await dialer.peers().contains { $0.peer == remote })
        await dialer.stop()
        await listener.stop()
    }
}

/// A TCP relay for one connection: forwards both ways, counting bytes, until `swallow()`, after
/// which it reads and discards everything, so neither end sees data, FIN or RST.
final class SwallowingProxy: Sendable {
    let address: Multiaddr
    private let listenFD: Int32
    private struct State { var forwarded = 0; var swallowing = false; var stopped = false; var fds: [Int32] = [] }
    private let state = Mutex(State())

    var forwarded: Int { state.withLock { $0.forwarded } }
    func swallow() { state.withLock { $0.swallowing = true } }

    init(to target: Multiaddr) throws {
        guard let (host, port) = target.tcpEndpoint, host == "127.0.0.1" else { throw ProxyError("need a 127.0.0.1 target") }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 1) == 0 else { close(fd); throw ProxyError("cannot listen") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        listenFD = fd
        address = try Multiaddr(parsing: "/ip4/127.0.0.1/tcp/\(UInt16(bigEndian: addr.sin_port))")
        let listenFD = fd
        Thread { [self] in
            let client = accept(listenFD, nil, nil)
            guard client >= 0 else { return }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var to = Self.loopback(port: port)
            let connected = withUnsafePointer(to: &to) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard connected == 0 else { close(client); close(upstream); return }
            state.withLock { $0.fds += [client, upstream] }
            Thread { self.pump(from: client, to: upstream) }.start()
            self.pump(from: upstream, to: client)
        }.start()
    }

    private func pump(from source: Int32, to sink: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            let (swallowing, stopped) = state.withLock { s in
                if !s.swallowing { s.forwarded += n }
                return (s.swallowing, s.stopped)
            }
            if stopped { break }
            if swallowing { continue }
            var offset = 0
            while offset < n {
                let w = buffer.withUnsafeBytes { write(sink, $0.baseAddress! + offset, n - offset) }
                guard w > 0 else { return }
                offset += w
            }
        }
        shutdown(sink, Int32(SHUT_WR))
    }

    func stop() {
        let fds = state.withLock { s -> [Int32] in s.stopped = true; return s.fds }
        shutdown(listenFD, Int32(SHUT_RDWR))
        close(listenFD)
        for fd in fds { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }
}

struct ProxyError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
