import CapsuleWire
import ElastosWasm
import Foundation
import Testing

/// Memory, fuel and wall-clock limits, `stop`, and two guests at once.
@Suite struct LimitTests {
    static let spin = "(loop $forever (br $forever))"

    @Test func memoryGrowthStopsAtTheCap() async throws {
        let handler = RecordingHandler()
        // Grow one page at a time until refused; print how many pages the guest ended with.
        let wasm = try WATGuest.module("""
            (block $refused (loop $grow
              (br_if $refused (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
              (br $grow)))
            (call $print_i32 (memory.size))
            """)
        let r = try await runGuest(wasm, handler: handler) { $0.memoryLimitBytes = 4 << 20 }
        #expect(r.exit == .exited(code: 0), "a guest that copes with a refused grow just goes on")
        #expect(r.int32(at: 0) == 64)
        #expect(handler.refusals.contains(.memoryGrowth(requestedBytes: (4 << 20) + 65536, limitBytes: 4 << 20)))
    }

    @Test func trapAfterARefusedGrowIsReportedAsTheMemoryLimit() async throws {
        let wasm = try WATGuest.module("""
            (if (i32.eq (memory.grow (i32.const 1000)) (i32.const -1)) (then (unreachable)))
            """)
        let r = try await runGuest(wasm) { $0.memoryLimitBytes = 1 << 20 }
        #expect(r.exit == .memoryLimitExceeded(limit: 1 << 20))
    }

    @Test func initialMemoryOverTheCapNeverStarts() async throws {
        let wasm = try WATGuest.module("", pages: 64)
        let r = try await runGuest(wasm) { $0.memoryLimitBytes = 1 << 20 }
        #expect(r.exit == .memoryLimitExceeded(limit: 1 << 20))
    }

    @Test func infiniteLoopIsStoppedByFuel() async throws {
        let wasm = try WATGuest.module(Self.spin)
        let r = try await runGuest(wasm) { $0.fuel = 2_000_000 }
        #expect(r.exit == .fuelExhausted)
    }

    @Test func fuelIsEnoughForAGuestThatStaysWithinIt() async throws {
        let wasm = try WATGuest.module("""
            (loop $count
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $count (i32.lt_u (local.get $i) (i32.const 1000))))
            (call $proc_exit (i32.const 5))
            """)
        let r = try await runGuest(wasm) { $0.fuel = 1_000_000 }
        #expect(r.exit == .exited(code: 5))
    }

    @Test func infiniteLoopIsStoppedByTheWallClock() async throws {
        let wasm = try WATGuest.module(Self.spin)
        let limit = Duration.milliseconds(300)
        let r = try await runGuest(wasm) { $0.wallClockLimit = limit }
        #expect(r.exit == .wallClockExceeded(limit))
        #expect(r.elapsed >= limit)
        #expect(r.elapsed < limit * 2, "stopped after \(r.elapsed)")
    }

    @Test func infiniteLoopIsStoppedByTheCPUTimeLimit() async throws {
        let wasm = try WATGuest.module(Self.spin)
        let limit = Duration.milliseconds(300)
        let r = try await runGuest(wasm) { $0.cpuTimeLimit = limit }
        #expect(r.exit == .cpuTimeExceeded(limit))
        #expect(r.exit.description == "stopped: CPU-time limit of 300 ms exceeded")
        #expect(r.elapsed >= limit)
        // On a loaded machine the guest's thread gets less than a whole core: wall time can
        // exceed CPU time, never the reverse, so this bound is loose on purpose.
        #expect(r.elapsed < .seconds(10), "stopped after \(r.elapsed)")
    }

    @Test func timeSpentWaitingIsNotChargedAsCPUTime() async throws {
        // Sleeps 400 ms in poll_oneoff with a 100 ms CPU budget, then exits normally.
        let wasm = try WATGuest.module("""
            (i64.store (i32.const 2048) (i64.const 77))
            (i32.store (i32.const 2064) (i32.const 1))
            (i64.store (i32.const 2072) (i64.const 400000000))
            (drop (call $poll_oneoff (i32.const 2048) (i32.const 3072) (i32.const 1) (i32.const 16)))
            (call $proc_exit (i32.const 3))
            """)
        let r = try await runGuest(wasm) { $0.cpuTimeLimit = .milliseconds(100) }
        #expect(r.exit == .exited(code: 3))
        #expect(r.elapsed >= .milliseconds(400))
    }

    @Test func guestBlockedInRecvIsStoppedByTheWallClock() async throws {
        let wasm = try WATGuest.module("(drop (call $recv (i32.const 4096) (i32.const 256) (i32.const -1)))")
        let limit = Duration.milliseconds(200)
        let r = try await runGuest(wasm) { $0.wallClockLimit = limit }
        #expect(r.exit == .wallClockExceeded(limit))
        #expect(r.elapsed < limit * 2)
    }

    @Test func stopInterruptsASpinningGuest() async throws {
        let wasm = try WATGuest.module(Self.spin)
        let r = try await runGuest(wasm, during: { capsule in
            try await Task.sleep(for: .milliseconds(100))
            capsule.stop(reason: "operator asked")
        })
        #expect(r.exit == .stopped(reason: "operator asked"))
        #expect(r.elapsed < .seconds(2))
    }

