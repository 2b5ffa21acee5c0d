#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// How QEMU runs the guest's instructions: KVM where the host has real hardware virtualisation,
/// software emulation (TCG) otherwise. An openable /dev/kvm is not enough: a PVM host (a cloud VM
/// without nested VT-x, like the machine this was written on) has /dev/kvm from `kvm_pvm`, which
/// cannot run a stock kernel (docs/MICROVM.md, probe-vm.md §3).
public enum Accelerator: Sendable, Equatable, CustomStringConvertible {
    case kvm
    /// Software emulation, and why KVM is not used.
    case tcg(reason: String)

    public var name: String {
        switch self {
        case .kvm: "kvm"
        case .tcg: "tcg"
        }
    }

    public var description: String {
        switch self {
        case .kvm: "KVM"
        case .tcg(let reason): "TCG software emulation (\(reason))"
        }
    }

    /// `ELASTOS_MICROVM_ACCEL=tcg` forces emulation; otherwise KVM when the CPU flags show vmx or
    /// svm, kvm_intel or kvm_amd is loaded rather than kvm_pvm, and /dev/kvm opens read-write.
    public static func detect(environment: [String: String]? = nil) -> Accelerator {
        let environment = environment ?? ProcessInfo.processInfo.environment
        if environment["ELASTOS_MICROVM_ACCEL"] == "tcg" { return .tcg(reason: "ELASTOS_MICROVM_ACCEL=tcg") }
        guard access("/dev/kvm", F_OK) == 0 else { return .tcg(reason: "no /dev/kvm") }
        if access("/sys/module/kvm_pvm", F_OK) == 0 {
            return .tcg(reason: "/dev/kvm is PVM (kvm_pvm), which cannot boot a stock guest kernel")
        }
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let flags = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }.map { Set($0.split(separator: " ")) } ?? []
        guard flags.contains("vmx") || flags.contains("svm") else { return .tcg(reason: "the CPU shows no vmx/svm") }
        let fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            return .tcg(reason: "cannot open /dev/kvm (\(String(cString: strerror(errno)))): add the user to the group owning it")
        }
        close(fd)
        return .kvm
    }

    /// The host's TSC frequency in kHz, for `tsc_early_khz=` (mandatory under TCG on microvm,
    /// which has no timer to calibrate against): `cpu MHz` from /proc/cpuinfo.
    static func hostTSCKilohertz() -> Int {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        for line in cpuinfo.split(separator: "\n") where line.hasPrefix("cpu MHz") {
            if let value = line.split(separator: ":").last.flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }), value > 100 {
                return Int(value * 1000)
            }
        }
        return 2_000_000
    }
}
