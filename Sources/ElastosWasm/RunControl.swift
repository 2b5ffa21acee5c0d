import Foundation
import Synchronization
internal import WasmKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a running guest is being stopped from outside.
enum Interruption: Sendable, Equatable {
    case wallClock(Duration)
    case cpuTime(Duration)
    case stopped(String)

    var exit: WasmExit {
        switch self {
        case .wallClock(let d): .wallClockExceeded(d)
        case .cpuTime(let d): .cpuTimeExceeded(d)
        case .stopped(let reason): .stopped(reason: reason)
        }
    }
}

/// Thrown out of a host function to end the guest when it has been interrupted; caught by
/// `WasmCapsule.run`, never seen by callers.
struct GuestInterrupted: Error {}

/// A non-Sendable WasmKit store, shared with the watchdog for one purpose: zeroing its fuel
/// from another thread to stop a guest that never calls the host. That write races with the
/// interpreter's own fuel charges by design (WasmKit 0.4.2 has no interrupt API); the watchdog
/// repeats it until the guest is gone, so a lost write only delays the stop by a millisecond.
final class StoreRef: @unchecked Sendable {
    let store: Store
    init(_ store: Store) { self.store = store }
    func zeroFuel() { store.fuel = Fuel(remaining: 0) }
}

/// The state one run shares between the guest's thread, the watchdog and callers of `push` and
/// `stop`: the queue of frames for `recv`, the interruption, and the wake-up pipe that
/// unblocks a guest waiting on stdin.
///
/// Two locks: `mailbox` guards the queue (the guest's hot path: every `send` queues a reply and
/// every `recv` takes one, on the same thread, so it is signalled only when someone waits), and
/// `watch` guards the interruption and the end of the run (what the watchdog sleeps on).
final class RunControl: @unchecked Sendable {
    private let mailbox = NSCondition()
    // Guarded by `mailbox`:
    private var frames: [[UInt8]] = []
    private var head = 0
    private var queuedBytes = 0
    private var receivers = 0
    private var closed = false

    private let watch = NSCondition()
    // Guarded by `watch`:
    private var cause: Interruption?
    private var finished = false
    private var storeRef: StoreRef?

    /// Set with `cause`, read without a lock on every host call.
    private let interruptedFlag = Atomic<Bool>(false)

    let maxQueuedBytes: Int
    /// Read end becomes readable when the run is interrupted; polled beside stdin.
    let wakeRead: Int32
    private let wakeWrite: Int32

