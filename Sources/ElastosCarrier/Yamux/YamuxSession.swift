// A Yamux session over a decrypted byte stream (https://github.com/libp2p/specs/blob/master/yamux/README.md).
// Flow control: each direction of each stream starts with a 256 KiB window. We grant more only
// as the application reads, so a peer can never make us buffer more than one window per stream;
// a peer that sends beyond its window is a protocol error (go-away, then close). Our own writes
// wait for the peer's window updates. Streams per session are capped.
// Window auto-tuning (as go-yamux does): when a reader takes a whole window in less than four
// round trips, the window was what held the sender back, so the stream's window doubles, up to
// 16 MiB per stream and 32 MiB of growth per session. A reader that does not keep up never grows
// its window, so what a peer can make us buffer stays bounded.
// Keep-alive: when nothing has arrived for a keep-alive interval the session pings the peer, and
// a ping unanswered within the timeout ends the session (as go-yamux does, 30 s and 10 s by
// default), so a connection whose peer vanished without a FIN or RST does not linger.
//
// Event-loop bound: every method runs on the connection's event loop (see YamuxStreamHandle).
import CarrierWire
import NIOCore

/// How a session checks that an idle peer is still there.
public struct YamuxKeepAlive: Sendable, Equatable {
    /// How long the session may hear nothing before it pings.
    public var interval: Duration
    /// How long a keep-alive ping may go unanswered before the session is closed.
    public var timeout: Duration

    public init(interval: Duration, timeout: Duration) {
        self.interval = interval
        self.timeout = timeout
    }

    /// go-yamux's defaults (the session used by go-libp2p and kubo).
    public static let standard = YamuxKeepAlive(interval: .seconds(30), timeout: .seconds(10))
}

final class YamuxSession {
    static let initialWindow: UInt32 = 256 * 1024
    /// The largest a stream's receive window grows (go-yamux's default maximum).
    static let maxStreamWindow: UInt32 = 16 * 1024 * 1024
    /// How much all of a session's streams may grow their windows beyond the initial one, together.
    static let windowGrowthBudget = 32 * 1024 * 1024
    /// Largest Data body we send: header and body then fit one Noise frame.
    static let maxDataFrame = NoiseFraming.maxPlaintextLength - YamuxFrameHeader.size
    static let defaultStreamLimit = 256

    private struct Stream {
        var received: [UInt8] = []
        var readIndex = 0
        /// Bytes the peer may still send us.
        var receiveWindow = YamuxSession.initialWindow
        /// Bytes consumed by the reader since our last window update.
        var consumed: UInt32 = 0
        /// The window we keep granting (grows by auto-tuning).
        var windowSize = YamuxSession.initialWindow
        /// When the last window update went out (or the stream opened).
        var epochStart = NIODeadline.now()
        /// Bytes we may still send.
        var sendWindow = YamuxSession.initialWindow
        var pendingWrites: [(bytes: [UInt8], offset: Int, promise: EventLoopPromise<Void>?)] = []
        var pendingRead: EventLoopPromise<[UInt8]?>?
        var remoteClosed = false
        var localClosed = false
        var reset = false

        var buffered: Int { received.count - readIndex }
    }

    let eventLoop: any EventLoop
    let isInitiator: Bool
    let streamLimit: Int
    private var nextStreamID: UInt32
    private var streams: [UInt32: Stream] = [:]
    /// Streams closed in both directions and forgotten, so a late read still sees a clean EOF.
    private var finished: Set<UInt32> = []
    private var inbound: [UInt8] = []
    private var nextPingID: UInt32 = 1
    private var pendingPings: [UInt32: (start: NIODeadline, promise: EventLoopPromise<TimeAmount>)] = [:]
    /// When the last frame arrived (keep-alive pings only when this is an interval old).
    private var lastReceived = NIODeadline.now()
    private var keepAliveTask: RepeatedTask?
    private var keepAlivePending = false
    /// Keep-alive pings sent and answered (for tests and diagnostics).
    private(set) var keepAlivePings = 0
    /// The last ping round trip (window auto-tuning needs it; nil until one was answered).
    private(set) var roundTrip: TimeAmount?
    /// Bytes by which streams' windows have grown beyond the initial window, over all streams.
    private(set) var windowGrowth = 0
    private(set) var isClosed = false
    private(set) var remoteWentAway = false
    private var closeError: YamuxError = .sessionClosed

    /// Sends plaintext to the peer (the connection encrypts and writes it).
    var output: ([UInt8]) -> Void = { _ in }
    /// Called for each stream the peer opens.
    var onInboundStream: (UInt32) -> Void = { _ in }
    /// Called once when the session fails and the connection must be closed.
    var onFatalError: (YamuxError) -> Void = { _ in }

