import SMTPHarness

/// libFuzzer entry point for the ScenarioLoader target (see Fuzz/README.md).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzScenarioLoader(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    Harness.scenarioLoader(Array(UnsafeRawBufferPointer(start: data, count: size)))
    return 0
}

#if !FUZZING
/// Without -DFUZZING (a plain `swift build`): replay the files or folders given as arguments.
@main
struct ReplayScenarioLoader {
    static func main() { ReplayDriver.main(target: "ScenarioLoader", entry: Harness.scenarioLoader) }
}
#endif
