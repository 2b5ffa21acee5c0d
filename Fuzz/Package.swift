// swift-tools-version:6.0
// Coverage-guided fuzzing (libFuzzer) of the trusted core's parsers. A separate package so the
// sanitizer build has its own .build and never touches the main package's. Build and run with
// scripts/fuzz.sh; see README.md.
import PackageDescription

let fuzzTargets = [
    "FuzzTokenBinary", "FuzzTokenText", "FuzzResource", "FuzzIdentifiers", "FuzzAuditLine", "FuzzUnixFS",
]

let package = Package(
    name: "ElastosFuzz",
    platforms: [.macOS(.v15)],
    products: fuzzTargets.map { .executable(name: $0, targets: [$0]) } + [
        .executable(name: "MakeCorpus", targets: ["MakeCorpus"]),
    ],
    dependencies: [
        .package(name: "elastos", path: ".."),
    ],
    targets: [
        // Checks shared by the fuzz targets: failing loudly with the input, lossy text.
        .target(name: "FuzzSupport"),
        // Writes the seed corpora in Corpus/ (valid tokens, delegation chains, audit lines from a
        // real AuditLog, CIDs, URIs): `.build/release/MakeCorpus Corpus` after a fuzz build.
        .executableTarget(
            name: "MakeCorpus",
            dependencies: [
                .product(name: "ElastosCore", package: "elastos"),
                .product(name: "ElastosNode", package: "elastos"),
            ]
        ),
    ] + fuzzTargets.map {
        .executableTarget(
            name: $0,
            dependencies: ["FuzzSupport", .product(name: "ElastosCore", package: "elastos")]
        )
    }
)
