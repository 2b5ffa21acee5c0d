// The one channel handler of a libp2p connection: runs the upgrade (ConnectionUpgrade) on the
// raw bytes, then decrypts into the Yamux session and encrypts what the session sends.
import CarrierWire
import ElastosCore
import NIOCore

final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let handshakeTimeout = TimeAmount.seconds(10)

    private var upgrade: ConnectionUpgrade?
    private var transport: NoiseTransport?
    private var session: YamuxSession?
    private let established: EventLoopPromise<Established>
    private var context: ChannelHandlerContext?
    private var timeout: Scheduled<Void>?
    private var settled = false

    /// What the node learns when the upgrade finishes.
    struct Established {
        let remotePeer: Libp2pPeerID
        let session: NIOLoopBound<YamuxSession>
    }

    /// Called on the event loop for each stream the peer opens (after `established`).
    let onInboundStream: @Sendable (YamuxStreamHandle) -> Void

    /// How the session checks an idle peer (nil: it does not).
    let keepAlive: YamuxKeepAlive?

    init(role: NoiseHandshake.Role, identity: SigningKey, expectedPeer: Libp2pPeerID?, keepAlive: YamuxKeepAlive? = .standard,
         established: EventLoopPromise<Established>, onInboundStream: @escaping @Sendable (YamuxStreamHandle) -> Void) {
        upgrade = ConnectionUpgrade(role: role, identity: identity, expectedPeer: expectedPeer)
        self.keepAlive = keepAlive
        self.established = established
        self.onInboundStream = onInboundStream
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard let upgrade, timeout == nil else { return }
        let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        timeout = context.eventLoop.scheduleTask(in: Self.handshakeTimeout) {
            handler.value.settle(.failure(ConnectionError.handshakeTimeout))
            loopBoundContext.value.close(promise: nil)
        }
        write(upgrade.start(), context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        if var upgrade {
            do {
                let output = try upgrade.receive(bytes)
                write(output, context: context)
            } catch {
                self.upgrade = nil
                settle(.failure(error))
                context.close(promise: nil)
                return
            }
            if upgrade.phase == .ready, let peer = upgrade.remotePeer, let transport = upgrade.transport {
                self.upgrade = nil
                timeout?.cancel()
                self.transport = transport
                let leftover = upgrade.takeLeftover()
                let session = startSession(context: context, isInitiator: upgrade.role == .initiator)
                settle(.success(Established(remotePeer: peer, session: NIOLoopBound(session, eventLoop: context.eventLoop))))
                if !leftover.isEmpty { session.receive(leftover) }
            } else {
                self.upgrade = upgrade
            }
            return
        }
        guard var transport, let session else { return }
        do {
            let plaintext = try transport.decrypt(bytes)
            self.transport = transport
            session.receive(plaintext)
        } catch {
            session.close(.sessionClosed)
            context.close(promise: nil)
        }
    }

    private func startSession(context: ChannelHandlerContext, isInitiator: Bool) -> YamuxSession {
        let session = YamuxSession(eventLoop: context.eventLoop, isInitiator: isInitiator)
        let loopBoundSession = NIOLoopBound(session, eventLoop: context.eventLoop)
        session.output = { [unowned self] plaintext in
            guard var transport = self.transport, let context = self.context else { return }
            do {
                let ciphertext = try transport.encrypt(plaintext)
                self.transport = transport
                self.write(ciphertext, context: context)
            } catch {
                context.close(promise: nil)
            }
        }
        session.onInboundStream = { [onInboundStream] id in
            onInboundStream(YamuxStreamHandle(id: id, session: loopBoundSession))
        }
        session.onFatalError = { [unowned self] _ in
            self.context?.close(promise: nil)
        }
        self.session = session
        session.measureRoundTrip()
        if let keepAlive { session.startKeepAlive(keepAlive) }
        return session
    }

    /// Completes `established` exactly once.
    private func settle(_ result: Result<Established, any Error>) {
        guard !settled else { return }
        settled = true
        established.completeWith(result)
    }

    private func write(_ bytes: [UInt8], context: ChannelHandlerContext) {
        guard !bytes.isEmpty else { return }
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timeout?.cancel()
        settle(.failure(ConnectionError.closed))
        session?.close(.sessionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        session?.output = { _ in }
    }
}
