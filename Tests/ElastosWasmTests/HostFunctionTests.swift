import CapsuleWire
import ElastosWasm
import Foundation
import Testing

/// The capsule protocol over `elastos.send` / `elastos.recv`, with WAT guests.
@Suite struct HostFunctionTests {
    static let ping7: [UInt8] = CapsuleFrame.request(id: 7, .ping).encoded()

    @Test func guestPrintsToStdoutAndExitsWithItsCode() async throws {
        let wasm = try WATGuest.module("""
            (drop (call $print (i32.const 1024) (i32.const 6)))
            (call $proc_exit (i32.const 3))
            """, data: #"(data (i32.const 1024) "hello\0a")"#)
        let r = try await runGuest(wasm)
        #expect(r.exit == .exited(code: 3))
        #expect(r.stdoutText == "hello\n")
    }

    @Test func pingRoundTripsThroughTheHandler() async throws {
        let handler = RecordingHandler()
        let wasm = try WATGuest.module("""
            (call $print_i32 (call $send (i32.const 1024) (i32.const 10)))
            (local.set $n (call $recv (i32.const 4096) (i32.const 256) (i32.const 1000)))
            (call $print_i32 (local.get $n))
            (drop (call $print (i32.const 4096) (local.get $n)))
            """, data: WATGuest.data(at: 1024, Self.ping7))
        let r = try await runGuest(wasm, handler: handler)
        #expect(r.exit == .exited(code: 0))
        #expect(r.int32(at: 0) == 0)
        #expect(r.int32(at: 4) == 14)
        #expect(try frames(in: Array(r.stdout.dropFirst(8))) == [.runtime(id: 7, .reply(body: []))])
        #expect(handler.requests.map(\.id) == [7])
        #expect(handler.requests.first?.request == .ping)
    }

    @Test func recvWithATooSmallBufferReportsTheNeededLengthAndKeepsTheFrame() async throws {
        let wasm = try WATGuest.module("""
            (drop (call $send (i32.const 1024) (i32.const 10)))
            (call $print_i32 (call $recv (i32.const 4096) (i32.const 4) (i32.const 1000)))
            (call $print_i32 (call $recv (i32.const 4096) (i32.const 256) (i32.const 0)))
            (call $print_i32 (call $recv (i32.const 4096) (i32.const 256) (i32.const 0)))
            """, data: WATGuest.data(at: 1024, Self.ping7))
        let r = try await runGuest(wasm)
        #expect(r.int32(at: 0) == -14)
        #expect(r.int32(at: 4) == 14)
        #expect(r.int32(at: 8) == 0, "nothing left: a zero timeout returns 0 at once")
    }

    @Test func malformedFrameGetsAnErrorReplyAndTheGuestGoesOn() async throws {
        let handler = RecordingHandler()
        // Version 2, id 9; then an unknown kind 0x7f, id 10; then garbage shorter than a
        // header; then a valid ping (id 7).
        let badVersion: [UInt8] = [0, 0, 0, 6, 2, 3, 0, 0, 0, 9]
        let badKind: [UInt8] = [0, 0, 0, 6, 1, 0x7F, 0, 0, 0, 10]
        let short: [UInt8] = [0xFF, 0xFF]
        let wasm = try WATGuest.module("""
            (call $print_i32 (call $send (i32.const 1100) (i32.const 10)))
            (local.set $n (call $recv (i32.const 4096) (i32.const 256) (i32.const 1000)))
            (drop (call $print (i32.const 4096) (local.get $n)))
            (call $print_i32 (call $send (i32.const 1200) (i32.const 10)))
            (local.set $n (call $recv (i32.const 4096) (i32.const 256) (i32.const 1000)))
            (drop (call $print (i32.const 4096) (local.get $n)))
            (call $print_i32 (call $send (i32.const 1300) (i32.const 2)))
            (local.set $n (call $recv (i32.const 4096) (i32.const 256) (i32.const 1000)))
            (drop (call $print (i32.const 4096) (local.get $n)))
            (call $print_i32 (call $send (i32.const 1024) (i32.const 10)))
            (local.set $n (call $recv (i32.const 4096) (i32.const 256) (i32.const 1000)))
            (drop (call $print (i32.const 4096) (local.get $n)))
            """, data: [WATGuest.data(at: 1024, Self.ping7), WATGuest.data(at: 1100, badVersion),
                        WATGuest.data(at: 1200, badKind), WATGuest.data(at: 1300, short)].joined(separator: "\n"))
        let r = try await runGuest(wasm, handler: handler)
        #expect(r.exit == .exited(code: 0))
        // Each send returned 0 and each answer follows it: split on the 4-byte statuses.
        var rest = r.stdout[...]
        var answers: [CapsuleFrame] = []
        while rest.count >= 4 {
            #expect(Array(rest.prefix(4)) == [0, 0, 0, 0])
            rest = rest.dropFirst(4)
            var decoder = FrameStreamDecoder()
            decoder.append(rest)
            guard case .frame(let f)? = try decoder.next() else { Issue.record("no frame"); break }
            answers.append(f)
            rest = rest.dropFirst(f.encoded().count)
        }
        guard answers.count == 4 else { Issue.record("expected 4 answers, got \(answers)"); return }
        guard case .runtime(9, .error(.unsupportedVersion, _)) = answers[0] else { Issue.record("\(answers[0])"); return }
        guard case .runtime(10, .error(.unknownKind, _)) = answers[1] else { Issue.record("\(answers[1])"); return }
        guard case .runtime(0, .error(.malformedFrame, _)) = answers[2] else { Issue.record("\(answers[2])"); return }
        #expect(answers[3] == .runtime(id: 7, .reply(body: [])))
        #expect(handler.requests.count == 1, "only the valid ping reached the handler")
        #expect(handler.refusals.filter { if case .malformedFrame = $0 { true } else { false } }.count == 3)
    }

    @Test func frameOverTheLimitIsRefusedFromItsHeader() async throws {
        // A 200-byte call frame against a 64-byte limit.
        let call = CapsuleFrame.request(id: 5, .call(uri: "localhost://x/y", action: .read, token: [1],
                                                     body: [UInt8](repeating: 7, count: 150))).encoded()
        let wasm = try WATGuest.module("""
            (call $print_i32 (call $send (i32.const 1024) (i32.const \(call.count))))
            (local.set $n (call $recv (i32.const 4096) (i32.const 256) (i32.const 1000)))
            (drop (call $print (i32.const 4096) (local.get $n)))
            """, data: WATGuest.data(at: 1024, call))
        let handler = RecordingHandler()
        let r = try await runGuest(wasm, handler: handler) { $0.maxFrameLength = 64 }
        #expect(r.int32(at: 0) == 0)
        let answer = try frames(in: Array(r.stdout.dropFirst(4)))
        guard case .runtime(5, .error(.frameTooLarge, _))? = answer.first else { Issue.record("\(answer)"); return }
        #expect(handler.requests.isEmpty)
    }

    @Test func runtimeKindFramesFromTheGuestAreRefused() async throws {
        let reply = CapsuleFrame.runtime(id: 4, .reply(body: [1, 2])).encoded()
        let wasm = try WATGuest.module("""
            (drop (call $send (i32.const 1024) (i32.const \(reply.count))))
            (local.set $n (call $recv (i32.const 4096) (i32.const 256) (i32.const 1000)))
            (drop (call $print (i32.const 4096) (local.get $n)))
            """, data: WATGuest.data(at: 1024, reply))
        let r = try await runGuest(wasm)
        guard case .runtime(4, .error(.unknownKind, _))? = try frames(in: r.stdout).first else { Issue.record("\(r.stdout)"); return }
    }

    @Test func outOfBoundsPointersGetErrorsAndTheHostIsUnaffected() async throws {
        let handler = RecordingHandler()
        // send/recv past the end of a 1-page memory, a negative length, an iovec that points
        // outside memory, an out-of-range result pointer for args_sizes_get, a path past the end.
        let wasm = try WATGuest.module("""
            (call $print_i32 (call $send (i32.const 65530) (i32.const 10)))
            (call $print_i32 (call $send (i32.const 0xFFFFFFF0) (i32.const 100)))
            (call $print_i32 (call $send (i32.const 1024) (i32.const -1)))
            (call $print_i32 (call $recv (i32.const 65500) (i32.const 100) (i32.const 0)))
            (i32.store (i32.const 2000) (i32.const 0x7FFFFFF0))
            (i32.store (i32.const 2004) (i32.const 64))
            (call $print_i32 (call $fd_write (i32.const 1) (i32.const 2000) (i32.const 1) (i32.const 8)))
            (call $print_i32 (call $fd_write (i32.const 1) (i32.const 2000) (i32.const 0x20000000) (i32.const 8)))
            (call $print_i32 (call $args_sizes_get (i32.const 0xFFFFFFFE) (i32.const 8)))
            (call $print_i32 (call $args_sizes_get (i32.const 2001) (i32.const 8)))
            (call $print_i32 (call $path_open (i32.const 3) (i32.const 0) (i32.const 65535) (i32.const 100)
                                              (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 16)))
            (call $print_i32 (call $poll_oneoff (i32.const 65000) (i32.const 2048) (i32.const 100) (i32.const 16)))
            """)
        let r = try await runGuest(wasm, handler: handler)
        #expect(r.exit == .exited(code: 0))
        let values = (0..<10).map { r.int32(at: $0 * 4) }
        #expect(values[0] == HostCallStatus.badPointer.rawValue)
        #expect(values[1] == HostCallStatus.badPointer.rawValue)
        #expect(values[2] == HostCallStatus.invalidArgument.rawValue)
        #expect(values[3] == HostCallStatus.badPointer.rawValue)
        #expect(values[4] == 21, "EFAULT for an iovec outside memory")
        #expect(values[5] == 21, "EFAULT for an iovec array past the end")
        #expect(values[6] == 21, "EFAULT for a result pointer past the end")
        #expect(values[7] == 28, "EINVAL for a misaligned result pointer")
        #expect(values[8] == 21, "EFAULT for a path past the end")
        #expect(values[9] == 21, "EFAULT for subscriptions past the end")
        #expect(handler.refusals.filter { if case .badGuestPointer = $0 { true } else { false } }.count == 9)
    }

    @Test func loadOutsideMemoryTrapsTheGuestWithAReason() async throws {
        let wasm = try WATGuest.module("(drop (i32.load (i32.const 0x7FFFFFF0)))")
        let r = try await runGuest(wasm)
        guard case .trapped(let reason) = r.exit else { Issue.record("\(r.exit)"); return }
        #expect(reason.contains("out of bounds memory access"))
    }

    @Test func unreachableIsReportedAsATrapWithItsReason() async throws {
        let wasm = try WATGuest.module("(drop (call $print (i32.const 1024) (i32.const 7))) (unreachable)",
                                       data: #"(data (i32.const 1024) "before\0a")"#)
        let r = try await runGuest(wasm)
        guard case .trapped(let reason) = r.exit else { Issue.record("\(r.exit)"); return }
        #expect(reason.hasPrefix("unreachable"))
        #expect(r.stdoutText == "before\n")
    }

    @Test func divisionByZeroIsATrapToo() async throws {
        let wasm = try WATGuest.module("(drop (i32.div_u (i32.const 1) (i32.sub (i32.const 1) (i32.const 1))))")
        let r = try await runGuest(wasm)
        guard case .trapped(let reason) = r.exit else { Issue.record("\(r.exit)"); return }
        #expect(reason.contains("divide by zero"))
    }

    @Test func runawayRecursionIsATrapNotAHostCrash() async throws {
        let wasm = try WATGuest.module("(call $deeper)", extra: "(func $deeper (call $deeper))")
        let r = try await runGuest(wasm)
        guard case .trapped(let reason) = r.exit else { Issue.record("\(r.exit)"); return }
        #expect(reason.contains("call stack exhausted"))
    }

    @Test func pushAfterTheRunIsOverIsDropped() async throws {
        let capsule = try WasmCapsule(WasmLaunch(module: try WATGuest.module("")), handler: RecordingHandler())
        #expect(await capsule.runDetached() == .exited(code: 0))
        #expect(!capsule.push(.event(subscription: 1, uri: "localhost://x/y", body: []), id: 0))
    }

    @Test func pushedEventsReachAGuestWaitingInRecv() async throws {
        let wasm = try WATGuest.module("""
            (local.set $n (call $recv (i32.const 4096) (i32.const 256) (i32.const 5000)))
            (drop (call $print (i32.const 4096) (local.get $n)))
            """)
        let r = try await runGuest(wasm, during: { capsule in
            try await Task.sleep(for: .milliseconds(50))
            #expect(capsule.push(.event(subscription: 3, uri: "localhost://events/x", body: [42]), id: 0))
        })
        #expect(r.exit == .exited(code: 0))
        #expect(try frames(in: r.stdout) == [.runtime(id: 0, .event(subscription: 3, uri: "localhost://events/x", body: [42]))])
    }

    @Test func sendRefusesWhenRepliesPileUpUnread() async throws {
        // Ping in a loop without ever reading: the queue limit (256 bytes = 18 replies) stops it.
        let wasm = try WATGuest.module("""
            (block $done (loop $again
              (local.set $n (call $send (i32.const 1024) (i32.const 10)))
              (br_if $done (i32.ne (local.get $n) (i32.const 0)))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $again)))
            (call $print_i32 (local.get $n))
            (call $print_i32 (local.get $i))
            """, data: WATGuest.data(at: 1024, Self.ping7))
        let r = try await runGuest(wasm) { $0.maxQueuedBytes = 256 }
        #expect(r.int32(at: 0) == HostCallStatus.queueFull.rawValue)
        #expect(r.int32(at: 4) == 19)
    }
}

/// Module and launch validation before anything runs.
@Suite struct ValidationTests {
    @Test func unknownImportIsRefusedNamingIt() throws {
        let wasm = try wat2wasmModule("""
            (module (import "env" "steal" (func (param i32))) (memory (export "memory") 1) (func (export "_start")))
            """)
        #expect(throws: WasmError.unsupportedImport(module: "env", name: "steal")) {
            try WasmCapsule(WasmLaunch(module: wasm), handler: RecordingHandler())
        }
    }

    @Test func wrongSignatureForAProtocolImportIsRefused() throws {
        let wasm = try wat2wasmModule("""
            (module (import "elastos" "send" (func (param i32) (result i32))) (memory (export "memory") 1) (func (export "_start")))
            """)
        #expect {
            try WasmCapsule(WasmLaunch(module: wasm), handler: RecordingHandler())
        } throws: { error in
            guard case WasmError.importSignatureMismatch(module: "elastos", name: "send", _, _) = error else { return false }
            return true
        }
    }