    init(eventLoop: any EventLoop, isInitiator: Bool, streamLimit: Int = YamuxSession.defaultStreamLimit) {
        self.eventLoop = eventLoop
        self.isInitiator = isInitiator
        self.streamLimit = streamLimit
        nextStreamID = isInitiator ? 1 : 2
    }

    var streamCount: Int { streams.count }

    /// Received bytes no reader has taken yet, over all streams.
    var bufferedBytes: Int { streams.values.reduce(0) { $0 + $1.buffered } }

    // MARK: Receiving

    /// Feeds decrypted bytes from the peer.
    func receive(_ bytes: [UInt8]) {
        guard !isClosed else { return }
        lastReceived = NIODeadline.now()
        if inbound.isEmpty { inbound = bytes } else { inbound += bytes }
        var index = 0
        while inbound.count - index >= YamuxFrameHeader.size {
            let header: YamuxFrameHeader
            do { header = try YamuxFrameHeader(decoding: inbound[index..<(index + YamuxFrameHeader.size)]) } catch {
                return fail(.wire(error), code: .protocolError)
            }
            var bodyLength = 0
            if header.kind == .data {
                // The window caps how much we hold; check before waiting for the body.
                let window = streams[header.streamID]?.receiveWindow ?? Self.initialWindow
                if header.length > window {
                    return fail(.windowExceeded(streamID: header.streamID, length: header.length, window: window), code: .protocolError)
                }
                bodyLength = Int(header.length)
                guard inbound.count - index - YamuxFrameHeader.size >= bodyLength else { break }
            }
            let bodyStart = index + YamuxFrameHeader.size
            let body = inbound[bodyStart..<(bodyStart + bodyLength)]
            index = bodyStart + bodyLength
            handle(header, body: body)
            if isClosed { return }
        }
        if index > 0 { inbound.removeFirst(index) }
    }

    private func handle(_ header: YamuxFrameHeader, body: ArraySlice<UInt8>) {
        switch header.kind {
        case .ping:
            if header.flags.contains(.syn) {
                send(YamuxFrameHeader(kind: .ping, flags: .ack, streamID: 0, length: header.length))
            } else if header.flags.contains(.ack), let ping = pendingPings.removeValue(forKey: header.length) {
                let elapsed = NIODeadline.now() - ping.start
                roundTrip = elapsed
                ping.promise.succeed(elapsed)
            }
        case .goAway:
            remoteWentAway = true
        case .data, .windowUpdate:
            handleStreamFrame(header, body: body)
        }
    }

    private func handleStreamFrame(_ header: YamuxFrameHeader, body: ArraySlice<UInt8>) {
        let id = header.streamID
        if header.flags.contains(.syn) {
            guard streams[id] == nil, id != 0 else { return fail(.wire(.yamux("SYN for open stream \(id)")), code: .protocolError) }
            guard (id % 2 == 1) != isInitiator else { return fail(.wrongStreamIDParity(id), code: .protocolError) }
            guard streams.count < streamLimit else {
                send(YamuxFrameHeader(kind: .windowUpdate, flags: .rst, streamID: id, length: 0))
                return
            }
            streams[id] = Stream()
            send(YamuxFrameHeader(kind: .windowUpdate, flags: .ack, streamID: id, length: 0))
            onInboundStream(id)
        }
        guard var stream = streams[id] else {
            // Frames for a stream we already forgot (reset, or fully closed) are dropped, as go-yamux does.
            return
        }
        if header.kind == .windowUpdate {
            stream.sendWindow = stream.sendWindow.addingReportingOverflow(header.length).overflow ? UInt32.max : stream.sendWindow + header.length
        } else if !body.isEmpty {
            // The stream still exists, so the window check in receive() applied.
            stream.receiveWindow -= UInt32(body.count)
            if stream.readIndex == stream.received.count { stream.received.removeAll(keepingCapacity: true); stream.readIndex = 0 }
            stream.received += body
        }
        if header.flags.contains(.fin) { stream.remoteClosed = true }
        if header.flags.contains(.rst) { stream.reset = true; stream.remoteClosed = true }
        streams[id] = stream
        if stream.reset {
            failStream(id, .streamReset)
            return
        }
        deliverRead(id)
        flushWrites(id)
        removeIfDone(id)
    }

    // MARK: Stream operations (called through YamuxStreamHandle)

    /// Opens a new outbound stream (SYN on a window update, delta 0).
    func openStream() throws(YamuxError) -> UInt32 {
        guard !isClosed else { throw closeError }
        guard !remoteWentAway else { throw .goneAway }
        guard streams.count < streamLimit else { throw .tooManyStreams(limit: streamLimit) }
        let id = nextStreamID
        nextStreamID &+= 2
        streams[id] = Stream()
        send(YamuxFrameHeader(kind: .windowUpdate, flags: .syn, streamID: id, length: 0))
        return id
    }