    @Test func stopInterruptsAGuestWaitingOnStdin() async throws {
        let input = InputPipe()
        let wasm = try WATGuest.module("""
            (i32.store (i32.const 0) (i32.const 4096))
            (i32.store (i32.const 4) (i32.const 100))
            (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
            """)
        let r = try await runGuest(wasm, configure: { $0.stdin = .fileDescriptor(input.readFD) }, during: { capsule in
            try await Task.sleep(for: .milliseconds(100))
            capsule.stop(reason: "shutting down")
        })
        #expect(r.exit == .stopped(reason: "shutting down"))
        withExtendedLifetime(input) {}
    }

    @Test func stopInterruptsAGuestAsleepInPollOneoff() async throws {
        // One relative clock subscription of 60 s at 2048 (userdata 1, tag 0, id 1).
        let wasm = try WATGuest.module("""
            (i64.store (i32.const 2048) (i64.const 1))
            (i32.store8 (i32.const 2056) (i32.const 0))
            (i32.store (i32.const 2064) (i32.const 1))
            (i64.store (i32.const 2072) (i64.const 60000000000))
            (drop (call $poll_oneoff (i32.const 2048) (i32.const 3072) (i32.const 1) (i32.const 16)))
            """)
        let r = try await runGuest(wasm, during: { capsule in
            try await Task.sleep(for: .milliseconds(100))
            capsule.stop(reason: "enough sleep")
        })
        #expect(r.exit == .stopped(reason: "enough sleep"))
        #expect(r.elapsed < .seconds(5))
    }

    @Test func shortSleepInPollOneoffCompletesWithItsEvent() async throws {
        let wasm = try WATGuest.module("""
            (i64.store (i32.const 2048) (i64.const 77))
            (i32.store (i32.const 2064) (i32.const 1))
            (i64.store (i32.const 2072) (i64.const 20000000))
            (call $print_i32 (call $poll_oneoff (i32.const 2048) (i32.const 3072) (i32.const 1) (i32.const 16)))
            (call $print_i32 (i32.load (i32.const 16)))
            (call $print_i32 (i32.load (i32.const 3072)))
            """)
        let r = try await runGuest(wasm)
        #expect(r.int32(at: 0) == 0)
        #expect(r.int32(at: 4) == 1)
        #expect(r.int32(at: 8) == 77)
        #expect(r.elapsed >= .milliseconds(20))
    }

    @Test func stopBeforeRunMeansTheGuestNeverStarts() async throws {
        let capsule = try WasmCapsule(WasmLaunch(module: try WATGuest.module(Self.spin)), handler: RecordingHandler())
        capsule.stop(reason: "cancelled")
        #expect(await capsule.runDetached() == .stopped(reason: "cancelled"))
    }

    @Test func twoCapsulesRunAtOnceWithoutInterfering() async throws {
        // Each pings 300 times with its own ids (base + i) and counts replies whose id matches.
        func guest(base: Int) throws -> [UInt8] {
            try WATGuest.module("""
                (block $done (loop $next
                  (br_if $done (i32.ge_u (local.get $i) (i32.const 300)))
                  (i32.store8 (i32.const 1030) (i32.shr_u (i32.add (i32.const \(base)) (local.get $i)) (i32.const 24)))
                  (i32.store8 (i32.const 1031) (i32.shr_u (i32.add (i32.const \(base)) (local.get $i)) (i32.const 16)))
                  (i32.store8 (i32.const 1032) (i32.shr_u (i32.add (i32.const \(base)) (local.get $i)) (i32.const 8)))
                  (i32.store8 (i32.const 1033) (i32.add (i32.const \(base)) (local.get $i)))
                  (drop (call $send (i32.const 1024) (i32.const 10)))
                  (drop (call $recv (i32.const 4096) (i32.const 256) (i32.const 1000)))
                  (if (i32.and (i32.eq (i32.load8_u (i32.const 4104)) (i32.load8_u (i32.const 1032)))
                               (i32.eq (i32.load8_u (i32.const 4105)) (i32.load8_u (i32.const 1033))))
                    (then (local.set $n (i32.add (local.get $n) (i32.const 1)))))
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br $next)))
                (call $print_i32 (local.get $n))
                """, data: WATGuest.data(at: 1024, HostFunctionTests.ping7))
        }
        let a = RecordingHandler(name: "a"), b = RecordingHandler(name: "b")
        async let ra = runGuest(try guest(base: 1000), handler: a)
        async let rb = runGuest(try guest(base: 5000), handler: b)
        let (x, y) = try await (ra, rb)
        #expect(x.exit == .exited(code: 0) && y.exit == .exited(code: 0))
        #expect(x.int32(at: 0) == 300)
        #expect(y.int32(at: 0) == 300)
        #expect(a.requests.map(\.id) == (0..<300).map { UInt32(1000 + $0) })
        #expect(b.requests.map(\.id) == (0..<300).map { UInt32(5000 + $0) })
    }

    @Test func aTrapInOneCapsuleLeavesTheOtherRunning() async throws {
        let looping = try WATGuest.module("""
            (loop $count
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $count (i32.lt_u (local.get $i) (i32.const 200000))))
            (call $proc_exit (i32.const 9))
            """)
        async let good = runGuest(looping)
        async let bad = runGuest(try WATGuest.module("(unreachable)"))
        let (g, b) = try await (good, bad)
        #expect(g.exit == .exited(code: 9))
        guard case .trapped = b.exit else { Issue.record("\(b.exit)"); return }
    }
}
