// The seccomp filter native capsules run under, generated here as raw classic BPF (the
// `struct sock_filter` array bubblewrap's `--seccomp FD` reads), without libseccomp.
//
// Program layout (kernel: Documentation/userspace-api/seccomp_filter.rst; <linux/filter.h>,
// <linux/seccomp.h>, <linux/audit.h>):
//
//   ld  arch                      ; seccomp_data.arch at offset 4
//   jeq AUDIT_ARCH_X86_64  → x86_64 block
//   jeq AUDIT_ARCH_AARCH64 → aarch64 block
//   ret KILL_PROCESS              ; i386 (int 0x80), arm32 and anything else
//   x86_64 block:  ld nr; jge 0x40000000 → KILL (x32 ABI); per-arch denials; ioctl check; ret ALLOW
//   aarch64 block: ld nr; per-arch denials; ioctl check; ret ALLOW
//
// A denied call returns EPERM rather than killing, so a capsule that probes gets an answer it can
// report and the runtime keeps a clean exit status.

/// A classic BPF seccomp program for native capsules.
public struct SeccompFilter: Sendable, Equatable {
    /// One `struct sock_filter`: code, jt, jf, k.
    public struct Instruction: Sendable, Equatable {
        public let code: UInt16, jt: UInt8, jf: UInt8, k: UInt32
    }

    /// A CPU architecture the filter knows, with its audit arch value and syscall numbers.
    public enum Architecture: String, Sendable, CaseIterable {
        case x86_64, aarch64

        /// `AUDIT_ARCH_*` from <linux/audit.h>.
        public var auditArch: UInt32 {
            switch self {
            case .x86_64: 0xC000_003E  // EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
            case .aarch64: 0xC000_00B7  // EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
            }
        }

        /// The machine this runtime was built for.
        public static var host: Architecture? {
            #if arch(x86_64)
            .x86_64
            #elseif arch(arm64)
            .aarch64
            #else
            nil
            #endif
        }

        /// Syscall numbers: x86_64 from <asm/unistd_64.h>, aarch64 from <asm-generic/unistd.h>.
        public func number(_ call: DeniedCall) -> UInt32 {
            switch self {
            case .x86_64: call.x86_64
            case .aarch64: call.aarch64
            }
        }

        var ioctl: UInt32 { self == .x86_64 ? 16 : 29 }
    }

    /// System calls a capsule never needs and that widen the kernel's attack surface or escape
    /// the sandbox: they fail with EPERM.
    public enum DeniedCall: String, Sendable, CaseIterable {
        case ptrace, mount, umount2, swapon, swapoff, reboot, unshare, setns
        case keyctl, add_key, request_key, bpf, perf_event_open, kexec_load, kexec_file_load
        case init_module, finit_module, delete_module, userfaultfd, open_by_handle_at
        case pivot_root, chroot, acct, fsopen, fsmount, move_mount, open_tree, fspick, personality

        var x86_64: UInt32 {
            switch self {
            case .ptrace: 101
            case .mount: 165
            case .umount2: 166
            case .swapon: 167
            case .swapoff: 168
            case .reboot: 169
            case .unshare: 272
            case .setns: 308
            case .keyctl: 250
            case .add_key: 248
            case .request_key: 249
            case .bpf: 321
            case .perf_event_open: 298
            case .kexec_load: 246
            case .kexec_file_load: 320
            case .init_module: 175
            case .finit_module: 313
            case .delete_module: 176
            case .userfaultfd: 323
            case .open_by_handle_at: 304
            case .pivot_root: 155
            case .chroot: 161
            case .acct: 163
            case .fsopen: 430
            case .fsmount: 432
            case .move_mount: 429
            case .open_tree: 428
            case .fspick: 433
            case .personality: 135
            }
        }