    /// Completes with the next received bytes, or nil once the peer closed its side.
    func read(_ id: UInt32, promise: EventLoopPromise<[UInt8]?>) {
        guard var stream = streams[id] else {
            if finished.contains(id) { return promise.succeed(nil) }
            return promise.fail(isClosed ? closeError : .streamReset)
        }
        guard stream.pendingRead == nil else { return promise.fail(YamuxError.wire(.yamux("concurrent reads on one stream"))) }
        stream.pendingRead = promise
        streams[id] = stream
        deliverRead(id)
        removeIfDone(id)
    }

    /// Puts bytes back at the front of the read buffer (what a negotiation read too far).
    func unread(_ id: UInt32, _ bytes: [UInt8]) {
        guard var stream = streams[id], !bytes.isEmpty else { return }
        stream.received = bytes + stream.received[stream.readIndex...]
        stream.readIndex = 0
        // These bytes were already counted as consumed; take them back from the pending credit.
        stream.consumed = stream.consumed >= UInt32(bytes.count) ? stream.consumed - UInt32(bytes.count) : 0
        streams[id] = stream
    }

    func write(_ id: UInt32, _ bytes: [UInt8], promise: EventLoopPromise<Void>?) {
        guard var stream = streams[id], !stream.reset else { promise?.fail(isClosed ? closeError : .streamReset); return }
        guard !stream.localClosed else { promise?.fail(YamuxError.streamClosedForWriting); return }
        stream.pendingWrites.append((bytes, 0, promise))
        streams[id] = stream
        flushWrites(id)
    }

    /// Half-closes our side (FIN) once queued writes are sent.
    func closeWrite(_ id: UInt32, promise: EventLoopPromise<Void>?) {
        guard var stream = streams[id] else { promise?.succeed(()); return }
        guard !stream.localClosed else { promise?.succeed(()); return }
        stream.localClosed = true
        stream.pendingWrites.append(([], 0, promise))  // the FIN marker, sent in order
        streams[id] = stream
        flushWrites(id)
        removeIfDone(id)
    }

    func reset(_ id: UInt32) {
        guard streams[id] != nil else { return }
        send(YamuxFrameHeader(kind: .windowUpdate, flags: .rst, streamID: id, length: 0))
        failStream(id, .streamReset)
    }

    func ping(promise: EventLoopPromise<TimeAmount>) {
        guard !isClosed else { return promise.fail(closeError) }
        let id = nextPingID
        nextPingID &+= 1
        pendingPings[id] = (NIODeadline.now(), promise)
        send(YamuxFrameHeader(kind: .ping, flags: .syn, streamID: 0, length: id))
    }

    /// Sends one ping so the round trip is known (window auto-tuning waits for it).
    func measureRoundTrip() {
        ping(promise: eventLoop.makePromise(of: TimeAmount.self))
    }

