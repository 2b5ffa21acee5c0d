// swift-tools-version:6.0
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

// Guests: scripts/build-capsules.sh sets ELASTOS_EMBEDDED_WASM=1 while it builds capsules/ for
// wasm32-unknown-none-wasm, and the modules guests link (CapsuleWire, ElastosGuest) are then
// compiled as Embedded Swift. (SwiftPM reports that triple as "linux", so a platform condition
// cannot tell the two builds apart.)
let embeddedGuest = Context.environment["ELASTOS_EMBEDDED_WASM"] == "1"
let guest: [SwiftSetting] = strict + (embeddedGuest
    ? [.enableExperimentalFeature("Embedded"), .enableExperimentalFeature("Extern"),
       .unsafeFlags(["-wmo", "-Xfrontend", "-disable-stack-protector"])]
    : [])

let package = Package(
    name: "elastos",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "elastos", targets: ["elastos"]),
        .executable(name: "elastos-bench", targets: ["elastos-bench"]),
        .executable(name: "elastos-wasm-run", targets: ["elastos-wasm-run"]),
        .library(name: "CapsuleWire", targets: ["CapsuleWire"]),
        .library(name: "ElastosGuest", targets: ["ElastosGuest"]),
        .library(name: "ElastosCore", targets: ["ElastosCore"]),
        .library(name: "ElastosNode", targets: ["ElastosNode"]),
        .library(name: "ElastosStorage", targets: ["ElastosStorage"]),
        .library(name: "ElastosPolicy", targets: ["ElastosPolicy"]),
        .library(name: "ElastosCapsule", targets: ["ElastosCapsule"]),
        .library(name: "CarrierWire", targets: ["CarrierWire"]),
        .library(name: "ElastosCarrier", targets: ["ElastosCarrier"]),
        .library(name: "PeerWire", targets: ["PeerWire"]),
        .library(name: "DIDWire", targets: ["DIDWire"]),
        .library(name: "ChatWire", targets: ["ChatWire"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swiftwasm/WasmKit.git", exact: "0.4.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // The capsule protocol's frames and the action vocabulary: no dependencies at all, not
        // even Foundation, so guests compile it as Embedded Swift for wasm32 too.
        .target(name: "CapsuleWire", swiftSettings: guest),
        // The guest SDK: one API for capsule code (runtime calls, stdio, args, env), built as
        // Embedded Swift for wasm32 guests and as ordinary Swift for native capsules.
        .target(name: "ElastosGuest", dependencies: ["CapsuleWire"], swiftSettings: guest),
        // Pure values and rules: keys, did:key, multiformats, CIDs, capability tokens and their
        // checks, the audit chain. No file system, no network, no clocks it does not get passed.
        .target(
            name: "ElastosCore",
            dependencies: ["CapsuleWire", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        // State on disk under the node home: the node key, the capability ledger (epoch,
        // revocations, use counts) and the audit log segments.
        .target(
            name: "ElastosNode",
            dependencies: ["ElastosCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        // The encrypted store behind localhost://storage/: AES-256-GCM objects, an authenticated
        // per-namespace index, crash-safe write ordering. Knows nothing of the runtime, so it can
        // move into a provider capsule unchanged (docs/STORAGE.md).
        .target(
            name: "ElastosStorage",
            dependencies: ["ElastosNode", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        // The node core: sessions, the URI router and providers, the per-session request
        // handler that runs every call through the checks and the audit log.
        // The shell's policy file and decision engine, shared by the shell capsule and the
        // runtime's in-process fallback (docs/POLICY.md). Knows nothing of the runtime.
        .target(
            name: "ElastosPolicy",
            dependencies: ["ElastosCore", "ElastosNode", "ElastosCapsule"],
            swiftSettings: strict
        ),
        .target(
            name: "ElastosRuntime",
            dependencies: ["ElastosCore", "ElastosNode", "ElastosCapsule", "ElastosWasm", "ElastosStorage", "ElastosPolicy", "DIDWire"],
            swiftSettings: strict
        ),
        // Capsules: the capsule.json schema, deterministic packing into a kubo-compatible UnixFS
        // DAG and a CARv1 package, publisher signatures, the local store and the trust list.
        .target(
            name: "ElastosCapsule",
            dependencies: ["ElastosCore", "ElastosNode"],
            swiftSettings: strict
        ),
        // The WASM substrate: WasmKit with WASI Preview 1, the `elastos` host functions that carry
        // the capsule protocol, memory/fuel/wall-clock limits, read-only and read-write preopens.
        .target(
            name: "ElastosWasm",
            dependencies: [
                "CapsuleWire", "ElastosCore",
                .product(name: "WasmKit", package: "WasmKit"),
                .product(name: "WasmKitWASI", package: "WasmKit"),
                .product(name: "WASI", package: "WasmKit"),
            ],
            swiftSettings: strict
        ),
        // libp2p wire formats as pure values: multiaddr, protobuf, varint framing, multistream-select,
        // Yamux headers, Noise framing and handshake payloads, identify. No I/O, so every decoder
        // can be tested and fuzzed on bytes in memory (docs/CARRIER.md).
        .target(name: "CarrierWire", dependencies: ["ElastosCore"], swiftSettings: strict),
        // Carrier: a libp2p peer on SwiftNIO — TCP, multistream-select, Noise XX, Yamux, identify,
        // ping — behind the `CarrierNode` API.
        .target(
            name: "ElastosCarrier",
            dependencies: [
                "CarrierWire", "ElastosCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // The chat wire format and room rules, shared by the native and WASM chat capsules.
        .target(name: "ChatWire", dependencies: ["CapsuleWire"], swiftSettings: guest),
        // Binary bodies of elastos://did/ calls (verify, seal, open) for guests: no Foundation.
        .target(name: "DIDWire", dependencies: ["CapsuleWire"], swiftSettings: guest),
        // The bodies of elastos://peer/ calls and events: guests decode them, so no Foundation.
        .target(name: "PeerWire", dependencies: ["CapsuleWire"], swiftSettings: guest),
        // Carrier as a node runs it (PeerService) and the elastos://peer/ provider for capsules.
        .target(name: "ElastosPeer", dependencies: ["ElastosRuntime", "ElastosCarrier", "CarrierWire", "ElastosCore", "PeerWire"],
                swiftSettings: strict),
        // Runs one guest under ElastosWasm with a local test handler; built in release by the
        // tests that run real guests (debug WasmKit is 100× slower).
        .executableTarget(name: "elastos-wasm-run", dependencies: ["ElastosWasm", "ElastosCore"], swiftSettings: strict),
        // The `elastos` commands, as a library so tests can drive them in-process.
        .target(
            name: "ElastosCLI",
            dependencies: [
                "ElastosCore", "ElastosNode", "ElastosCapsule", "ElastosRuntime", "ElastosStorage",
                "ElastosCarrier", "CarrierWire", "ElastosPeer", "PeerWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "elastos", dependencies: ["ElastosCLI"], swiftSettings: strict),
        .executableTarget(
            name: "elastos-bench",
            dependencies: ["ElastosCore", "ElastosNode", "ElastosWasm", "ElastosStorage", "ElastosRuntime", "ElastosCarrier", "CarrierWire", "ChatWire", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .testTarget(name: "ElastosCoreTests", dependencies: ["ElastosCore", "CapsuleWire"], resources: [.copy("Vectors")]),
        .testTarget(name: "ElastosNodeTests", dependencies: ["ElastosNode", "ElastosCore"]),
        .testTarget(name: "ElastosStorageTests", dependencies: ["ElastosStorage", "ElastosNode", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "ElastosRuntimeTests", dependencies: ["ElastosRuntime", "DIDWire", "ElastosStorage", "ElastosCapsule", "ElastosNode", "ElastosCore", "ElastosWasm", "CapsuleWire", "ElastosGuest"]),
        .testTarget(name: "ElastosCapsuleTests", dependencies: ["ElastosCapsule", "ElastosNode", "ElastosCore"]),
        .testTarget(
            name: "ElastosWasmTests",
            dependencies: ["ElastosWasm", "ElastosGuest", "ElastosCore", .product(name: "WAT", package: "WasmKit")]
        ),
        .testTarget(
            name: "ElastosCarrierTests",
            dependencies: ["ElastosCarrier", "CarrierWire", "ElastosCore", .product(name: "_CryptoExtras", package: "swift-crypto")]
        ),
        .testTarget(
            name: "ElastosPeerTests",
            dependencies: ["ElastosPeer", "PeerWire", "ElastosRuntime", "ElastosCarrier", "CarrierWire", "ElastosNode", "ElastosCore", "ElastosGuest", "CapsuleWire"]
        ),
        .testTarget(name: "ChatWireTests", dependencies: ["ChatWire", "DIDWire", "ElastosRuntime", "ElastosCore"]),
        .testTarget(name: "ElastosCLITests", dependencies: ["ElastosCLI", "ChatWire", "CarrierWire", "ElastosRuntime", "ElastosStorage", "ElastosCapsule", "ElastosNode", "ElastosCore", "elastos"]),
    ]
)