        var aarch64: UInt32 {
            switch self {
            case .ptrace: 117
            case .mount: 40
            case .umount2: 39
            case .swapon: 224
            case .swapoff: 225
            case .reboot: 142
            case .unshare: 97
            case .setns: 268
            case .keyctl: 219
            case .add_key: 217
            case .request_key: 218
            case .bpf: 280
            case .perf_event_open: 241
            case .kexec_load: 104
            case .kexec_file_load: 294
            case .init_module: 105
            case .finit_module: 273
            case .delete_module: 106
            case .userfaultfd: 282
            case .open_by_handle_at: 265
            case .pivot_root: 41
            case .chroot: 51
            case .acct: 89
            case .fsopen: 430
            case .fsmount: 432
            case .move_mount: 429
            case .open_tree: 428
            case .fspick: 433
            case .personality: 92
            }
        }
    }

    /// `ioctl(fd, TIOCSTI, …)` pushes bytes into a terminal's input queue: a capsule holding the
    /// user's terminal could type commands into the shell after it exits.
    public static let tiocsti: UInt32 = 0x5412

    public let instructions: [Instruction]

    // BPF opcodes (<linux/bpf_common.h>).
    static let loadWord: UInt16 = 0x20  // BPF_LD | BPF_W | BPF_ABS
    static let jumpAlways: UInt16 = 0x05  // BPF_JMP | BPF_JA
    static let jumpEqual: UInt16 = 0x15  // BPF_JMP | BPF_JEQ | BPF_K
    static let jumpGreaterOrEqual: UInt16 = 0x35  // BPF_JMP | BPF_JGE | BPF_K
    static let ret: UInt16 = 0x06  // BPF_RET | BPF_K
    // Return values (<linux/seccomp.h>).
    static let killProcess: UInt32 = 0x8000_0000
    static let allow: UInt32 = 0x7FFF_0000
    static let errnoEPERM: UInt32 = 0x0005_0000 | 1
    // seccomp_data offsets: nr, arch, (ip), args[1] low word (little-endian on both arches).
    static let offsetNumber: UInt32 = 0, offsetArch: UInt32 = 4, offsetArg1Low: UInt32 = 24
    static let x32Bit: UInt32 = 0x4000_0000

    /// The filter for both architectures; calls from any other ABI kill the process.
    public static let standard = SeccompFilter(denied: DeniedCall.allCases)

    public init(denied: [DeniedCall]) {
        func ins(_ code: UInt16, _ jt: UInt8 = 0, _ jf: UInt8 = 0, k: UInt32 = 0) -> Instruction {
            Instruction(code: code, jt: jt, jf: jf, k: k)
        }
        func block(_ arch: Architecture) -> [Instruction] {
            var p = [ins(Self.loadWord, k: Self.offsetNumber)]
            if arch == .x86_64 { p += [ins(Self.jumpGreaterOrEqual, 0, 1, k: Self.x32Bit), ins(Self.ret, k: Self.killProcess)] }
            for call in denied { p += [ins(Self.jumpEqual, 0, 1, k: arch.number(call)), ins(Self.ret, k: Self.errnoEPERM)] }
            p += [ins(Self.jumpEqual, 0, 3, k: arch.ioctl), ins(Self.loadWord, k: Self.offsetArg1Low),
                  ins(Self.jumpEqual, 0, 1, k: Self.tiocsti), ins(Self.ret, k: Self.errnoEPERM),
                  ins(Self.ret, k: Self.allow)]
            return p
        }
        let x86 = block(.x86_64), arm = block(.aarch64)
        // ld arch; jeq x86 (0,1); ja +N to x86; jeq arm (0,1); ja +M to arm; ret kill
        let head: [Instruction] = [
            ins(Self.loadWord, k: Self.offsetArch),
            ins(Self.jumpEqual, 0, 1, k: Architecture.x86_64.auditArch), ins(Self.jumpAlways, k: 3),
            ins(Self.jumpEqual, 0, 1, k: Architecture.aarch64.auditArch), ins(Self.jumpAlways, k: UInt32(1 + x86.count)),
            ins(Self.ret, k: Self.killProcess),
        ]
        instructions = head + x86 + arm
    }

    /// The program as the kernel (and bwrap) reads it: 8 bytes per instruction, host byte order.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(instructions.count * 8)
        for i in instructions {
            withUnsafeBytes(of: i.code) { out += $0 }
            out.append(i.jt)
            out.append(i.jf)
            withUnsafeBytes(of: i.k) { out += $0 }
        }
        return out
    }
}
