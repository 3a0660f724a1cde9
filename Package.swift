// swift-tools-version:6.0
// smtpsim: a deterministic SMTP/STARTTLS protocol simulator and fuzzing harness.
// Module layout and dependency rules: see README.md ("Architecture") and docs/.
import PackageDescription

let package = Package(
    name: "smtpsim",
    products: [
        .executable(name: "smtpsim", targets: ["smtpsim"]),
        .library(name: "SMTPCore", targets: ["SMTPCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Wire grammar only: bytes <-> values. No connection state, no I/O, no Foundation.
        .target(name: "SMTPCore"),
        // The command-line tool, one subcommand per file.
        .executableTarget(
            name: "smtpsim",
            dependencies: [
                "SMTPCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "SMTPCoreTests", dependencies: ["SMTPCore"]),
        .testTarget(name: "smtpsimTests", dependencies: ["smtpsim"]),
    ]
)
