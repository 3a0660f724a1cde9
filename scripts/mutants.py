#!/usr/bin/env python3
"""The mutant suite (issue 14): realistic bugs planted one at a time in a scratch copy of the
repository, each run against what should kill it; prints a kill table and a score.

  scripts/mutants.py                      every mutant, its killing test, then the whole suite
                                          and the scenario library if the killing test missed
  scripts/mutants.py --quick              only each mutant's killing test (what CI runs, on a subset)
  scripts/mutants.py --only M4,M5         some mutants
  scripts/mutants.py --fuzz-seconds 300   also the mutant's fuzz target when the tests missed, bounded
  scripts/mutants.py --fuzz-seconds 300 --fuzz-always
                                          the fuzz target for every mutant, its time to the crash
                                          in its own column (the issue's "killed by a fuzz target
                                          within 5 minutes")
  scripts/mutants.py --in-place           mutate this tree (it must be clean) instead of a fresh clone

A mutant is killed when a check it names fails (non-zero exit, a trap). Each mutant is one exact
edit that must match once; a mutant whose edit no longer matches is reported, not skipped.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# id, where, what the bug is, the file, the text it replaces, the replacement, the test that must
# kill it (an XCTest filter), and the fuzz target that should.
MUTANTS = [
    ("M1", "SMTPServer", "the server keeps plaintext behind STARTTLS when it starts with NOOP",
     "Sources/SMTPServer/SMTPServerConnection+Commands.swift",
     "        if configuration.has(.keepsPlaintextAcrossStartTLS) {\n            phase = .tlsHandshake(kept: buffered)",
     "        if configuration.has(.keepsPlaintextAcrossStartTLS) || buffered.starts(with: Array(\"NOOP\".utf8)) {\n            phase = .tlsHandshake(kept: buffered)",
     "ServerTests/testEveryCommandPipelinedBehindSTARTTLSIsDiscarded", "StartTLSBoundary"),
    ("M2", "SMTPClient", "the client keeps buffered replies after the 220 when they start with 250",
     "Sources/SMTPClient/States/StartTLS.swift",
     "        if configuration.has(.keepsBufferedRepliesAcrossStartTLS) {",
     "        if configuration.has(.keepsBufferedRepliesAcrossStartTLS) || { var copy = replies; return copy.takeBufferedBytes().starts(with: Array(\"250\".utf8)) }() {",
     "ClientTests/testResponseInjectionAfter220", "StartTLSBoundary"),
    ("M3", "SMTPCore", "the reply parser accepts mixed codes when the last line is 250",
     "Sources/SMTPCore/Reply/ReplyParser.swift",
     "            if let expected = pendingCode, expected != code {",
     "            if let expected = pendingCode, expected != code, !(isLast && code.value == 250) {",
     "ReferenceModelTests", "Reply"),
    ("M4", "SMTPCore", "the framer accepts a line one octet over its limit",
     "Sources/SMTPCore/Framing/LineFramer.swift",
     "            if lf + 1 - lineStart > maximumLineLength { return .tooLongFinished(lf) }",
     "            if lf + 1 - lineStart > maximumLineLength + 1 { return .tooLongFinished(lf) }",
     "LineFramerTests/testLimitAtNMinusOneNAndNPlusOne", "LineFramer"),
    ("M5", "oracles", "the tls-teardown oracle never looks at what a side writes in the clear",
     "Sources/Simulation/Oracles/TLSTeardownOracle.swift",
     "        guard host.epoch == 2, !host.inClearAfterOwnEnd, let end = host.tlsEnd else { return }",
     "        guard host.epoch == 3, !host.inClearAfterOwnEnd, let end = host.tlsEnd else { return }",
     "TLSTeardownOracleTests", "StartTLSBoundary"),
    ("M6", "TLS glue", "data read before a record failure leaves the session half-alive",
     "Sources/EndpointHosting/EndpointHost.swift",
     "            if let failure = engine.failure, case .established = tls, !closed { recordFailed(engine, failure) }",
     "",
     "ServeSendTests/testAnAlertFromServeAndCleartextFromSendEndTheSessionWithoutAMessage", "StartTLSBoundary"),
    ("M7", "SMTPClient", "a client whose TLS failed is never told the connection is lost",
     "Sources/SMTPClient/SMTPClientConnection.swift",
     "        // The connection is lost, as after a FIN: RFC 5321 §3.8 (as if 451 had been received).\n        return peerClosed()",
     "        return byAlert ? [] : peerClosed()",
     "ScenarioLibraryTests/testLibraryIsLargeAndEveryScenarioPasses", "StartTLSBoundary"),
    ("M8", "SMTPCore", "the framer reports a bare LF before the length, wherever the LF is (the error then depends on how the stream is cut)",
     "Sources/SMTPCore/Framing/LineFramer.swift",
     "            guard lf > lineStart, p[lf - 1] == ASCII.cr else { return lf <= crossing ? .bareLF(lf) : .tooLongUnfinished }",
     "            guard lf > lineStart, p[lf - 1] == ASCII.cr else { return .bareLF(lf) }",
     "ReferenceModelTests/testTheFramerAgreesWithTheModelHoweverTheStreamIsCut", "LineFramer"),
    ("M9", "SMTPCore", "the DATA decoder takes CR . CR LF for the end of the data once the body passes 100 octets",
     "Sources/SMTPCore/Data/DataDecoder.swift",
     "        if configuration.acceptedPseudoTerminators.contains(variant) {",
     "        if configuration.acceptedPseudoTerminators.contains(variant) || (variant == .crCRLF && bodySize > 100) {",
     "ReferenceModelTests/testTheDataDecoderAgreesWithTheModelOnSeededBodies", "DataDecoder"),
    ("M10", "SMTPCore", "an IPv6 address literal may write seven groups beside \"::\"",
     "Sources/SMTPCore/Address/PathParser.swift",
     "        return compressed ? total <= 6 : total == 8",
     "        return compressed ? total <= 7 : total == 8",
     "ReferenceModelTests/testTheMailboxModelSaysWhatRFC5321Says", "Mailbox"),
    ("M11", "SMTPCore", "a MAIL parameter value may hold octets that are not UTF-8",
     "Sources/SMTPCore/Command/ESMTPParameters.swift",
     "                if allowUTF8, raw.contains(where: { $0 >= 0x80 }), String(validating: raw, as: UTF8.self) == nil {",
     "                if allowUTF8, raw.isEmpty, String(validating: raw, as: UTF8.self) == nil {",
     "CorpusReplayTests/testEveryCorpusFileReplaysWithoutCrashing", "CommandLine"),
    ("M12", "SMTPCore", "a space after MAIL FROM: is accepted",
     "Sources/SMTPCore/Command/CommandParser.swift",
     "        guard b[i] != ASCII.space else {",
     "        guard b[i] != ASCII.space || word.utf8CodeUnitCount == 5 else {",
     "CommandParserTests/testSpaceAfterColonIsRefused", "CommandLine"),
    ("M13", "SMTPCore", "STARTTLS in an EHLO reply may carry parameters",
     "Sources/SMTPCore/Extensions/Capabilities.swift",
     "        case \"STARTTLS\": self = try noParameters(.startTLS)",
     "        case \"STARTTLS\": self = .startTLS",
     "ReferenceModelTests/testEHLORepliesAgreeWithTheirModel", "EHLOCapabilities"),
    ("M14", "SMTPCore", "base64 with a non-canonical final quantum (xxx=) is accepted",
     "Sources/SMTPCore/Auth/Base64.swift",
     "            if padding == 1, word & 0xFF != 0 { throw invalid(\"non-canonical final quantum\") }",
     "",
     "ReferenceModelTests/testBase64AndPLAINAgreeWithTheirModels", "Auth"),
    ("M15", "SMTPCore", "a BDAT chunk takes one octet more than its size",
     "Sources/SMTPCore/BDAT/ChunkReader.swift",
     "        let take = Int(min(UInt64(bytes.count), remaining))",
     "        let take = Int(min(UInt64(bytes.count), remaining + 1))",
     "ReferenceModelTests/testBDATAgreesWithRFC3030", "BDAT"),
    ("M16", "SMTPServer", "the server accepts one recipient more than its limit",
     "Sources/SMTPServer/SMTPServerConnection+Commands.swift",
     "        guard transaction.recipients.count < configuration.limits.recipients else { return reply(.tooManyRecipients) }",
     "        guard transaction.recipients.count <= configuration.limits.recipients else { return reply(.tooManyRecipients) }",
     "ServerTests/testSizeAndRecipientLimits", "ServerSession"),
    ("M17", "SMTPServer", "the server offers AUTH PLAIN before TLS",
     "Sources/SMTPServer/SMTPServerConnection.swift",
     "        if !configuration.authMechanisms.isEmpty, session.tls || configuration.has(.offersAuthPlainBeforeTLS) {",
     "        if !configuration.authMechanisms.isEmpty {",
     "CorpusReplayTests/testEveryCorpusFileReplaysWithoutCrashing", "ServerSession"),
    ("M18", "SMTPClient", "the client keeps the capabilities it learnt before TLS",
     "Sources/SMTPClient/States/Hello.swift",
     "            if configuration.has(.keepsPreTLSCapabilities), let old = session.preTLSCapabilities {",
     "            if let old = session.preTLSCapabilities {",
     "ClientTests/testPreTLSCapabilitiesAreForgotten", "StartTLSBoundary"),
    ("M19", "SMTPClient", "the client authenticates before TLS when the server offers AUTH there",
     "Sources/SMTPClient/States/Hello.swift",
     "            session.inTLS || configuration.has(.sendsAuthBeforeTLS)",
     "            session.inTLS || configuration.has(.sendsAuthBeforeTLS) || session.capabilities.authMechanisms.contains(\"PLAIN\")",
     "ClientTests/testCredentialsNeverGoOutInPlaintextEvenWhenTheServerOffersAUTHThere", "ClientSession"),
    ("M20", "oracles", "the TLS-boundary rule lets a client send two commands inside TLS before it hears anything",
     "Sources/EndpointHosting/EndpointHost.swift",
     "            guard writesInTLS >= 1 else { return nil }",
     "            guard writesInTLS >= 2 else { return nil }",
     "InjectionSweepTests/testAClientThatKeepsInjectedRepliesIsCaughtAtEveryReply", "StartTLSBoundary"),
    ("M21", "TLS glue", "the host records every established session as verified, whatever the certificate check said",
     "Sources/EndpointHosting/EndpointHost.swift",
     "            tls = .established(engine, peerVerified: report.peerVerified)",
     "            tls = .established(engine, peerVerified: report.established)",
     "ScenarioLibraryTests/testLibraryIsLargeAndEveryScenarioPasses", "StartTLSBoundary"),
    ("M22", "SMTPClient", "the client does not stuff a dot at the start of a body line",
     "Sources/SMTPCore/Data/DotStuffer.swift",
     "            if stuffsDots, atLineStart, end > start, b[start] == ASCII.dot { out.append(ASCII.dot) }",
     "",
     "ScenarioLibraryTests/testLibraryIsLargeAndEveryScenarioPasses", "Simulation"),
    ("M23", "SMTPCore", "reply codes with a second digit past 5 are accepted",
     "Sources/SMTPCore/Reply/ReplyCode.swift",
     "        guard second <= 5 else { return nil }",
     "        guard second <= 9 else { return nil }",
     "ReferenceModelTests/testTheReplyParserAgreesWithTheModelOnSeededInputs", "Reply"),
    # Issue 27: three one-line bugs that once survived the suite, the library and fuzzing.
    ("M24", "SMTPServer", "a server rule's tls condition no longer guards its nth count ({at: EHLO, tls: true, nth: 1} never fires)",
     "Sources/SMTPServer/SMTPServerConnection+Rules.swift",
     "            if let tls = rule.condition.tls, tls != session.tls { continue }\n",
     "",
     "ServerRuleTests/testEachConditionGuardsTheCount", "Simulation"),
    ("M25", "TLS glue", "cleartext that came with the peer's close_notify reaches a flawed endpoint as if read inside TLS",
     "Sources/EndpointHosting/EndpointHost.swift",
     "                if !leftover.isEmpty { deliverAfterEnd(leftover) }",
     "                if !leftover.isEmpty { deliver(leftover) }",
     "FalseFindingTests/testEveryEndOfTLSWithCleartextInTheSameSegmentOrALaterOneIsReadOnlyByAFlawedServer", "StartTLSBoundary"),
    ("M26", "oracles", "the transaction count takes the relay's forwarded copies for messages a client meant to send",
     "Sources/Simulation/Oracles/TransactionCountOracle.swift",
     "        let intended = world.clientPrograms.filter { $0 !== world.forwarder }.flatMap(\\.intendedMessages)",
     "        let intended = world.clientPrograms.flatMap(\\.intendedMessages)",
     "MissedFindingTests/testAMessageSmuggledIntoTheRelayAtTheFirstHopIsCaughtThere", "Simulation"),
]


def run(argv, cwd, timeout):
    start = time.time()
    try:
        p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        return p.returncode, time.time() - start, p.stdout[-3000:] + p.stderr[-3000:]
    except subprocess.TimeoutExpired:
        return 124, time.time() - start, "timed out"


def apply(tree, mutant):
    path = os.path.join(tree, mutant[3])
    text = open(path, encoding="utf-8").read()
    if text.count(mutant[4]) != 1:
        return False
    open(path, "w", encoding="utf-8").write(text.replace(mutant[4], mutant[5]))
    return True


def revert(tree, mutant):
    subprocess.run(["git", "checkout", "--", mutant[3]], cwd=tree, check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only")
    ap.add_argument("--fuzz-seconds", type=int, default=0)
    ap.add_argument("--fuzz-always", action="store_true")
    ap.add_argument("--in-place", action="store_true")
    ap.add_argument("--timeout", type=int, default=1800, help="bound on each build or check, seconds")
    args = ap.parse_args()
    chosen = [m for m in MUTANTS if not args.only or m[0] in args.only.split(",")]
    if args.in_place:
        tree = ROOT
        if subprocess.run(["git", "status", "--porcelain"], cwd=tree, capture_output=True, text=True).stdout.strip():
            sys.exit("mutants.py --in-place: the tree has uncommitted changes; commit or use a scratch clone")
    else:
        tree = tempfile.mkdtemp(prefix="smtpsim-mutants-")
        subprocess.run(["git", "clone", "-q", ROOT, tree], check=True)
    rows = []
    for m in chosen:
        ident, area, what = m[0], m[1], m[2]
        if not apply(tree, m):
            rows.append((ident, area, what, "edit no longer matches", "-", 0))
            continue
        try:
            killer, seconds = "survived", 0.0
            rc, t, out = run(["swift", "build", "--build-tests"], tree, args.timeout)
            seconds += t
            if rc != 0:
                killer = "the build (not a realistic mutant)"
            else:
                rc, t, out = run(["swift", "test", "--disable-swift-testing", "--filter", m[6]], tree, args.timeout)
                seconds += t
                if rc != 0:
                    killer = "test " + m[6]
            if killer == "survived" and not args.quick:
                rc, t, out = run(["swift", "test", "--disable-swift-testing"], tree, args.timeout)
                seconds += t
                if rc != 0:
                    killer = "the test suite"
                else:
                    rc, t, out = run(["swift", "run", "smtpsim", "run", "Scenarios/"], tree, args.timeout)
                    seconds += t
                    if rc != 0:
                        killer = "the scenario library"
            fuzzed = "-"
            if args.fuzz_seconds > 0 and (killer == "survived" or args.fuzz_always):
                # Built first, so that the time to the crash is the fuzzing alone.
                run(["swift", "run", "smtpsim", "fuzz", m[7], "--time", "1s", "--no-merge", "--fresh"], tree, args.timeout)
                rc, t, out = run(["swift", "run", "smtpsim", "fuzz", m[7], "--time", f"{args.fuzz_seconds}s", "--no-merge", "--fresh"],
                                 tree, args.timeout + args.fuzz_seconds)
                fuzzed = f"{m[7]} in {t:.0f} s" if rc != 0 else f"{m[7]}: survived {args.fuzz_seconds} s"
                if rc != 0 and killer == "survived":
                    killer = f"fuzz target {m[7]} within {args.fuzz_seconds} s"
            rows.append((ident, area, what, killer, fuzzed, seconds))
            print(f"{ident} {what}: {killer} ({seconds:.0f} s); fuzz: {fuzzed}", flush=True)
        finally:
            revert(tree, m)
    print("\n| mutant | where | bug | killed by | time | fuzz target |")
    print("| --- | --- | --- | --- | --- | --- |")
    for ident, area, what, killer, fuzzed, seconds in rows:
        print(f"| {ident} | {area} | {what} | {killer} | {seconds:.0f} s | {fuzzed} |")
    killed = sum(1 for r in rows if r[3] not in ("survived", "edit no longer matches"))
    print(f"\nscore: {killed} of {len(rows)} killed")
    sys.exit(0 if killed == len(rows) else 1)


if __name__ == "__main__":
    main()
