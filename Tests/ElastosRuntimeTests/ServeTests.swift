#if canImport(Glibc)
import Glibc
#endif
import CapsuleWire
import ElastosCore
import ElastosGuest
@testable import ElastosRuntime
import ElastosWasm
import Foundation
import Synchronization
import Testing

/// Records what the channel reports; answers nothing itself (the tests only serve).
final class RecordingHandler: CapsuleRequestHandler {
    let refusals = Mutex<[SandboxRefusal]>([])
    func handle(_ request: CapsuleRequest, id: UInt32) -> RuntimeMessage { .error(code: .noProvider, message: "test") }
    func sandboxRefused(_ refusal: SandboxRefusal) { refusals.withLock { $0.append(refusal) } }
}

/// A channel over a socketpair with the guest SDK's connection on the other end, as a provider
/// capsule would have it.
struct ServePair {
    let channel: CapsuleChannel
    let guest: RuntimeConnection
    let handler = RecordingHandler()
    let guestFD: Int32

    init() throws {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { throw POSIXError(.EIO) }
        channel = CapsuleChannel(fd: fds[0], handler: handler)
        channel.start(name: "serve-test")
        guestFD = fds[1]
        guest = RuntimeConnection(fileDescriptor: fds[1])
    }

    /// Runs `provider` on its own thread, as the capsule's serve loop.
    func run(_ provider: @escaping @Sendable (RuntimeConnection) -> Void) {
        let guest = guest
        Thread.detachNewThread { provider(guest) }
    }
}

@Suite struct ServeTests {
    @Test func aServedCallReachesTheCapsuleAndItsAnswerTheCaller() throws {
        let pair = try ServePair()
        pair.run { guest in
            while let call = try? guest.nextCall(timeoutMilliseconds: 5000) {
                if call.body == Array("fail".utf8) {
                    try? guest.fail(call, code: .notFound, message: "no such thing")
                } else {
                    try? guest.answer(call, body: Array("\(call.caller) \(call.action) \(call.uri) ".utf8) + call.body)
                }
            }
        }
        let ok = pair.channel.serve(caller: "session:abc", uri: "localhost://storage/apps/x/y", action: .write,
                                    body: [1, 2, 3], timeout: .seconds(10))
        #expect(ok == .ok(Array("session:abc write localhost://storage/apps/x/y ".utf8) + [1, 2, 3]))
        let failed = pair.channel.serve(caller: "session:abc", uri: "localhost://storage/apps/x/z", action: .read,
                                        body: Array("fail".utf8), timeout: .seconds(10))
        #expect(failed == .failed(code: .notFound, message: "no such thing"))
        pair.channel.shutdown()
    }

    @Test func concurrentCallsGetTheirOwnAnswersWhateverTheOrder() throws {
        let pair = try ServePair()
        pair.run { guest in
            // Take four calls, then answer them in reverse order.
            var calls: [ServedCall] = []
            while calls.count < 4, let c = try? guest.nextCall(timeoutMilliseconds: 5000) { calls.append(c) }
            for c in calls.reversed() { try? guest.answer(c, body: c.body + c.body) }
        }
        let results = Mutex<[Int: ProviderResult]>([:])
        let done = DispatchGroup()
        let channel = pair.channel
        for i in 0..<4 {  // own threads: all four must be waiting at once
            done.enter()
            Thread.detachNewThread {
                let r = channel.serve(caller: "session:\(i)", uri: "elastos://x/\(i)", action: .read, body: [UInt8(i)], timeout: .seconds(10))
                results.withLock { $0[i] = r }
                done.leave()
            }
        }
        done.wait()
        for i in 0..<4 { #expect(results.withLock { $0[i] } == .ok([UInt8(i), UInt8(i)])) }
        pair.channel.shutdown()
    }

    @Test func aSilentCapsuleTimesOutAndItsLateAnswerIsRefused() throws {
        let pair = try ServePair()
        let late = Mutex<ServedCall?>(nil)
        pair.run { guest in
            if let c = try? guest.nextCall(timeoutMilliseconds: 5000) { late.withLock { $0 = c } }
        }
        let start = ContinuousClock.now
        let r = pair.channel.serve(caller: "session:a", uri: "elastos://x/slow", action: .read, body: [], timeout: .milliseconds(300))
        guard case .failed(.timedOut, _) = r else { Issue.record("expected timed_out, got \(r)"); return }
        #expect(ContinuousClock.now - start >= .milliseconds(300))
        // The answer after the deadline: refused and reported, not delivered anywhere.
        for _ in 0..<100 where late.withLock({ $0 }) == nil { usleep(10_000) }
        let call = try #require(late.withLock { $0 })
        try pair.guest.answer(call, body: [9])
        var refusals: [SandboxRefusal] = []
        for _ in 0..<200 { refusals = pair.handler.refusals.withLock { $0 }; if !refusals.isEmpty { break }; usleep(10_000) }
        #expect(refusals == [.unexpectedAnswer(id: call.id)])
        // …and the capsule is told.
        #expect(throws: GuestError.refused(code: .invalidRequest, message: "no call \(call.id) is waiting for an answer")) {
            try pair.guest.ping()
        }
        pair.channel.shutdown()
    }

    @Test func callsOutstandingWhenTheCapsuleEndsFailAndLaterOnesAreRefused() throws {
        let pair = try ServePair()
        let fd = pair.guestFD
        pair.run { guest in
            _ = try? guest.nextCall(timeoutMilliseconds: 5000)
            close(fd)  // the capsule dies holding the call
        }
        let r = pair.channel.serve(caller: "session:a", uri: "elastos://x/y", action: .read, body: [], timeout: .seconds(10))
        #expect(r == .failed(code: .providerFailed, message: "the provider capsule ended before answering"))
        for _ in 0..<100 {
            if pair.channel.serve(caller: "s", uri: "elastos://x/y", action: .read, body: [], timeout: .seconds(1))
                == .failed(code: .providerFailed, message: "the provider capsule is not running") { return }
            usleep(10_000)
        }
        Issue.record("a closed channel still took calls")
    }

    @Test func aCapsuleProviderWithNoCapsuleSaysSo() throws {
        let provider = CapsuleProvider(name: "storage")
        let session = Session(capsule: "app", version: "1", cid: "", publisher: "", trust: .trusted, substrate: "test", startedAt: 0)
        let call = ProviderCall(session: session, resource: try ResourceURI("localhost://storage/apps/app/x"), action: .read, body: [])
        #expect(provider.handle(call) == .failed(code: .providerFailed, message: "the storage provider capsule is not running"))
        let pair = try ServePair()
        pair.run { guest in
            if let c = try? guest.nextCall(timeoutMilliseconds: 5000) { try? guest.answer(c, body: Array(c.caller.utf8)) }
        }
        provider.bind(pair.channel)
        #expect(provider.handle(call) == .ok(Array(session.principal.utf8)))
        pair.channel.shutdown()
    }
}
