// Carries a libp2p connection over a relayed stream. The connection machinery (ConnectionHandler:
// Noise, then Yamux) is a NIO channel handler, so the circuit stream is bridged into a NIO
// channel through a local AF_UNIX socket pair: one end becomes the connection's channel, the
// other is pumped to and from the stream. Either side ending tears down both.
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

enum RelayedTransport {
    struct SocketPairFailed: Error, CustomStringConvertible {
        let errno: Int32
        var description: String { "socketpair failed (errno \(errno))" }
    }

    /// Creates the channel for a connection over `stream`, set up by `initializer`, and starts
    /// pumping bytes between the two. Returns once both channels exist, with the pump's task
    /// (the node waits for it before shutting its event loops down) and the pump's channel.
    static func bridge(
        _ stream: CarrierStream, group: any EventLoopGroup,
        initializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) async throws -> (pump: Task<Void, Never>, channel: any Channel) {
        var fds: [Int32] = [-1, -1]
        #if canImport(Darwin)
        let type = SOCK_STREAM
        #else
        let type = Int32(SOCK_STREAM.rawValue)
        #endif
        guard socketpair(AF_UNIX, type, 0, &fds) == 0 else { throw SocketPairFailed(errno: errno) }
        let connectionChannel: any Channel
        do {
            connectionChannel = try await ClientBootstrap(group: group).channelInitializer(initializer)
                .withConnectedSocket(fds[0]).get()
        } catch {
            close(fds[1])
            throw error
        }
        let pump: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            pump = try await ClientBootstrap(group: group).withConnectedSocket(fds[1]) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        } catch {
            try? await connectionChannel.close()
            throw error
        }
        let task = Task { () -> Void in
            _ = try? await pump.executeThenClose { inbound, outbound in
                await withTaskGroup(of: Void.self) { tasks in
                    tasks.addTask {  // connection → circuit
                        do {
                            for try await var buffer in inbound {
                                try await stream.write(buffer.readBytes(length: buffer.readableBytes) ?? [])
                            }
                        } catch {}
                        try? await stream.closeWrite()
                    }
                    tasks.addTask {  // circuit → connection
                        while let bytes = try? await stream.read() {
                            do { try await outbound.write(ByteBuffer(bytes: bytes)) } catch { break }
                        }
                    }
                    await tasks.next()
                    // Whichever side ended, the connection is over: end the other loop too.
                    stream.reset()
                    try? await pump.channel.close()
                }
            }
        }
        return (task, pump.channel)
    }
}

extension CarrierStream {
    /// Reads one length-prefixed message, resetting the stream if none has arrived within
    /// `timeout` (so a silent peer cannot hold a relay's or client's task forever).
    func readLengthPrefixed(limit: Int, timeout: Duration) async throws(CarrierError) -> [UInt8] {
        let timer = Task { [self] in
            try? await Task.sleep(for: timeout)
            if !Task.isCancelled { reset() }
        }
        defer { timer.cancel() }
        return try await readLengthPrefixed(limit: limit)
    }
}