    init(maxQueuedBytes: Int) {
        self.maxQueuedBytes = maxQueuedBytes
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            }
        }
        wakeRead = fds[0]; wakeWrite = fds[1]
    }

    deinit {
        if wakeRead >= 0 { close(wakeRead) }
        if wakeWrite >= 0 { close(wakeWrite) }
    }

    private static func locked<T>(_ c: NSCondition, _ body: () -> T) -> T {
        c.lock()
        defer { c.unlock() }
        return body()
    }

    var isInterrupted: Bool { interruptedFlag.load(ordering: .acquiring) }
    var interruption: Interruption? { Self.locked(watch) { cause } }

    /// Records the first interruption and wakes everything the guest could be waiting on.
    /// Returns false if the run is over or already interrupted.
    @discardableResult
    func interrupt(_ why: Interruption) -> Bool {
        let first = Self.locked(watch) { () -> Bool in
            guard cause == nil, !finished else { return false }
            cause = why
            interruptedFlag.store(true, ordering: .releasing)
            watch.broadcast()
            return true
        }
        guard first else { return false }
        Self.locked(mailbox) { mailbox.broadcast() }
        if wakeWrite >= 0 {
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)
        }
        return true
    }

    func attach(_ store: StoreRef) { Self.locked(watch) { storeRef = store } }

    /// The run is over: nothing more is queued, the watchdog lets go of the store.
    func finish() {
        Self.locked(watch) {
            finished = true
            storeRef = nil
            watch.broadcast()
        }
        Self.locked(mailbox) {
            closed = true
            frames = []; head = 0; queuedBytes = 0
            mailbox.broadcast()
        }
    }

    var hasRoom: Bool { Self.locked(mailbox) { queuedBytes < maxQueuedBytes } }

    /// Queues a frame for `recv`. `force` is for replies, which must never be lost (room was
    /// checked before the request was handled); events are dropped when the queue is full.
    @discardableResult
    func enqueue(_ frame: [UInt8], force: Bool) -> Bool {
        Self.locked(mailbox) {
            guard !closed, force || queuedBytes + frame.count <= maxQueuedBytes else { return false }
            frames.append(frame)
            queuedBytes += frame.count
            if receivers > 0 { mailbox.signal() }
            return true
        }
    }

    enum Received {
        case frame([UInt8])
        case timedOut
        case tooSmall(needed: Int)
    }

    /// The next frame if it fits in `capacity` (removed from the queue), waiting up to
    /// `timeout` (nil: until one arrives). Throws when the run is interrupted meanwhile.
    func receive(capacity: Int, timeout: Duration?) throws(GuestInterrupted) -> Received {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        mailbox.lock()
        defer { mailbox.unlock() }
        while true {
            if isInterrupted { throw GuestInterrupted() }
            if head < frames.count {
                let frame = frames[head]
                guard frame.count <= capacity else { return .tooSmall(needed: frame.count) }
                head += 1
                queuedBytes -= frame.count
                if head == frames.count { frames.removeAll(keepingCapacity: true); head = 0 }
                return .frame(frame)
            }
            receivers += 1
            defer { receivers -= 1 }
            if let deadline {
                let left = deadline - ContinuousClock.now
                if left <= .zero { return .timedOut }
                _ = mailbox.wait(until: Date(timeIntervalSinceNow: left.timeInterval))
            } else {
                mailbox.wait()
            }
        }
    }

    /// Sleeps up to `duration` unless interrupted first (for `poll_oneoff` on clocks only).
    func sleep(_ duration: Duration) throws(GuestInterrupted) {
        let deadline = ContinuousClock.now + duration
        mailbox.lock()
        defer { mailbox.unlock() }
        while !isInterrupted {
            let left = deadline - ContinuousClock.now
            if left <= .zero { return }
            _ = mailbox.wait(until: Date(timeIntervalSinceNow: left.timeInterval))
        }
        throw GuestInterrupted()
    }

    /// The watchdog: waits for the wall-clock deadline, a `stop`, or the end of the run; once
    /// interrupted, zeroes the guest's fuel every millisecond until the run is over.
    ///
    /// The CPU-time limit is checked against `cpuClock`, the guest thread's own CPU clock
    /// (`pthread_getcpuclockid`): time spent blocked in `recv`, on stdin or asleep is not
    /// charged. CPU time cannot run faster than the wall clock, so the watchdog sleeps for
    /// what is left of the budget and then looks again — no polling while the guest idles.
    func startWatchdog(limit: Duration?, cpuLimit: Duration? = nil, cpuClock: clockid_t? = nil) {
        let deadline = limit.map { ContinuousClock.now + $0 }
        let cpuLimit = cpuClock == nil ? nil : cpuLimit
        let thread = Thread { [self] in
            watch.lock()
            while !finished && cause == nil {
                var wake: Duration? = nil
                if let deadline, let limit {
                    let left = deadline - ContinuousClock.now
                    if left <= .zero {
                        watch.unlock()
                        interrupt(.wallClock(limit))
                        watch.lock()
                        break
                    }
                    wake = left
                }
                if let cpuLimit, let cpuClock {
                    let left = cpuLimit - Self.cpuTime(cpuClock)
                    if left <= .zero {
                        watch.unlock()
                        interrupt(.cpuTime(cpuLimit))
                        watch.lock()
                        break
                    }
                    // Never sleep less than a millisecond: the reading is coarse.
                    let nap = max(left, .milliseconds(1))
                    wake = wake.map { min($0, nap) } ?? nap
                }
                if let wake {
                    _ = watch.wait(until: Date(timeIntervalSinceNow: wake.timeInterval))
                } else {
                    watch.wait()
                }
            }
            watch.unlock()
            // Interrupted (or over). The store may not be attached yet if the guest is still
            // being instantiated; keep at it until the run has ended.
            while let store = Self.locked(watch, { finished ? nil : .some(storeRef) }) {
                store?.zeroFuel()
                usleep(1000)
            }
        }
        thread.name = "elastos-wasm-watchdog"
        thread.stackSize = 256 << 10
        thread.start()
    }
}

extension RunControl {
    /// CPU time consumed so far on `clock` (zero if it cannot be read).
    static func cpuTime(_ clock: clockid_t) -> Duration {
        var t = timespec()
        guard clock_gettime(clock, &t) == 0 else { return .zero }
        return .seconds(t.tv_sec) + .nanoseconds(t.tv_nsec)
    }

    /// The calling thread's CPU clock, for ``startWatchdog(limit:cpuLimit:cpuClock:)``.
    static func currentThreadCPUClock() -> clockid_t? {
        var clock = clockid_t()
        return pthread_getcpuclockid(pthread_self(), &clock) == 0 ? clock : nil
    }
}

extension Duration {
    var timeInterval: TimeInterval {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }
}
