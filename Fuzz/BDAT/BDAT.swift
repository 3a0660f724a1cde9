import SMTPParserHarness

/// libFuzzer entry point for the BDAT target (see Fuzz/README.md).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBDAT(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    Harness.bdat(Array(UnsafeRawBufferPointer(start: data, count: size)))
    return 0
}

#if !FUZZING
/// Without -DFUZZING (a plain `swift build`): replay the files or folders given as arguments.
@main
struct ReplayBDAT {
    static func main() { ReplayDriver.main(target: "BDAT", entry: Harness.bdat) }
}
#endif
