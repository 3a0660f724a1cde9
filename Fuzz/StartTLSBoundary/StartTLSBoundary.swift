import SMTPHarness

/// libFuzzer entry point for the StartTLSBoundary target (see Fuzz/README.md).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzStartTLSBoundary(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    Harness.startTLSBoundary(Array(UnsafeRawBufferPointer(start: data, count: size)))
    return 0
}

#if !FUZZING
/// Without -DFUZZING (a plain `swift build`): replay the files or folders given as arguments.
@main
struct ReplayStartTLSBoundary {
    static func main() { ReplayDriver.main(target: "StartTLSBoundary", entry: Harness.startTLSBoundary) }
}
#endif