    @Test func moduleWithoutStartOrMemoryIsRefused() throws {
        let noStart = try wat2wasmModule(#"(module (memory (export "memory") 1))"#)
        #expect(throws: WasmError.missingExport("_start")) { try WasmCapsule(WasmLaunch(module: noStart), handler: RecordingHandler()) }
        let noMemory = try wat2wasmModule(#"(module (func (export "_start")))"#)
        #expect(throws: WasmError.missingExport("memory")) { try WasmCapsule(WasmLaunch(module: noMemory), handler: RecordingHandler()) }
    }

    @Test func garbageIsNotAModule() {
        #expect {
            try WasmCapsule(WasmLaunch(module: [0, 1, 2, 3, 4, 5, 6, 7]), handler: RecordingHandler())
        } throws: { error in
            guard case WasmError.invalidModule = error else { return false }
            return true
        }
    }

    @Test func missingPreopenDirectoryIsRefused() throws {
        let wasm = try WATGuest.module("")
        let launch = WasmLaunch(module: wasm, preopens: [Preopen(hostPath: "/nonexistent/elastos", guestPath: "/data", readOnly: true)])
        #expect {
            try WasmCapsule(launch, handler: RecordingHandler())
        } throws: { error in
            guard case WasmError.invalidPreopen(hostPath: "/nonexistent/elastos", _) = error else { return false }
            return true
        }
    }

