import SMTPParserHarness

/// libFuzzer entry point for the Auth target (see Fuzz/README.md).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAuth(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    Harness.auth(Array(UnsafeRawBufferPointer(start: data, count: size)))
    return 0
}

#if !FUZZING
/// Without -DFUZZING (a plain `swift build`): replay the files or folders given as arguments.
@main
struct ReplayAuth {
    static func main() { ReplayDriver.main(target: "Auth", entry: Harness.auth) }
}
#endif
