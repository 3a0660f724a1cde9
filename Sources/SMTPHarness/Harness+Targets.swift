@_exported import SMTPParserHarness

extension Harness {
    /// Every target by the name of its folders in Fuzz/ and Corpus/. The canary is not run by
    /// default: it proves a crash is caught and reported.
    public static let targets: [(name: String, entry: Entry)] = [
        ("CommandLine", commandLine),
        ("Reply", reply),
        ("Mailbox", mailbox),
        ("EHLOCapabilities", ehloCapabilities),
        ("DataDecoder", dataDecoder),
        ("BDAT", bdat),
        ("Auth", auth),
        ("LineFramer", lineFramer),
        ("ServerSession", serverSession),
        ("ClientSession", clientSession),
        ("StartTLSBoundary", startTLSBoundary),
        ("Simulation", simulation),
        ("ScenarioLoader", scenarioLoader),
    ]

    public static func entry(named name: String) -> Entry? {
        if name == canary.name { return canary.entry }
        return targets.first { $0.name == name }?.entry
    }
}