    @Test func readOnlyPreopenInsideAWritableOneIsRefused() throws {
        let dir = TempDir()
        try dir.write("inner/file.txt", "x")
        let wasm = try WATGuest.module("")
        let launch = WasmLaunch(module: wasm, preopens: [
            Preopen(hostPath: dir.path, guestPath: "/all", readOnly: false),
            Preopen(hostPath: dir.path + "/inner", guestPath: "/inner", readOnly: true),
        ])
        #expect {
            try WasmCapsule(launch, handler: RecordingHandler())
        } throws: { error in
            guard case WasmError.invalidPreopen = error else { return false }
            return true
        }
    }

    @Test func nonsenseLimitsAreRefused() throws {
        let wasm = try WATGuest.module("")
        for launch in [WasmLaunch(module: wasm, memoryLimitBytes: 0), WasmLaunch(module: wasm, memoryLimitBytes: 1 << 33),
                       WasmLaunch(module: wasm, maxFrameLength: 2), WasmLaunch(module: wasm, wallClockLimit: .zero)] {
            #expect {
                try WasmCapsule(launch, handler: RecordingHandler())
            } throws: { error in
                guard case WasmError.invalidLimit = error else { return false }
                return true
            }
        }
    }

    @Test func aCapsuleRunsOnlyOnce() async throws {
        let capsule = try WasmCapsule(WasmLaunch(module: try WATGuest.module("")), handler: RecordingHandler())
        #expect(await capsule.runDetached() == .exited(code: 0))
        guard case .failedToStart = await capsule.runDetached() else { Issue.record("second run started"); return }
    }
}

func wat2wasmModule(_ text: String) throws -> [UInt8] { try WAT.wat2wasm(text) }
import WAT
