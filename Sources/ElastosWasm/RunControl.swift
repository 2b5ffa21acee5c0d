import Foundation
internal import WasmKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a running guest is being stopped from outside.
enum Interruption: Sendable, Equatable {
    case wallClock(Duration)
    case stopped(String)

    var exit: WasmExit {
        switch self {
        case .wallClock(let d): .wallClockExceeded(d)
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
final class RunControl: @unchecked Sendable {
    // Everything below is guarded by `condition`'s lock.
    private let condition = NSCondition()
    private var frames: [[UInt8]] = []
    private var head = 0
    private var queuedBytes = 0
    private(set) var cause: Interruption?
    private var finished = false
    private var storeRef: StoreRef?

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

    private func locked<T>(_ body: () throws(GuestInterrupted) -> T) throws(GuestInterrupted) -> T {
        condition.lock()
        defer { condition.unlock() }
        return try body()
    }

    private func locked<T>(_ body: () -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        return body()
    }

    var isInterrupted: Bool { locked { cause != nil } }
    var interruption: Interruption? { locked { cause } }

    /// Records the first interruption and wakes everything the guest could be waiting on.
    /// Returns false if the run is over or already interrupted.
    @discardableResult
    func interrupt(_ why: Interruption) -> Bool {
        let first = locked { () -> Bool in
            guard cause == nil, !finished else { return false }
            cause = why
            condition.broadcast()
            return true
        }
        if first && wakeWrite >= 0 {
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)
        }
        return first
    }

    func attach(_ store: StoreRef) { locked { storeRef = store } }

    /// The run is over: nothing more is queued, the watchdog lets go of the store.
    func finish() {
        locked {
            finished = true
            storeRef = nil
            frames = []; head = 0; queuedBytes = 0
            condition.broadcast()
        }
    }

    var hasRoom: Bool { locked { queuedBytes < maxQueuedBytes } }

    /// Queues a frame for `recv`. `force` is for replies, which must never be lost (room was
    /// checked before the request was handled); events are dropped when the queue is full.
    @discardableResult
    func enqueue(_ frame: [UInt8], force: Bool) -> Bool {
        locked {
            guard !finished, force || queuedBytes + frame.count <= maxQueuedBytes else { return false }
            frames.append(frame)
            queuedBytes += frame.count
            condition.broadcast()
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
        return try locked { () throws(GuestInterrupted) -> Received in
            while true {
                if cause != nil { throw GuestInterrupted() }
                if head < frames.count {
                    let frame = frames[head]
                    guard frame.count <= capacity else { return .tooSmall(needed: frame.count) }
                    head += 1
                    queuedBytes -= frame.count
                    if head == frames.count { frames.removeAll(keepingCapacity: true); head = 0 }
                    return .frame(frame)
                }
                if let deadline {
                    let left = deadline - ContinuousClock.now
                    if left <= .zero { return .timedOut }
                    _ = condition.wait(until: Date(timeIntervalSinceNow: left.timeInterval))
                } else {
                    condition.wait()
                }
            }
        }
    }

    /// Sleeps up to `duration` unless interrupted first (for `poll_oneoff` on clocks only).
    func sleep(_ duration: Duration) throws(GuestInterrupted) {
        let deadline = ContinuousClock.now + duration
        try locked { () throws(GuestInterrupted) -> Void in
            while cause == nil {
                let left = deadline - ContinuousClock.now
                if left <= .zero { return }
                _ = condition.wait(until: Date(timeIntervalSinceNow: left.timeInterval))
            }
            throw GuestInterrupted()
        }
    }

    /// The watchdog: waits for the wall-clock deadline, a `stop`, or the end of the run; once
    /// interrupted, zeroes the guest's fuel every millisecond until the run is over.
    func startWatchdog(limit: Duration?) {
        let deadline = limit.map { ContinuousClock.now + $0 }
        let thread = Thread { [self] in
            condition.lock()
            while !finished && cause == nil {
                if let deadline, let limit {
                    let left = deadline - ContinuousClock.now
                    if left <= .zero {
                        condition.unlock()
                        interrupt(.wallClock(limit))
                        condition.lock()
                        break
                    }
                    _ = condition.wait(until: Date(timeIntervalSinceNow: left.timeInterval))
                } else {
                    condition.wait()
                }
            }
            condition.unlock()
            // Interrupted (or over). The store may not be attached yet if the guest is still
            // being instantiated; keep at it until the run has ended.
            while !locked({ finished }) {
                if let store = locked({ storeRef }) { store.zeroFuel() }
                usleep(1000)
            }
        }
        thread.name = "elastos-wasm-watchdog"
        thread.stackSize = 256 << 10
        thread.start()
    }
}

extension Duration {
    var timeInterval: TimeInterval {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }
}
