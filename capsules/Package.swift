// swift-tools-version:6.0
// The capsules in this repository, built as Embedded Swift for wasm32 by scripts/build-capsules.sh:
//
//   ELASTOS_EMBEDDED_WASM=1 swift build --package-path capsules --triple wasm32-unknown-none-wasm -c release
//
// (the variable makes the root package compile CapsuleWire and ElastosGuest as Embedded Swift
// too). Sources are in Sources/<name>; each capsule's directory, <name>/, holds what ships:
// capsule.json and the <name>.wasm the script copies there.
//
// The same sources also build as ordinary Swift for native capsules (scripts/build-native-capsules.sh):
//
//   ELASTOS_NATIVE_CAPSULES=1 swift build --package-path capsules -c release --static-swift-stdlib \
//       --scratch-path capsules/.build-native
//
// which drops the Embedded and wasm settings and adds the native-only capsules (probe-native).
import Foundation
import PackageDescription

/// The toolchain's `usr` directory: the one above the `bin/` holding `swiftc` (or
/// $ELASTOS_SWIFT_TOOLCHAIN).
func toolchainUsr() -> String {
    if let explicit = Context.environment["ELASTOS_SWIFT_TOOLCHAIN"] { return explicit }
    for dir in (Context.environment["PATH"] ?? "").split(separator: ":") {
        let candidate = URL(fileURLWithPath: String(dir)).appendingPathComponent("swiftc")
        if FileManager.default.isExecutableFile(atPath: candidate.path) {
            return candidate.resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent().path
        }
    }
    return "/usr"
}

/// Debian's wasm32 compiler builtins (libclang-rt-dev-wasm32), whatever LLVM version ships them
/// (or $ELASTOS_WASM_BUILTINS).
func wasmBuiltins() -> String {
    if let explicit = Context.environment["ELASTOS_WASM_BUILTINS"] { return explicit }
    let fm = FileManager.default
    for llvm in ((try? fm.contentsOfDirectory(atPath: "/usr/lib")) ?? []).filter({ $0.hasPrefix("llvm-") }).sorted().reversed() {
        let clang = "/usr/lib/\(llvm)/lib/clang"
        for version in ((try? fm.contentsOfDirectory(atPath: clang)) ?? []).sorted().reversed() {
            let path = "\(clang)/\(version)/lib/wasi/libclang_rt.builtins-wasm32.a"
            if fm.fileExists(atPath: path) { return path }
        }
    }
    return "/usr/lib/llvm-14/lib/clang/14.0.6/lib/wasi/libclang_rt.builtins-wasm32.a"
}

let sysroot = "/usr/lib/wasm32-wasi"  // Debian's wasi-libc
let embedded: [SwiftSetting] = [
    .enableExperimentalFeature("Embedded"), .enableExperimentalFeature("Extern"),
    .unsafeFlags(["-wmo", "-Xfrontend", "-disable-stack-protector"]),
]
// -nostdlib: the driver would look for crt1.o and a clang-21 builtins archive the toolchain does
// not ship; name crt1-command.o, libc and Debian's builtins instead.
let link: [LinkerSetting] = [.unsafeFlags([
    "-Xclang-linker", "-nostdlib",
    "-Xlinker", "\(sysroot)/crt1-command.o",
    "-Xlinker", "-L\(sysroot)", "-Xlinker", "-lc",
    "-Xlinker", "\(toolchainUsr())/lib/swift/embedded/wasm32-unknown-none-wasm/libswiftUnicodeDataTables.a",
    "-Xlinker", wasmBuiltins(),
    "-Xlinker", "--strip-debug",
])]

let native = Context.environment["ELASTOS_NATIVE_CAPSULES"] == "1"

func capsule(_ name: String) -> Target {
    .executableTarget(
        name: name,
        dependencies: [.product(name: "ElastosGuest", package: "elastos"), .product(name: "CapsuleWire", package: "elastos")],
        swiftSettings: native ? [] : embedded, linkerSettings: native ? [] : link)
}

// The storage provider capsule: the node's encrypted store (ElastosStorage, with Foundation and
// swift-crypto) serving localhost://storage/ from a sandbox. Native only.
let storageProvider = Target.executableTarget(
    name: "storage-provider",
    dependencies: [.product(name: "ElastosGuest", package: "elastos"), .product(name: "CapsuleWire", package: "elastos"),
                   .product(name: "ElastosCore", package: "elastos"), .product(name: "ElastosStorage", package: "elastos")])

// The shell capsule: the policy engine (ElastosPolicy) deciding capability requests from a
// sandbox, with the policy file in its own directory. Native only.
let shell = Target.executableTarget(
    name: "shell",
    dependencies: [.product(name: "ElastosGuest", package: "elastos"), .product(name: "CapsuleWire", package: "elastos"),
                   .product(name: "ElastosPolicy", package: "elastos")])

// The chat app: the same sources build as Embedded Swift for wasm32 (capsules/chat-wasm) and as
// a native capsule (capsules/native/chat).
let chat = Target.executableTarget(
    name: "chat",
    dependencies: [.product(name: "ElastosGuest", package: "elastos"), .product(name: "CapsuleWire", package: "elastos"),
                   .product(name: "PeerWire", package: "elastos"), .product(name: "DIDWire", package: "elastos"),
                   .product(name: "ChatWire", package: "elastos")],
    swiftSettings: native ? [] : embedded, linkerSettings: native ? [] : link)

let package = Package(
    name: "elastos-capsules",
    dependencies: [.package(name: "elastos", path: "..")],
    // probe-native uses Glibc (sockets, files, ptrace): a native capsule only.
    targets: [capsule("hello"), capsule("intruder"), capsule("bench"), capsule("caller"), chat]
        + (native ? [capsule("probe-native"), storageProvider, shell] : [])
)
