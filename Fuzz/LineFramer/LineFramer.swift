import SMTPParserHarness

/// libFuzzer entry point for the LineFramer target (see Fuzz/README.md).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLineFramer(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    Harness.lineFramer(Array(UnsafeRawBufferPointer(start: data, count: size)))
    return 0
}

#if !FUZZING
/// Without -DFUZZING (a plain `swift build`): replay the files or folders given as arguments.
@main
struct ReplayLineFramer {
    static func main() { ReplayDriver.main(target: "LineFramer", entry: Harness.lineFramer) }
}
#endif
