// swift-tools-version:6.0
// smtpsim: a deterministic SMTP/STARTTLS protocol simulator and fuzzing harness.
// Module layout and dependency rules: docs/design.md ("Modules", "Dependency arrows").
import PackageDescription

/// Fuzz targets: Fuzz/<Name>/<Name>.swift, seeds and kept crashes in Corpus/<Name>/. The parser
/// targets (and the canary) link SMTPParserHarness only, the session targets SMTPHarness.
let parserFuzzTargets = ["CommandLine", "Reply", "Mailbox", "EHLOCapabilities", "DataDecoder", "BDAT", "Auth", "LineFramer", "Canary"]
let fuzzTargets = parserFuzzTargets + ["ServerSession", "ClientSession", "StartTLSBoundary", "Simulation", "ScenarioLoader"]

/// The simulator's hot path (the parsers, the machines, the endpoint host, the world): release
/// builds leave out the run-time exclusivity checks (the compile-time ones stay, and debug builds,
/// which the tests run, and fuzz builds keep the run-time ones). Measured: README, "Performance".
let hotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "smtpsim",
    products: [
        .executable(name: "smtpsim", targets: ["smtpsim"]),
        .library(name: "SMTPCore", targets: ["SMTPCore"]),
        .library(name: "SMTPTLS", targets: ["SMTPTLS"]),
        .library(name: "SMTPServer", targets: ["SMTPServer"]),
        .library(name: "SMTPClient", targets: ["SMTPClient"]),
        .library(name: "EndpointHosting", targets: ["EndpointHosting"]),
        .library(name: "Simulation", targets: ["Simulation"]),
        .library(name: "Scenario", targets: ["Scenario"]),
        .library(name: "SMTPNet", targets: ["SMTPNet"]),
        .library(name: "SMTPLearning", targets: ["SMTPLearning"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // Wire grammar only: bytes <-> values. No connection state, no I/O, no Foundation.
        .target(name: "SMTPCore", swiftSettings: hotPath),
        // Sans-IO SMTP server and client state machines; STARTTLS is an action, not an import.
        .target(name: "SMTPServer", dependencies: ["SMTPCore"], swiftSettings: hotPath),
        .target(name: "SMTPClient", dependencies: ["SMTPCore"], swiftSettings: hotPath),
        // OpenSSL (libssl-dev) with a shim header for the macros Swift cannot import.
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        // The little C that must be C: OpenSSL's deterministic random source.
        .target(name: "CTLSShim", dependencies: ["COpenSSL"]),
        // TLS over memory BIOs; knows nothing about SMTP.
        .target(name: "SMTPTLS", dependencies: ["COpenSSL", "CTLSShim"]),
        // What the simulator and the real-socket edge share, written once (docs/design.md): the
        // endpoint protocol and smtpsim's machines as endpoints, the endpoint host (byte stream <->
        // optional TLS engine <-> endpoint), the trigger tracker faults consult, fault values, the
        // attacker and the TLS interceptor. Sans-IO: no sockets, no clock, no randomness.
        .target(name: "EndpointHosting", dependencies: ["SMTPCore", "SMTPServer", "SMTPClient", "SMTPTLS"], swiftSettings: hotPath),
        // The deterministic world: clock, scheduler, links, oracles, trace.
        .target(name: "Simulation", dependencies: ["EndpointHosting", "SMTPCore", "SMTPServer", "SMTPClient", "SMTPTLS"], swiftSettings: hotPath),
        // Scenario files (YAML, versioned) and their runner: file + seed -> simulation -> report.
        .target(
            name: "Scenario",
            dependencies: ["EndpointHosting", "SMTPCore", "SMTPServer", "SMTPClient", "SMTPTLS", "Simulation", "SMTPLearning", .product(name: "Yams", package: "Yams")]
        ),
        // Active automata learning (L*): a server's Mealy machine from queries alone; smtpsim's own
        // server as a system under learning through the endpoint host (issue 19). Sans-IO.
        .target(name: "SMTPLearning", dependencies: ["EndpointHosting", "SMTPCore", "SMTPServer", "SMTPTLS"]),
        // The edge: real TCP (SwiftNIO) for serve / send / proxy / probe. The only module with sockets
        // or a wall clock; it drives the same sans-IO endpoints, TLS engine and attacker.
        .target(
            name: "SMTPNet",
            dependencies: [
                "EndpointHosting", "SMTPCore", "SMTPServer", "SMTPClient", "SMTPTLS", "SMTPLearning",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // One entry function per fuzz target, shared by Fuzz/ and the corpus replay in Tests/: the
        // parser targets and their reference models on SMTPCore alone (a libFuzzer binary scans
        // every coverage counter it links on every input), the session targets on everything.
        .target(name: "SMTPParserHarness", dependencies: ["SMTPCore"]),
        .target(
            name: "SMTPHarness",
            dependencies: ["EndpointHosting", "SMTPCore", "SMTPServer", "SMTPClient", "SMTPTLS", "Simulation", "Scenario", "SMTPParserHarness"]
        ),
        // The command-line tool, one subcommand per file.
        .executableTarget(
            name: "smtpsim",
            dependencies: [
                "EndpointHosting",
                "SMTPCore",
                "SMTPServer",
                "SMTPClient",
                "SMTPTLS",
                "Simulation",
                "Scenario",
                "SMTPNet",
                "SMTPHarness",
                "SMTPLearning",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Seeded generator and feeding modes shared by the test targets.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "SMTPCoreTests", dependencies: ["SMTPCore", "TestSupport"]),
        .testTarget(name: "SMTPTLSTests", dependencies: ["SMTPTLS", "TestSupport"]),
        .testTarget(name: "SMTPServerTests", dependencies: ["EndpointHosting", "SMTPCore", "SMTPServer", "TestSupport"]),
        .testTarget(name: "SMTPClientTests", dependencies: ["EndpointHosting", "SMTPCore", "SMTPClient", "SMTPServer", "TestSupport"]),
        .testTarget(name: "EndpointHostingTests", dependencies: ["EndpointHosting", "SMTPCore", "SMTPServer", "SMTPClient", "SMTPTLS"]),
        .testTarget(name: "SimulationTests", dependencies: ["EndpointHosting", "SMTPCore", "SMTPServer", "SMTPClient", "SMTPTLS", "Simulation", "TestSupport"]),
        .testTarget(name: "SMTPLearningTests", dependencies: ["SMTPLearning", "SMTPServer", "Scenario", "Simulation", "EndpointHosting"]),
        .testTarget(name: "ScenarioTests", dependencies: ["EndpointHosting", "SMTPCore", "SMTPServer", "SMTPClient", "Simulation", "Scenario", "TestSupport"]),
        .testTarget(
            name: "SMTPNetTests", dependencies: ["EndpointHosting", "SMTPCore", "SMTPServer", "SMTPClient", "SMTPTLS", "Simulation", "SMTPNet", "SMTPLearning", "TestSupport"]
        ),
        .testTarget(name: "smtpsimTests", dependencies: ["smtpsim", "TestSupport"]),
        .testTarget(name: "CorpusReplayTests", dependencies: ["SMTPCore", "SMTPHarness", "Simulation", "TestSupport", .product(name: "Yams", package: "Yams")]),
    ] + fuzzTargets.map { name -> Target in
        // libFuzzer executables (see Fuzz/README.md); plain builds get a replay driver instead.
        .executableTarget(
            name: "Fuzz\(name)", dependencies: [parserFuzzTargets.contains(name) ? "SMTPParserHarness" : "SMTPHarness"], path: "Fuzz/\(name)")
    }
)
