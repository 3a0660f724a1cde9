import SMTPHarness

/// libFuzzer entry point for the Simulation target (see Fuzz/README.md).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSimulation(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    Harness.simulation(Array(UnsafeRawBufferPointer(start: data, count: size)))
    return 0
}

#if !FUZZING
/// Without -DFUZZING (a plain `swift build`): replay the files or folders given as arguments.
@main
struct ReplaySimulation {
    static func main() { ReplayDriver.main(target: "Simulation", entry: Harness.simulation) }
}
#endif