    /// Starts checking, every `keepAlive.interval`, that the peer still answers when idle.
    func startKeepAlive(_ keepAlive: YamuxKeepAlive) {
        guard keepAliveTask == nil, !isClosed else { return }
        let interval = TimeAmount(keepAlive.interval), timeout = TimeAmount(keepAlive.timeout)
        let session = NIOLoopBound(self, eventLoop: eventLoop)
        keepAliveTask = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            session.value.keepAliveTick(interval: interval, timeout: timeout)
        }
    }

    private func keepAliveTick(interval: TimeAmount, timeout: TimeAmount) {
        guard !isClosed, !keepAlivePending else { return }
        // Traffic within the interval (a little slack for timer drift) proves the peer is there.
        guard NIODeadline.now() - lastReceived >= .nanoseconds(interval.nanoseconds / 10 * 9) else { return }
        keepAlivePending = true
        let promise = eventLoop.makePromise(of: TimeAmount.self)
        let session = NIOLoopBound(self, eventLoop: eventLoop)
        let expiry = eventLoop.scheduleTask(in: timeout) {
            let session = session.value
            guard session.keepAlivePending, !session.isClosed else { return }
            session.fail(.keepAliveTimeout, code: .internalError)
        }
        promise.futureResult.whenComplete { result in
            expiry.cancel()
            let session = session.value
            session.keepAlivePending = false
            if case .success = result { session.keepAlivePings += 1 }
        }
        ping(promise: promise)
    }

    func goAway() {
        guard !isClosed else { return }
        send(YamuxFrameHeader(kind: .goAway, streamID: 0, length: YamuxFrameHeader.GoAwayCode.normal.rawValue))
    }

    /// The connection is gone: fail everything still waiting.
    func close(_ error: YamuxError = .sessionClosed) {
        guard !isClosed else { return }
        isClosed = true
        closeError = error
        keepAliveTask?.cancel()
        keepAliveTask = nil
        for id in Array(streams.keys) { failStream(id, error) }
        for (_, ping) in pendingPings { ping.promise.fail(error) }
        pendingPings = [:]
    }

    // MARK: Internals

    private func fail(_ error: YamuxError, code: YamuxFrameHeader.GoAwayCode) {
        send(YamuxFrameHeader(kind: .goAway, streamID: 0, length: code.rawValue))
        close(error)
        onFatalError(error)
    }

    private func send(_ header: YamuxFrameHeader, body: ArraySlice<UInt8> = []) {
        guard !isClosed else { return }
        var frame = header.bytes
        frame += body
        output(frame)
    }

    private func deliverRead(_ id: UInt32) {
        guard var stream = streams[id], let promise = stream.pendingRead else { return }
        if stream.buffered > 0 {
            let chunk = Array(stream.received[stream.readIndex...])
            stream.received.removeAll(keepingCapacity: true)
            stream.readIndex = 0
            stream.pendingRead = nil
            stream.consumed += UInt32(chunk.count)
            // Grant the peer more window once half of it has been read.
            if stream.consumed >= stream.windowSize / 2 && !stream.remoteClosed {
                let growth = autoTune(&stream)
                send(YamuxFrameHeader(kind: .windowUpdate, streamID: id, length: stream.consumed + growth))
                stream.receiveWindow += stream.consumed + growth
                stream.consumed = 0
            }
            streams[id] = stream
            promise.succeed(chunk)
        } else if stream.remoteClosed {
            stream.pendingRead = nil
            streams[id] = stream
            promise.succeed(nil)
        }
    }

    /// go-yamux's rule: a window consumed within four round trips of the last update was too
    /// small, so it doubles (within the stream maximum and the session's budget). Returns the
    /// extra window to grant.
    private func autoTune(_ stream: inout Stream) -> UInt32 {
        let now = NIODeadline.now()
        defer { stream.epochStart = now }
        guard let roundTrip, now - stream.epochStart < roundTrip * 4, stream.windowSize < Self.maxStreamWindow else { return 0 }
        let grown = min(stream.windowSize * 2, Self.maxStreamWindow)
        let growth = min(Int(grown - stream.windowSize), Self.windowGrowthBudget - windowGrowth)
        guard growth > 0 else { return 0 }
        windowGrowth += growth
        stream.windowSize += UInt32(growth)
        return UInt32(growth)
    }

    private func flushWrites(_ id: UInt32) {
        guard var stream = streams[id], !isClosed else { return }
        while !stream.pendingWrites.isEmpty {
            var write = stream.pendingWrites[0]
            if write.bytes.isEmpty && write.offset == 0 && stream.localClosed && stream.pendingWrites.count == 1 {
                send(YamuxFrameHeader(kind: .data, flags: .fin, streamID: id, length: 0))
                stream.pendingWrites.removeFirst()
                write.promise?.succeed(())
                continue
            }
            if write.bytes.isEmpty { stream.pendingWrites.removeFirst(); write.promise?.succeed(()); continue }
            guard stream.sendWindow > 0 else { break }
            let count = min(Int(stream.sendWindow), Self.maxDataFrame, write.bytes.count - write.offset)
            send(YamuxFrameHeader(kind: .data, streamID: id, length: UInt32(count)),
                 body: write.bytes[write.offset..<(write.offset + count)])
            stream.sendWindow -= UInt32(count)
            write.offset += count
            if write.offset == write.bytes.count {
                stream.pendingWrites.removeFirst()
                write.promise?.succeed(())
            } else {
                stream.pendingWrites[0] = write
            }
        }
        streams[id] = stream
    }

    private func failStream(_ id: UInt32, _ error: YamuxError) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        windowGrowth -= Int(stream.windowSize - Self.initialWindow)
        stream.pendingRead?.fail(error)
        for write in stream.pendingWrites { write.promise?.fail(error) }
    }

    private func removeIfDone(_ id: UInt32) {
        guard let stream = streams[id] else { return }
        if stream.localClosed && stream.remoteClosed && stream.pendingWrites.isEmpty && stream.buffered == 0 && stream.pendingRead == nil {
            streams.removeValue(forKey: id)
            windowGrowth -= Int(stream.windowSize - Self.initialWindow)
            if finished.count >= 4096 { finished.removeAll() }
            finished.insert(id)
        }
    }
}
