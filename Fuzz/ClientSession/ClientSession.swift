import SMTPHarness

/// libFuzzer entry point for the ClientSession target (see Fuzz/README.md).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzClientSession(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    Harness.clientSession(Array(UnsafeRawBufferPointer(start: data, count: size)))
    return 0
}

#if !FUZZING
/// Without -DFUZZING (a plain `swift build`): replay the files or folders given as arguments.
@main
struct ReplayClientSession {
    static func main() { ReplayDriver.main(target: "ClientSession", entry: Harness.clientSession) }
}
#endif
