import SMTPParserHarness

/// libFuzzer entry point for the EHLOCapabilities target (see Fuzz/README.md).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEHLOCapabilities(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    Harness.ehloCapabilities(Array(UnsafeRawBufferPointer(start: data, count: size)))
    return 0
}

#if !FUZZING
/// Without -DFUZZING (a plain `swift build`): replay the files or folders given as arguments.
@main
struct ReplayEHLOCapabilities {
    static func main() { ReplayDriver.main(target: "EHLOCapabilities", entry: Harness.ehloCapabilities) }
}
#endif
