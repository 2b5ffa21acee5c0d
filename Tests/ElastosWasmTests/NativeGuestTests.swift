import CapsuleWire
import ElastosGuest
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The guest SDK's native path: frames over a stream socket, as a native capsule gets it in
/// `ELASTOS_CAPSULE_FD`. A fake runtime serves the other end of a socketpair.
@Suite struct NativeGuestTests {
    /// Answers requests on `fd` with `answer` until the peer closes; `before` frames go out
    /// ahead of each answer (events the runtime pushes meanwhile).
    final class FakeRuntime: @unchecked Sendable {
        let fd: Int32
        let seen = Mutex<[CapsuleFrame]>([])
        private let finished = DispatchSemaphore(value: 0)

        init(fd: Int32, before: @escaping @Sendable (CapsuleRequest) -> [CapsuleFrame] = { _ in [] },
             answer: @escaping @Sendable (CapsuleRequest) -> RuntimeMessage) {
            self.fd = fd
            Thread { [self] in
                var decoder = FrameStreamDecoder()
                var buffer = [UInt8](repeating: 0, count: 4096)
                serving: while true {
                    let n = read(fd, &buffer, buffer.count)
                    if n <= 0 { break }
                    decoder.append(buffer[0..<n])
                    while let item = try? decoder.next() {
                        guard case .frame(let frame) = item, case .request(let id, let request) = frame else { continue }
                        seen.withLock { $0.append(frame) }
                        var out: [UInt8] = []
                        for f in before(request) { out += f.encoded() }
                        out += CapsuleFrame.runtime(id: id, answer(request)).encoded()
                        if write(fd, out, out.count) != out.count { break serving }
                    }
                }
                close(fd)
                finished.signal()
            }.start()
        }

        func wait() { finished.wait() }
    }

