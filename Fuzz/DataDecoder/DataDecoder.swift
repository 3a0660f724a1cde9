import SMTPParserHarness

/// libFuzzer entry point for the DataDecoder target (see Fuzz/README.md).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDataDecoder(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    Harness.dataDecoder(Array(UnsafeRawBufferPointer(start: data, count: size)))
    return 0
}

#if !FUZZING
/// Without -DFUZZING (a plain `swift build`): replay the files or folders given as arguments.
@main
struct ReplayDataDecoder {
    static func main() { ReplayDriver.main(target: "DataDecoder", entry: Harness.dataDecoder) }
}
#endif
