import CapsuleWire
import ElastosWasm
import ElastosCapsule
import ElastosCore
import ElastosNode
@testable import ElastosRuntime
import Foundation
import Testing

/// The pieces of the native substrate that need no sandbox: the seccomp program (run through a
/// small BPF interpreter), the refusal when bubblewrap is missing, and the runtime's end of the
/// capsule socket fed with hostile bytes.
@Suite struct NativeSubstrateTests {
    // MARK: Seccomp

    /// Evaluates a classic BPF seccomp program on one `seccomp_data` (the subset of opcodes the
    /// generator emits; anything else fails the test).
    static func evaluate(_ filter: SeccompFilter, arch: UInt32, nr: UInt32, arg1: UInt64 = 0) -> UInt32? {
        var data = [UInt8](repeating: 0, count: 64)
        func put(_ v: UInt32, at o: Int) { for i in 0..<4 { data[o + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) } }
        put(nr, at: 0); put(arch, at: 4)
        put(UInt32(truncatingIfNeeded: arg1), at: 24); put(UInt32(truncatingIfNeeded: arg1 >> 32), at: 28)
        var a: UInt32 = 0, pc = 0, steps = 0
        let p = filter.instructions
        while pc < p.count, steps < 10_000 {
            steps += 1
            let i = p[pc]
            switch i.code {
            case 0x20:
                let o = Int(i.k)
                a = (0..<4).reduce(0) { $0 | UInt32(data[o + $1]) << (8 * $1) }
                pc += 1
            case 0x05: pc += 1 + Int(i.k)
            case 0x15: pc += 1 + Int(a == i.k ? i.jt : i.jf)
            case 0x35: pc += 1 + Int(a >= i.k ? i.jt : i.jf)
            case 0x06: return i.k
            default: return nil
            }
        }
        return nil
    }

    static let x86 = SeccompFilter.Architecture.x86_64.auditArch
    static let arm = SeccompFilter.Architecture.aarch64.auditArch
    static let allow: UInt32 = 0x7FFF_0000, eperm: UInt32 = 0x0005_0001, kill: UInt32 = 0x8000_0000