    static func socketPair() throws -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        #if canImport(Glibc)
        let type = Int32(SOCK_STREAM.rawValue)
        #else
        let type = SOCK_STREAM
        #endif
        guard socketpair(AF_UNIX, type, 0, &fds) == 0 else { throw POSIXError(.EIO) }
        return (fds[0], fds[1])
    }

    static func standard(_ r: CapsuleRequest) -> RuntimeMessage {
        switch r {
        case .ping: .reply(body: [])
        case .info: .reply(body: Array(#"{"session":"s-7","capsule":"notes","cid":"bafy","substrate":"native","protocol":1}"#.utf8))
        case .call(_, _, let token, let body): token.isEmpty ? .error(code: .missingToken, message: "no token") : .reply(body: body.reversed())
        case .requestCapability: .reply(body: [9, 9, 9])
        case .subscribe: .reply(body: [0, 0, 0, 5])
        case .unsubscribe(let s): s == 5 ? .reply(body: []) : .error(code: .unknownSubscription, message: "no \(s)")
        case .served, .serveFailed: .error(code: .invalidRequest, message: "no call to answer")
        }
    }

    @Test func pingInfoAndCallsWorkOverASocket() throws {
        let (mine, theirs) = try Self.socketPair()
        let runtime = FakeRuntime(fd: theirs, answer: Self.standard)
        let rt = RuntimeConnection(fileDescriptor: mine)
        try rt.ping()
        let info = try rt.info()
        #expect(info.session == "s-7")
        #expect(info.capsule == "notes")
        #expect(info.substrate == "native")
        #expect(info.protocolVersion == 1)
        #expect(try rt.call(uri: "localhost://storage/x", action: .read, token: [1], body: [1, 2, 3]) == [3, 2, 1])
        #expect(try rt.requestCapability(uri: "localhost://storage/x/*", actions: ActionSet([.read]), reason: "test") == [9, 9, 9])
        close(mine)
        runtime.wait()
        let ids = runtime.seen.withLock { $0.map(\.id) }
        #expect(ids == [1, 2, 3, 4], "ids count up from 1")
    }

    @Test func refusalsBecomeTypedErrors() throws {
        let (mine, theirs) = try Self.socketPair()
        let runtime = FakeRuntime(fd: theirs, answer: Self.standard)
        let rt = RuntimeConnection(fileDescriptor: mine)
        #expect(throws: GuestError.refused(code: .missingToken, message: "no token")) {
            try rt.call(uri: "localhost://storage/x", action: .write, token: [], body: [])
        }
        #expect(throws: GuestError.refused(code: .unknownSubscription, message: "no 6")) { try rt.unsubscribe(6) }
        close(mine)
        runtime.wait()
    }

    @Test func eventsThatArriveBeforeAReplyAreKeptForNextEvent() throws {
        let (mine, theirs) = try Self.socketPair()
        let runtime = FakeRuntime(fd: theirs, before: { r in
            guard case .subscribe = r else { return [] }
            return [.runtime(id: 0, .event(subscription: 5, uri: "localhost://feed/a", body: [1])),
                    .runtime(id: 0, .event(subscription: 5, uri: "localhost://feed/b", body: [2]))]
        }, answer: Self.standard)
        let rt = RuntimeConnection(fileDescriptor: mine)
        #expect(try rt.subscribe(uri: "localhost://feed/*", token: [1]) == 5)
        #expect(try rt.nextEvent(timeoutMilliseconds: 1000) == Event(subscription: 5, uri: "localhost://feed/a", body: [1]))
        #expect(try rt.nextEvent(timeoutMilliseconds: 1000) == Event(subscription: 5, uri: "localhost://feed/b", body: [2]))
        #expect(try rt.nextEvent(timeoutMilliseconds: 50) == nil, "nothing more: times out")
        close(mine)
        runtime.wait()
    }

    @Test func aClosedConnectionIsReported() throws {
        let (mine, theirs) = try Self.socketPair()
        close(theirs)
        let rt = RuntimeConnection(fileDescriptor: mine)
        signal(SIGPIPE, SIG_IGN)
        #expect(throws: GuestError.self) { try rt.ping() }
        close(mine)
    }

    @Test func withoutADescriptorEveryCallSaysNotConnected() {
        let rt = RuntimeConnection(fileDescriptor: -1)
        #expect {
            try rt.ping()
        } throws: { error in
            guard case GuestError.notConnected = error else { return false }
            return true
        }
    }

    @Test func malformedFramesFromTheRuntimeAreTypedErrors() throws {
        let (mine, theirs) = try Self.socketPair()
        let garbage: [UInt8] = [0, 0, 0, 6, 9, 0x81, 0, 0, 0, 1]  // version 9
        Thread {
            var b = [UInt8](repeating: 0, count: 64)
            _ = read(theirs, &b, b.count)
            _ = write(theirs, garbage, garbage.count)
        }.start()
        let rt = RuntimeConnection(fileDescriptor: mine)
        #expect(throws: GuestError.malformedFrame(.unsupportedVersion(9))) { try rt.ping() }
        close(mine); close(theirs)
    }

    @Test func theGuestEncoderMatchesCapsuleWireByteForByte() {
        let long = String(repeating: "a", count: 4095) + "é" + "tail"          // é straddles the limit
        let exact = String(repeating: "b", count: 4094) + "é"                  // exactly 4096 bytes
        let emoji = String(repeating: "🙂", count: 1100)                       // 4-byte characters
        let strings = ["", "localhost://storage/apps/notes/today", long, exact, emoji, String(repeating: "z", count: 5000)]
        var requests: [CapsuleRequest] = [.ping, .info, .unsubscribe(subscription: 0xDEADBEEF)]
        for s in strings {
            requests.append(.call(uri: s, action: .write, token: [1, 2, 3], body: Array(repeating: 9, count: 300)))
            requests.append(.call(uri: s, action: .admin, token: [], body: []))
            requests.append(.requestCapability(uri: s, actions: ActionSet([.read, .delete]), reason: s))
            requests.append(.subscribe(uri: s, token: Array(repeating: 7, count: 185)))
            requests.append(.serveFailed(code: .conflict, message: s))
        }
        requests += [.served(body: []), .served(body: Array(repeating: 3, count: 70_000))]
        for (i, r) in requests.enumerated() {
            let id = UInt32(i) &* 2_654_435_761
            #expect(RequestEncoder.encode(id: id, r) == CapsuleFrame.request(id: id, r).encoded(), "\(r)")
        }
    }

    @Test func hostCallStatusesMatchTheGuestSDK() {
        // ElastosGuest treats anything above −10 as an error status and −n ≤ −10 as "need n
        // bytes"; the host's statuses must stay inside that band.
        #expect(ElastosWasmStatuses.all.allSatisfy { $0 < 0 && $0 >= -9 })
    }
}

import ElastosWasm

enum ElastosWasmStatuses {
    static var all: [Int32] { HostCallStatus.allCases.map(\.rawValue) + [HostCallStatus.lowest] }
}
