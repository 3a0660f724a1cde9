import SMTPHarness

/// libFuzzer entry point for the ServerSession target (see Fuzz/README.md).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzServerSession(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    Harness.serverSession(Array(UnsafeRawBufferPointer(start: data, count: size)))
    return 0
}

#if !FUZZING
/// Without -DFUZZING (a plain `swift build`): replay the files or folders given as arguments.
@main
struct ReplayServerSession {
    static func main() { ReplayDriver.main(target: "ServerSession", entry: Harness.serverSession) }
}
#endif