    @Test func deniedCallsGetEPERMOnBothArchitecturesAndOrdinaryOnesPass() {
        let f = SeccompFilter.standard
        for call in SeccompFilter.DeniedCall.allCases {
            #expect(Self.evaluate(f, arch: Self.x86, nr: SeccompFilter.Architecture.x86_64.number(call)) == Self.eperm, "\(call) x86_64")
            #expect(Self.evaluate(f, arch: Self.arm, nr: SeccompFilter.Architecture.aarch64.number(call)) == Self.eperm, "\(call) aarch64")
        }
        // read, write, openat, mmap, connect on x86_64; read, write, openat, mmap on aarch64.
        for nr: UInt32 in [0, 1, 257, 9, 42, 60] { #expect(Self.evaluate(f, arch: Self.x86, nr: nr) == Self.allow, "x86_64 \(nr)") }
        for nr: UInt32 in [63, 64, 56, 222, 93] { #expect(Self.evaluate(f, arch: Self.arm, nr: nr) == Self.allow, "aarch64 \(nr)") }
    }

    @Test func x32AndForeignArchitecturesAreKilled() {
        let f = SeccompFilter.standard
        #expect(Self.evaluate(f, arch: Self.x86, nr: 0x4000_0000) == Self.kill)  // x32 read
        #expect(Self.evaluate(f, arch: Self.x86, nr: 0x4000_0000 + 101) == Self.kill)
        #expect(Self.evaluate(f, arch: 0x4000_0003, nr: 3) == Self.kill)  // AUDIT_ARCH_I386 (int 0x80)
        #expect(Self.evaluate(f, arch: 0x4000_0028, nr: 3) == Self.kill)  // AUDIT_ARCH_ARM
    }

    @Test func terminalInjectionIsBlockedButOtherIoctlsPass() {
        let f = SeccompFilter.standard
        #expect(Self.evaluate(f, arch: Self.x86, nr: 16, arg1: 0x5412) == Self.eperm)
        #expect(Self.evaluate(f, arch: Self.x86, nr: 16, arg1: 0xFFFF_FFFF_0000_5412) == Self.eperm)  // the kernel uses the low 32 bits
        #expect(Self.evaluate(f, arch: Self.arm, nr: 29, arg1: 0x5412) == Self.eperm)
        #expect(Self.evaluate(f, arch: Self.x86, nr: 16, arg1: 0x5413) == Self.allow)  // TIOCGWINSZ
        #expect(Self.evaluate(f, arch: Self.arm, nr: 29, arg1: 0x5401) == Self.allow)  // TCGETS
        #expect(f.bytes.count == f.instructions.count * 8)
    }

    /// The syscall numbers against the kernel's own headers, where they are installed
    /// (linux-libc-dev: asm/unistd_64.h for x86_64, asm-generic/unistd.h for aarch64).
    @Test func syscallNumbersMatchTheKernelHeaders() throws {
        func numbers(_ path: String) -> [String: UInt32]? {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
            var out: [String: UInt32] = [:]
            for line in text.split(separator: "\n") {
                let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                if parts.count >= 3, parts[0] == "#define", parts[1].hasPrefix("__NR_"), let n = UInt32(parts[2]) {
                    out[String(parts[1].dropFirst(5))] = n
                }
            }
            return out
        }
        let headers = [(SeccompFilter.Architecture.x86_64, "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
                       (.aarch64, "/usr/include/asm-generic/unistd.h")]
        var checked = 0
        for (arch, path) in headers {
            guard let table = numbers(path) else { continue }
            for call in SeccompFilter.DeniedCall.allCases {
                #expect(table[call.rawValue] == arch.number(call), "\(call) on \(arch)")
                checked += 1
            }
            #expect(table["ioctl"] == (arch == .x86_64 ? 16 : 29))
        }
        if checked == 0 { print("kernel headers not installed: syscall numbers not cross-checked") }
    }

    // MARK: Refusal without bubblewrap

    @Test func aMissingBubblewrapIsRefusedWithWhatToInstall() throws {
        let t = try TempNode()
        let session = Session(capsule: "hello-native", version: "0.1.0", cid: "bafy-test", publisher: t.node.did.description,
                              trust: .node, substrate: "native", startedAt: Node.systemClock())
        let handler = SessionHandler(session: session, node: t.node, router: try ProviderRouter([]),
                                     policy: DeclaredCapabilityPolicy(allowDeclared: false), declared: [])
        let capsule = LaunchableCapsule(name: "hello-native", version: "0.1.0", cid: "bafy-test", publisher: "x", trust: .node,
                                        type: "native", directory: t.path, entrypoint: "hello", declared: [],
                                        memoryLimitBytes: 64 << 20, cpuMillis: nil, wallMillis: nil)
        let substrate = NativeSubstrate(bubblewrap: t.path + "/no-such-dir/bwrap")
        do {
            _ = try substrate.start(capsule, args: [], stdio: .inherited, handler: handler)
            Issue.record("started without bubblewrap")
        } catch let e as LaunchError {
            #expect(e.description.contains("apt install bubblewrap"), "\(e)")
            #expect(e.description.contains("no-such-dir/bwrap"), "\(e)")
            #expect(e.description.contains("never runs a native capsule unsandboxed"), "\(e)")
        }
    }

    // MARK: The runtime's end of the socket

    struct PingHandler: CapsuleRequestHandler {
        func handle(_ request: CapsuleRequest, id: UInt32) -> RuntimeMessage {
            request == .ping ? .reply(body: [42]) : .error(code: .noProvider, message: "test")
        }
    }

    /// A socketpair: the channel on one end, the test playing the capsule on the other.
    func channel(maxFrameLength: Int = 1024) throws -> (CapsuleChannel, Int32) {
        var pair: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0)
        let c = CapsuleChannel(fd: pair[0], handler: PingHandler(), maxFrameLength: maxFrameLength)
        c.start(name: "test")
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(pair[1], SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return (c, pair[1])
    }

    func send(_ fd: Int32, _ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }

    /// Reads frames until `count` arrived (or the connection closes / times out).
    func receive(_ fd: Int32, count: Int) -> (frames: [CapsuleFrame], closed: Bool) {
        var decoder = FrameStreamDecoder()
        var frames: [CapsuleFrame] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while frames.count < count {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return (frames, n == 0) }
            decoder.append(chunk[0..<n])
            while case .frame(let f)? = try? decoder.next() { frames.append(f) }
        }
        return (frames, false)
    }

    @Test func malformedFramesGetErrorRepliesAndTheStreamGoesOn() throws {
        let (_, fd) = try channel()
        defer { close(fd) }
        var bad = CapsuleFrame.request(id: 7, .ping).encoded()
        bad[4] = 9  // version 9
        send(fd, bad)
        send(fd, [0, 0, 0, 7, 1, 0x7E, 0, 0, 0, 8, 0])  // unknown kind 0x7E, id 8
        send(fd, CapsuleFrame.runtime(id: 9, .reply(body: [])).encoded())  // a runtime frame from the capsule
        send(fd, CapsuleFrame.request(id: 10, .ping).encoded())
        let (frames, _) = receive(fd, count: 4)
        #expect(frames.count == 4)
        guard frames.count == 4 else { return }
        if case .runtime(7, .error(let code, _)) = frames[0] { #expect(code == .unsupportedVersion) } else { Issue.record("\(frames[0])") }
        if case .runtime(8, .error(let code, _)) = frames[1] { #expect(code == .unknownKind) } else { Issue.record("\(frames[1])") }
        if case .runtime(9, .error(let code, _)) = frames[2] { #expect(code == .unknownKind) } else { Issue.record("\(frames[2])") }
        #expect(frames[3] == .runtime(id: 10, .reply(body: [42])))
    }

    @Test func anOversizedFrameIsAnsweredAndEndsTheConnection() throws {
        let (_, fd) = try channel(maxFrameLength: 1024)
        defer { close(fd) }
        send(fd, [0, 0x10, 0, 0, 1, 3, 0, 0, 0, 1])  // claims 1 MiB
        let (frames, closed) = receive(fd, count: 2)
        #expect(frames.count == 1)
        if case .runtime(_, .error(let code, _))? = frames.first { #expect(code == .frameTooLarge) } else { Issue.record("\(frames)") }
        #expect(closed)
    }

    @Test func eventsArePushedDownTheSameSocket() throws {
        let (c, fd) = try channel()
        defer { close(fd) }
        #expect(c.push(.event(subscription: 3, uri: "elastos://peer/topic/x", body: [1, 2]), id: 0))
        #expect(!c.push(.event(subscription: 3, uri: "elastos://peer/topic/x", body: [UInt8](repeating: 0, count: 4096)), id: 0))  // over the limit
        let (frames, _) = receive(fd, count: 1)
        #expect(frames == [.runtime(id: 0, .event(subscription: 3, uri: "elastos://peer/topic/x", body: [1, 2]))])
    }

    @Test func theBubblewrapProfileUnsharesEverythingAndBindsOnlyWhatItShould() {
        let p = BubblewrapProfile(capsuleDirectory: "/srv/pkg", dataDirectory: "/srv/data/x", entrypoint: "bin/x",
                                  capsuleArguments: ["a", "b"], channelDescriptor: 3, seccompDescriptor: 4,
                                  disableNestedUserNamespaces: true)
        let a = p.arguments
        for flag in ["--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--clearenv", "--disable-userns"] {
            #expect(a.contains(flag), "\(flag)")
        }
        let joined = a.joined(separator: " ")
        #expect(joined.contains("--cap-drop ALL"))
        #expect(joined.contains("--ro-bind /usr /usr"))
        #expect(joined.contains("--ro-bind /srv/pkg /capsule"))
        #expect(joined.contains("--bind /srv/data/x /data"))
        #expect(joined.contains("--seccomp 4"))
        #expect(joined.contains("--setenv ELASTOS_CAPSULE_FD 3"))
        #expect(joined.hasSuffix("-- /capsule/bin/x a b"))
        #expect(!a.contains("--share-net"))
        // Every read-write bind is the data directory.
        let rw = a.indices.filter { a[$0] == "--bind" }.map { a[$0 + 1] }
        #expect(rw == ["/srv/data/x"])
    }
}
