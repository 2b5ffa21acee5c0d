// swift-tools-version:6.0
// Coverage-guided fuzzing (libFuzzer) of the trusted core's parsers. A separate package so the
// sanitizer build has its own .build and never touches the main package's. Build and run with
// scripts/fuzz.sh; see README.md.
import PackageDescription

let fuzzTargets = [
    "FuzzTokenBinary", "FuzzTokenText", "FuzzResource", "FuzzIdentifiers", "FuzzAuditLine", "FuzzUnixFS",
]
// Targets for the capsule formats: frames (CapsuleWire, re-exported by ElastosCore), capsule.json
// and package files (ElastosCapsule).
let capsuleTargets = [
    "FuzzCapsuleFrame", "FuzzCapsuleManifest", "FuzzCapsulePackage",
]
// The shell capsule's messages (ElastosPolicy).
let policyTargets = ["FuzzShellWire"]
// Carrier's libp2p wire decoders (CarrierWire).
let carrierTargets = ["FuzzCarrierWire", "FuzzRelayWire", "FuzzDNSMessage"]
// The elastos://peer/ bodies capsules decode (PeerWire).
let peerTargets = ["FuzzPeerWire"]
// The chat envelope every chat capsule decodes (ChatWire).
let chatTargets = ["FuzzChatWire"]
// The binary elastos://did/ request bodies the runtime decodes (DIDWire).
let didTargets = ["FuzzDIDWire"]

let package = Package(
    name: "ElastosFuzz",
    platforms: [.macOS(.v15)],
    products: (fuzzTargets + capsuleTargets + policyTargets + carrierTargets + peerTargets + chatTargets + didTargets).map { .executable(name: $0, targets: [$0]) } + [
        .executable(name: "MakeCorpus", targets: ["MakeCorpus"]),
    ],
    dependencies: [
        .package(name: "elastos", path: ".."),
    ],
    targets: [
        // Checks shared by the fuzz targets: failing loudly with the input, lossy text.
        .target(name: "FuzzSupport"),
        // Writes the seed corpora in Corpus/ (valid tokens, delegation chains, audit lines from a
        // real AuditLog, CIDs, URIs, capsule frames, manifests and packages):
        // `.build/release/MakeCorpus Corpus` after a fuzz build.
        .executableTarget(
            name: "MakeCorpus",
            dependencies: [
                .product(name: "ElastosCore", package: "elastos"),
                .product(name: "ElastosNode", package: "elastos"),
                .product(name: "ElastosCapsule", package: "elastos"),
            ]
        ),
    ] + fuzzTargets.map {
        .executableTarget(
            name: $0,
            dependencies: ["FuzzSupport", .product(name: "ElastosCore", package: "elastos")]
        )
    } + capsuleTargets.map {
        .executableTarget(
            name: $0,
            dependencies: [
                "FuzzSupport",
                .product(name: "ElastosCore", package: "elastos"),
                .product(name: "ElastosCapsule", package: "elastos"),
            ]
        )
    } + policyTargets.map {
        .executableTarget(
            name: $0,
            dependencies: ["FuzzSupport", .product(name: "ElastosPolicy", package: "elastos")]
        )
    } + carrierTargets.map {
        .executableTarget(
            name: $0,
            dependencies: ["FuzzSupport", .product(name: "CarrierWire", package: "elastos")]
        )
    } + peerTargets.map {
        .executableTarget(
            name: $0,
            dependencies: ["FuzzSupport", .product(name: "PeerWire", package: "elastos")]
        )
    } + chatTargets.map {
        .executableTarget(
            name: $0,
            dependencies: ["FuzzSupport", .product(name: "ChatWire", package: "elastos")]
        )
    } + didTargets.map {
        .executableTarget(
            name: $0,
            dependencies: ["FuzzSupport", .product(name: "DIDWire", package: "elastos")]
        )
    }
)
