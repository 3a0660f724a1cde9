import SMTPParserHarness

/// libFuzzer entry point for the Canary target (see Fuzz/README.md).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCanary(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    Harness.canary.entry(Array(UnsafeRawBufferPointer(start: data, count: size)))
    return 0
}

#if !FUZZING
/// Without -DFUZZING (a plain `swift build`): replay the files or folders given as arguments.
@main
struct ReplayCanary {
    static func main() { ReplayDriver.main(target: "Canary", entry: Harness.canary.entry) }
}
#endif
