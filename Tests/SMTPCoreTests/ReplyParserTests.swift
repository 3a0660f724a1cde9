import XCTest
@testable import SMTPCore

final class ReplyParserTests: XCTestCase {
    /// Parses a stream with every feeding; asserts all agree and returns the result.
    private func replies(_ input: String, strict: Bool = false, file: StaticString = #filePath, line: UInt = #line) -> [Result<SMTPReply, SMTPError>] {
        var reference: [Result<SMTPReply, SMTPError>]?
        for feeding in Feeding.all {
            var parser = ReplyParser()
            parser.strictChallenges = strict
            var out: [Result<SMTPReply, SMTPError>] = []
            for segment in feeding.segments(Array(input.utf8)) {
                parser.append(segment)
                while true {
                    do {
                        guard let r = try parser.next() else { break }
                        out.append(.success(r))
                    } catch {
                        out.append(.failure(error))
                    }
                }
            }
            if let reference {
                XCTAssertEqual(out.map(Self.key), reference.map(Self.key), "\(feeding)", file: file, line: line)
            } else {
                reference = out
            }
        }
        return reference ?? []
    }

    private static func key(_ r: Result<SMTPReply, SMTPError>) -> String {
        switch r {
        case .success(let reply): "ok \(reply)"
        case .failure(let e): "error \(e.code) \(e.offset ?? -1)"
        }
    }

