import SMTPParserHarness

/// libFuzzer entry point for the Mailbox target (see Fuzz/README.md).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMailbox(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    Harness.mailbox(Array(UnsafeRawBufferPointer(start: data, count: size)))
    return 0
}

#if !FUZZING
/// Without -DFUZZING (a plain `swift build`): replay the files or folders given as arguments.
@main
struct ReplayMailbox {
    static func main() { ReplayDriver.main(target: "Mailbox", entry: Harness.mailbox) }
}
#endif
