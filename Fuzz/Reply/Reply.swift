import SMTPParserHarness

/// libFuzzer entry point for the Reply target (see Fuzz/README.md).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzReply(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    Harness.reply(Array(UnsafeRawBufferPointer(start: data, count: size)))
    return 0
}

#if !FUZZING
/// Without -DFUZZING (a plain `swift build`): replay the files or folders given as arguments.
@main
struct ReplayReply {
    static func main() { ReplayDriver.main(target: "Reply", entry: Harness.reply) }
}
#endif
