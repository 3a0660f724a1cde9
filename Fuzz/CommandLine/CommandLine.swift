import SMTPParserHarness

/// libFuzzer entry point for the CommandLine target (see Fuzz/README.md).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCommandLine(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    Harness.commandLine(Array(UnsafeRawBufferPointer(start: data, count: size)))
    return 0
}

#if !FUZZING
/// Without -DFUZZING (a plain `swift build`): replay the files or folders given as arguments.
@main
struct ReplayCommandLine {
    static func main() { ReplayDriver.main(target: "CommandLine", entry: Harness.commandLine) }
}
#endif