    func testSingleAndMultilineReplies() throws {
        let r = replies("220 mx.example.test ESMTP\r\n250-mx.example.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
        XCTAssertEqual(r.count, 2)
        let greeting = try r[0].get()
        XCTAssertEqual(greeting.code.value, 220)
        XCTAssertEqual(greeting.lines.map(\.text), ["mx.example.test ESMTP"])
        let ehlo = try r[1].get()
        XCTAssertEqual(ehlo.lines.map(\.text), ["mx.example.test", "PIPELINING", "STARTTLS"])
    }

    func testCodeOnlyLinesAreAccepted() throws {
        // RFC 5321 §4.2: clients must accept a reply code without text.
        let r = replies("250\r\n250-\r\n250 \r\n354\r\n")
        XCTAssertEqual(try r.map { try $0.get().code.value }, [250, 250, 354])
        XCTAssertEqual(try r[1].get().lines.map(\.text), ["", ""])
    }

    func testABare334IsReadTolerantlyAndRefusedStrictly() throws {
        // RFC 4954 §4: `continue-req = "334" SP [base64] CRLF`. A client reads a bare 334 (as a
        // bare code anywhere); the reply-grammar oracle's strict reader refuses it and reads on.
        let input = "334\r\n334 \r\n334 VXNlcm5hbWU6\r\n250\r\n"
        XCTAssertEqual(try replies(input).map { try $0.get().code.value }, [334, 334, 334, 250])
        let strict = replies(input, strict: true)
        XCTAssertEqual(strict.count, 4)
        guard case .failure(let e) = strict[0] else { return XCTFail("\(strict[0])") }
        XCTAssertEqual(e.code, .bareChallenge)
        XCTAssertEqual(e.offset, 3)
        XCTAssertEqual(try strict[1].get().lines.map(\.text), [""])
        XCTAssertEqual(try strict[2].get().lines.map(\.text), ["VXNlcm5hbWU6"])
        XCTAssertEqual(try strict[3].get().code.value, 250, "only 334 needs its SP")
        // The writer always puts the SP after 334, empty challenge or not; other codes stay bare.
        XCTAssertEqual(String(decoding: SMTPReply.authChallenge("").wire, as: UTF8.self), "334 \r\n")
        XCTAssertEqual(String(decoding: SMTPReply(ReplyCode(250)!).wire, as: UTF8.self), "250\r\n")
    }

    func testInconsistentMultilineCodesAreFatal() {
        // docs/catalog.md F1: "250-…" then "521 …".
        let r = replies("250-mx.example.test\r\n521 oops\r\n220 next\r\n")
        XCTAssertEqual(r.count, 2)
        guard case .failure(let e) = r[0] else { return XCTFail() }
        XCTAssertEqual(e.code, .inconsistentMultilineReply)
        XCTAssertEqual(e.offset, 21)
        XCTAssertEqual(try r[1].get().code.value, 220)
    }

    func testCodesOutsideTheGrammarAreRejected() {
        for line in ["199 x", "600 x", "999 x", "260 x", "1234 x", "25 x", "abc x", "2x0 x", "250x", "250\tx"] {
            let r = replies(line + "\r\n")
            guard case .failure(let e) = r.first else { return XCTFail(line) }
            XCTAssertTrue([.invalidReplyCode, .malformedReply].contains(e.code), "\(line): \(e)")
        }
        for line in ["260 x", "150 x", "600 x"] {
            guard case .failure(let e) = replies(line + "\r\n").first else { return XCTFail(line) }
            XCTAssertEqual(e.code, SMTPError.Code.invalidReplyCode, line)
        }
    }

    func testEnhancedCodesPerLine() throws {
        let r = try replies("550-5.7.1 first\r\n550 5.7.1 second\r\n250 2.0.0\r\n250 2.0.0x not a code\r\n")
            .map { try $0.get() }
        XCTAssertEqual(r[0].lines.map { $0.enhancedCode?.description }, ["5.7.1", "5.7.1"])
        XCTAssertEqual(r[0].lines.map(\.text), ["first", "second"])
        XCTAssertEqual(r[1].enhancedCode?.description, "2.0.0")
        XCTAssertEqual(r[1].lines[0].text, "")
        XCTAssertNil(r[2].enhancedCode)
        XCTAssertEqual(r[2].lines[0].text, "2.0.0x not a code")
    }

    func testMalformedEnhancedCodesStayText() throws {
        // docs/catalog.md F4: "5.7", leading zeros, class 3, four-digit subjects.
        for text in ["5.7 x", "5.07.1 x", "3.0.0 x", "5.1234.1 x", "05.1.1 x", "5..1 x"] {
            let r = try replies("550 \(text)\r\n")[0].get()
            XCTAssertNil(r.enhancedCode, text)
            XCTAssertEqual(r.lines[0].text, text)
        }
        let mismatch = try replies("550 2.0.0 ok?\r\n")[0].get()
        XCTAssertTrue(mismatch.hasEnhancedClassMismatch)
        XCTAssertEqual(mismatch.code.value, 550)
    }

    func testReplyLineLimitAtNMinusOneNAndNPlusOne() {
        for (length, ok) in [(509, true), (510, true), (511, false)] {
            let text = String(repeating: "t", count: length - 4)
            let r = replies("250 \(text)\r\n250 ok\r\n")
            if ok {
                XCTAssertEqual(r.count, 2)
                XCTAssertEqual(try r[0].get().lines[0].text.count, length - 4)
            } else {
                guard case .failure(let e) = r[0] else { return XCTFail() }
                XCTAssertEqual(e.code, .replyLineTooLong)
                XCTAssertEqual(try r[1].get().code.value, 250)
            }
        }
    }

    func testHugeReplyIsBounded() {
        // docs/catalog.md F2 (CPython TooLongLineTests): far more than 2 x 8192 octets of reply.
        var parser = ReplyParser()
        var errors: [SMTPError.Code] = []
        for _ in 0..<2048 {
            parser.append(Array("250-".utf8) + [UInt8](repeating: 0x61, count: 100) + [13, 10])
            while true {
                do { guard try parser.next() != nil else { break } } catch { errors.append(error.code); break }
            }
            XCTAssertLessThan(parser.bufferedByteCount, 1024)
        }
        XCTAssertTrue(errors.allSatisfy { $0 == .tooManyReplyLines })
        XCTAssertEqual(errors.count, 2048 / SMTPLimits.defaultReplyLines)
    }

    func testEightBitAndNULTextIsTolerated() throws {
        let r = try replies("250 caf\u{e9} \u{0} ok\r\n")[0].get()
        XCTAssertEqual(r.code.value, 250)
    }

    func testBareLineEndsAreErrors() {
        let r = replies("250 ok\n250 ok\r\n220 x\r\n")
        guard case .failure(let e) = r[0] else { return XCTFail() }
        XCTAssertEqual(e.code, .bareLineFeed)
        XCTAssertEqual(r.count, 2)
    }

    func testSerialisation() {
        XCTAssertEqual(String(decoding: SMTPReply.readyToStartTLS.wire, as: UTF8.self), "220 2.0.0 Ready to start TLS\r\n")
        XCTAssertEqual(String(decoding: SMTPReply.readyToStartTLS.withoutEnhancedCodes.wire, as: UTF8.self), "220 Ready to start TLS\r\n")
        let multi = SMTPReply(ReplyCode(250)!, nil, "mx", "PIPELINING", "")
        XCTAssertEqual(String(decoding: multi.wire, as: UTF8.self), "250-mx\r\n250-PIPELINING\r\n250\r\n")
        let enhanced = SMTPReply(ReplyCode(550)!, EnhancedStatusCode(codeClass: 5, subject: 7, detail: 1), "no", "really")
        XCTAssertEqual(String(decoding: enhanced.wire, as: UTF8.self), "550-5.7.1 no\r\n550 5.7.1 really\r\n")
    }

    func testCatalogueRepliesAreWellFormed() throws {
        let all: [SMTPReply] = [
            .greeting("mx.example.test"), .closing("mx"), .serviceNotAvailable("mx"), .timeout("mx"), .ok, .senderOK,
            .recipientOK, .resetOK, .messageAccepted(queueID: "Q1"), .chunkAccepted(octets: 5), .startMailInput,
            .cannotVerify, .help, .commandUnrecognized, .lineTooLong, .bareLineEnding, .invalidCharacters, .syntaxError,
            .noParametersAllowed, .badSenderAddress, .badRecipientAddress, .senderPathTooLong, .recipientPathTooLong,
            .commandNotImplemented, .badSequence, .parameterNotImplemented, .parametersNotRecognized, .tooManyRecipients,
            .messageTooBig, .insufficientStorage, .utf8NotAllowed, .bareLineEndingInData, .textLineTooLong, .localError,
            .transactionFailed, .readyToStartTLS, .tlsNotAvailable, .mustIssueStartTLS, .lackOfSecurity, .alreadyInTLS,
            .authChallenge(""), .authSucceeded, .authFailed, .authCancelled, .authInvalidBase64, .authLineTooLong,
            .authMechanismUnknown, .authEncryptionRequired, .requireTLSNotPossible,
        ]
        for reply in all {
            XCTAssertNoThrow(try reply.validate(), reply.description)
            var parser = ReplyParser()
            parser.append(reply.wire)
            XCTAssertEqual(try parser.next(), reply)
            if let e = reply.enhancedCode {
                XCTAssertEqual(Int(e.codeClass), Int(reply.code.value / 100), reply.description)
            }
        }
    }

    /// `skipNext` (the reply-grammar oracle's reading) ends the same replies and throws the same
    /// errors at the same offsets as `next`, whatever the stream, split anywhere.
    func testSkipNextJudgesTheGrammarAsNextDoes() {
        let streams = [
            "220 mx ESMTP\r\n250-a\r\n250-b\r\n250 c\r\n", "250-a\r\n251 b\r\n", "2x0 no\r\n", "600 out\r\n", "250_x\r\n",
            "334\r\n", "334 \r\n", "250\r\n354 go\r\n", "250-" + String(repeating: "x", count: 600) + "\r\n", "250 a\nb\r\n",
            String(repeating: "250-x\r\n", count: 120) + "250 end\r\n", "25", "250 2.0.0 ok\r\n421-4.3.2 bye\r\n421 4.3.2 bye\r\n",
        ]
        for text in streams {
            for strict in [false, true] {
                for cut in [1, 3, 7, Int.max] {
                    var reading = ReplyParser(), skipping = ReplyParser()
                    reading.strictChallenges = strict
                    skipping.strictChallenges = strict
                    var read: [String] = [], skipped: [String] = []
                    var readFailed = false, skipFailed = false
                    let bytes = Array(text.utf8)
                    var at = 0
                    while at < bytes.count {
                        let piece = Array(bytes[at..<min(bytes.count, at + min(cut, bytes.count))])
                        at += piece.count
                        reading.append(piece)
                        skipping.append(piece)
                        do { while !readFailed, try reading.next() != nil { read.append("reply") } } catch {
                            read.append("error \(error.code) @\(error.offset.map(String.init) ?? "-")")
                            readFailed = true
                        }
                        do { while !skipFailed, try skipping.skipNext() { skipped.append("reply") } } catch {
                            skipped.append("error \(error.code) @\(error.offset.map(String.init) ?? "-")")
                            skipFailed = true
                        }
                    }
                    XCTAssertEqual(skipped, read, "\(text.debugDescription) strict \(strict) cut \(cut)")
                    // Clean: the replies, `334 `, a bare 250, the incomplete `25`, the 421s; a bare 334 only when lenient.
                    let clean: Set<Int> = strict ? [0, 6, 7, 11, 12] : [0, 5, 6, 7, 11, 12]
                    XCTAssertEqual(read.contains { $0.hasPrefix("error") }, !clean.contains(streams.firstIndex(of: text)!),
                                   "the stream's errors as expected: \(text.debugDescription) \(read)")
                }
            }
        }
    }

    /// An enhanced code's octets as `write(into:)` puts them on the wire are its description.
    func testEnhancedCodesAreWrittenAsTheirText() throws {
        for (c, s, d) in [(2, 0, 0), (4, 7, 0), (5, 1, 10), (5, 99, 999), (2, 100, 9), (4, 999, 100)] {
            let code = try XCTUnwrap(EnhancedStatusCode(codeClass: c, subject: s, detail: d))
            var out: [UInt8] = []
            code.write(into: &out)
            XCTAssertEqual(String(decoding: out, as: UTF8.self), code.description)
        }
    }

    func testValidateRejectsBadText() {
        XCTAssertThrowsError(try SMTPReply(ReplyCode(250)!, nil, "a\r\nb").validate())
        XCTAssertThrowsError(try SMTPReply(ReplyCode(250)!, nil, String(repeating: "x", count: 510)).validate())
    }
}
