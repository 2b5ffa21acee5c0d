import CapsuleWire
internal import WasmKit

/// The capsule protocol as host functions, import module `elastos` (docs/WASM.md):
///
///     send(ptr: i32, len: i32) -> i32               one whole frame from guest memory → 0 or < 0
///     recv(ptr: i32, cap: i32, timeout_ms: i32) -> i32   next frame → length, 0 on timeout,
///                                                        −needed if cap is too small, or < 0
///
/// `send` decodes the frame, asks the handler and queues the reply before it returns, so a
/// `recv` right after finds it. A frame that does not decode is answered with an `error` reply
/// (id kept when readable) — a guest's bad bytes are never the host's problem.
struct ProtocolFunctions {
    static let moduleName = "elastos"

    let control: RunControl
    let handler: any CapsuleRequestHandler
    let memory: MemorySlot
    let maxFrameLength: Int

    func link(into imports: inout Imports, store: Store) {
        imports.define(module: Self.moduleName, name: "send", Function(store: store, parameters: [.i32, .i32], results: [.i32], raw: { _, params, results in
            results[0] = .i32(UInt32(bitPattern: try self.send(pointer: params[0].i32, length: Int32(bitPattern: params[1].i32))))
        }))
        imports.define(module: Self.moduleName, name: "recv", Function(store: store, parameters: [.i32, .i32, .i32], results: [.i32], raw: { _, params, results in
            results[0] = .i32(UInt32(bitPattern: try self.recv(pointer: params[0].i32, capacity: Int32(bitPattern: params[1].i32),
                                                               timeoutMilliseconds: Int32(bitPattern: params[2].i32))))
        }))
    }

    private func guestMemory() throws -> Memory {
        guard let m = memory.memory else { throw WasmKitGuestFault("the guest has no exported memory named 'memory'") }
        return m
    }

    func send(pointer: UInt32, length: Int32) throws -> Int32 {
        if control.isInterrupted { throw GuestInterrupted() }
        let memory = try guestMemory()
        guard length >= 0 else { return HostCallStatus.invalidArgument.rawValue }
        guard memory.contains(offset: pointer, count: Int(length)) else {
            handler.sandboxRefused(.badGuestPointer(function: "elastos.send"))
            return HostCallStatus.badPointer.rawValue
        }
        guard control.hasRoom else {
            handler.sandboxRefused(.queueFull)
            return HostCallStatus.queueFull.rawValue
        }
        // Over the limit: answer from the header alone, without copying the rest.
        if Int(length) - 4 > maxFrameLength {
            let header = memory.bytes(at: pointer, count: 10) ?? []
            let id = CapsuleFrame.peekID(header)
            let e = FrameError.tooLarge(length: Int(length) - 4, limit: maxFrameLength)
            handler.sandboxRefused(.malformedFrame(id: id, e))
            reply(id ?? 0, .error(code: e.code, message: e.description))
            return 0
        }
        guard let bytes = memory.bytes(at: pointer, count: Int(length)) else { return HostCallStatus.badPointer.rawValue }
        let frame: CapsuleFrame
        do {
            frame = try CapsuleFrame.decode(bytes, maxLength: maxFrameLength)
        } catch {
            let id = CapsuleFrame.peekID(bytes)
            handler.sandboxRefused(.malformedFrame(id: id, error))
            reply(id ?? 0, .error(code: error.code, message: error.description))
            return 0
        }
        switch frame {
        case .request(let id, let request):
            reply(id, handler.handle(request, id: id))
        case .runtime(let id, _):
            let e = FrameError.unknownKind(bytes.count > 5 ? bytes[5] : 0)
            handler.sandboxRefused(.malformedFrame(id: id, e))
            reply(id, .error(code: .unknownKind, message: "frame kind 0x\(String(bytes[5], radix: 16)) goes from the runtime to capsules, not the other way"))
        }
        return 0
    }

    /// Queues a reply, replacing one that would be over the frame limit by an error.
    private func reply(_ id: UInt32, _ message: RuntimeMessage) {
        var frame = CapsuleFrame.runtime(id: id, message).encoded()
        if frame.count - 4 > maxFrameLength {
            frame = CapsuleFrame.runtime(id: id, .error(
                code: .frameTooLarge, message: "the reply of \(frame.count - 4) bytes is over the \(maxFrameLength)-byte frame limit")).encoded()
        }
        control.enqueue(frame, force: true)
    }

    func recv(pointer: UInt32, capacity: Int32, timeoutMilliseconds: Int32) throws -> Int32 {
        let memory = try guestMemory()
        guard capacity >= 0 else { return HostCallStatus.invalidArgument.rawValue }
        guard memory.contains(offset: pointer, count: Int(capacity)) else {
            handler.sandboxRefused(.badGuestPointer(function: "elastos.recv"))
            return HostCallStatus.badPointer.rawValue
        }
        let timeout: Duration? = timeoutMilliseconds < 0 ? nil : .milliseconds(timeoutMilliseconds)
        switch try control.receive(capacity: Int(capacity), timeout: timeout) {
        case .timedOut:
            return 0
        case .tooSmall(let needed):
            return -Int32(needed)
        case .frame(let bytes):
            // In range: checked above, and memory never shrinks.
            memory.store(bytes, at: pointer)
            return Int32(bytes.count)
        }
    }
}
