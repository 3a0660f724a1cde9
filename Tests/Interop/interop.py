#!/usr/bin/env python3
"""Interop tests: smtpsim's serve / send / proxy / probe against real SMTP software on loopback.

Usage: interop.py SMTPSIM_BINARY

Peers: Python's smtplib, swaks, curl, s-nail, sslyze and `openssl s_client -starttls smtp` against `smtpsim serve`;
ten real mail clients (and smtpsim's own) judged by `smtpsim probe --client`, every cell asserted (clients/);
`smtpsim send` and `smtpsim probe` against aiosmtpd (STARTTLS, AUTH); `smtpsim proxy` between
smtplib and aiosmtpd; as root, Postfix as an inbound server (`probe`) and as an outbound relay
whose relayhost is smtpsim's listener (`probe --outbound`), and `smtpsim matrix` over them all. Every peer is a process started here and stopped by its process id; every
wait is bounded. Exit status 0 when every check passed.
"""
import glob
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SMTPSIM = os.path.abspath(sys.argv[1])
WORK = tempfile.mkdtemp(prefix="smtpsim-interop-")
DEADLINE = time.monotonic() + 1080  # the whole run
processes = []
failures = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(name, argv):
    log = open(os.path.join(WORK, name + ".log"), "w")
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    processes.append((name, p))
    return p


def stop(p):
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)


def wait_for(name, pattern, seconds=30):
    """The first match of `pattern` in the named process's log."""
    path = os.path.join(WORK, name + ".log")
    end = min(time.monotonic() + seconds, DEADLINE)
    while time.monotonic() < end:
        with open(path) as f:
            m = re.search(pattern, f.read())
        if m:
            return m
        time.sleep(0.05)
    raise RuntimeError(f"{name}: no {pattern!r} within {seconds} s:\n" + open(path).read()[-2000:])


def run(argv, timeout=60, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def check(name, ok, detail=""):
    print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f"  ({detail})" if detail and not ok else ""), flush=True)
    if not ok:
        failures.append(name)


def serve(name, *extra):
    """Starts `smtpsim serve` on a free port; returns (port, maildir)."""
    maildir = os.path.join(WORK, name + "-maildir")
    start(name, [SMTPSIM, "serve", "--listen", "127.0.0.1:0", "--maildir", maildir, "--hostname", "localhost",
                 "--write-ca", os.path.join(WORK, "ca.pem"), "--auth", "alice:secret", *extra])
    port = int(wait_for(name, r"listening on 127\.0\.0\.1:(\d+)").group(1))
    return port, maildir


def envelopes(maildir):
    out = []
    for path in sorted(glob.glob(os.path.join(maildir, "*.json"))):
        with open(path) as f:
            e = json.load(f)
        with open(path[:-5] + ".eml", "rb") as f:
            e["body"] = f.read()
        out.append(e)
    return out


# --- smtpsim serve with real clients -------------------------------------------------------------

def smtplib_against_serve():
    port, maildir = serve("serve-smtplib")
    context = ssl.create_default_context(cafile=os.path.join(WORK, "ca.pem"))
    with smtplib.SMTP("localhost", port, timeout=10) as s:
        s.ehlo("smtplib.example")
        check("smtplib: STARTTLS advertised", s.has_extn("starttls"))
        check("smtplib: no AUTH before TLS", not s.has_extn("auth"))
        s.starttls(context=context)
        s.ehlo("smtplib.example")
        check("smtplib: AUTH PLAIN inside TLS", "PLAIN" in s.esmtp_features.get("auth", ""))
        check("smtplib: STARTTLS not re-advertised inside TLS", not s.has_extn("starttls"))
        s.login("alice", "secret")
        # PIPELINING (RFC 2920): smtplib has none, so pipeline by hand and read three replies.
        check("smtplib: PIPELINING advertised", s.has_extn("pipelining"))
        s.send(b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.net>\r\nDATA\r\n")
        codes = [s.getreply()[0] for _ in range(3)]
        check("smtplib: pipelined MAIL/RCPT/DATA answered 250 250 354", codes == [250, 250, 354], str(codes))
        s.send(b"Subject: pipelined\r\n\r\n..dot line\r\nbody\r\n.\r\n")
        code, _ = s.getreply()
        check("smtplib: message accepted", code == 250, str(code))
        s.send_message_result = s.sendmail("alice@example.test", ["carol@example.net"], "Subject: second\r\n\r\nsecond\r\n")
    got = envelopes(maildir)
    check("smtplib: two messages in the maildir", len(got) == 2, str(len(got)))
    if got:
        check("smtplib: body unstuffed exactly", got[0]["body"] == b"Subject: pipelined\r\n\r\n.dot line\r\nbody\r\n", repr(got[0]["body"]))
        check("smtplib: envelope says TLS and AUTH", got[0]["over_tls"] and got[0]["authenticated_as"] == "alice", str(got[0]))


def swaks_against_serve():
    port, maildir = serve("serve-swaks")
    r = run(["swaks", "--server", f"localhost:{port}", "--from", "alice@example.test", "--to", "bob@example.net",
             "--tls", "--tls-verify", "--tls-ca-path", os.path.join(WORK, "ca.pem"), "--pipeline",
             "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", "secret", "--timeout", "10"])
    check("swaks: STARTTLS + verify + AUTH PLAIN + PIPELINING exits 0", r.returncode == 0, r.stdout[-1500:] + r.stderr[-500:])
    got = envelopes(maildir)
    check("swaks: message in the maildir over TLS", len(got) == 1 and got[0]["over_tls"] and got[0]["authenticated_as"] == "alice", str(got))


def swaks_judged_by_serve():
    """Issue 28: `serve` judges the client. A 220 to STARTTLS that never starts TLS (a scenario
    rule, `act: false`): `swaks --tls-optional` fails its handshake and sends MAIL FROM in the
    clear on the same connection, which serve reports against the client (RFC 3207 §4.1), on
    stderr and in --record's C1.json; swaks with working STARTTLS is not judged."""
    rule = os.path.join(WORK, "starttls-220-without-tls.yaml")
    with open(rule, "w") as f:
        f.write("version: 1\nname: a 220 to STARTTLS that never starts TLS\nserver:\n  rules:\n"
                "    - {at: STARTTLS, reply: \"220 2.0.0 Ready to start TLS\", act: false}\n"
                "client:\n  messages: [{from: alice@example.test, to: bob@example.net, body: x}]\n")
    for name, extra, args, expect in [
        ("serve-judged-stripped", ["--scenario", rule], ["--tls-optional"], ["plaintext-exposure"]),
        ("serve-judged-compliant", [], ["--tls", "--tls-verify", "--tls-ca-path", os.path.join(WORK, "ca.pem")], []),
    ]:
        record = os.path.join(WORK, name + "-record")
        port, _ = serve(name, "--record", record, "--max-connections", "1", *extra)
        r = run(["swaks", "--server", f"localhost:{port}", "--from", "alice@example.test", "--to", "bob@example.net",
                 "--timeout", "3", *args])
        wait_for(name, r"C1 -- session ended")
        path = os.path.join(record, "C1.json")
        for _ in range(100):
            if os.path.exists(path):
                break
            time.sleep(0.05)
        with open(path) as f:
            doc = json.load(f)
        got = [f["oracle"] for f in doc["findings"]]
        check(f"swaks {' '.join(args)}: serve --record finds {expect or 'nothing'}", got == expect, str(doc["findings"]) + r.stdout[-800:])
        if expect:
            wire = doc["events"][doc["findings"][0]["event"]]
            check("swaks --tls-optional: the finding's event is MAIL FROM in plaintext",
                  wire["event"] == "received" and wire["layer"] == "plaintext" and wire["text"].startswith("MAIL FROM:"), str(wire))
            log = open(os.path.join(WORK, name + ".log")).read()
            check("swaks --tls-optional: serve says FINDING on stderr", "C1 FINDING plaintext-exposure (client)" in log, log[-800:])


def openssl_against_serve():
    port, _ = serve("serve-openssl")
    r = run(["openssl", "s_client", "-starttls", "smtp", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
             "-CAfile", os.path.join(WORK, "ca.pem"), "-verify_hostname", "localhost", "-verify_return_error",
             "-crlf", "-ign_eof"], input="EHLO openssl.example\nQUIT\n", timeout=20)
    out = r.stdout
    check("openssl s_client: verify return code 0", "Verify return code: 0 (ok)" in out, out[-1500:] + r.stderr[-500:])
    check("openssl s_client: EHLO inside TLS answered, AUTH offered", "250-AUTH PLAIN LOGIN" in out or "250 AUTH PLAIN LOGIN" in out, out[-800:])
    check("openssl s_client: QUIT answered 221", "221 " in out, out[-500:])


def curl_against_serve():
    """curl by address: serve's certificate covers its listen address (issue 16)."""
    port, maildir = serve("serve-curl")
    message = os.path.join(WORK, "curl.eml")
    with open(message, "wb") as f:
        f.write(b"From: <alice@example.test>\r\nSubject: curl\r\n\r\nby curl\r\n")
    r = run(["curl", "-sS", "--ssl-reqd", f"smtp://127.0.0.1:{port}", "--cacert", os.path.join(WORK, "ca.pem"),
             "--mail-from", "alice@example.test", "--mail-rcpt", "bob@example.net", "--upload-file", message], timeout=30)
    check("curl --ssl-reqd smtp://127.0.0.1: certificate verified by address, message sent", r.returncode == 0, r.stderr[-600:])
    got = envelopes(maildir)
    check("curl: the message in the maildir over TLS", len(got) == 1 and got[0]["over_tls"], str(got))


def implicit_tls_against_serve():
    """`serve --implicit-tls` (RFC 8314 §3) with curl smtps://, swaks --tlsc, msmtp with
    tls_starttls off and Python's smtplib.SMTP_SSL: each verifies the certificate, delivers, and
    serve's log shows the greeting inside TLS and not one line in the clear."""
    port, maildir = serve("serve-implicit", "--implicit-tls")
    ca = os.path.join(WORK, "ca.pem")
    message = os.path.join(WORK, "implicit.eml")
    with open(message, "wb") as f:
        f.write(b"From: <alice@example.test>\r\nSubject: implicit TLS\r\n\r\nby a client configured for port 465\r\n")
    clients = {
        "curl smtps://": ["curl", "-sS", "--max-time", "10", f"smtps://127.0.0.1:{port}", "--cacert", ca, "--mail-from", "alice@example.test",
                          "--mail-rcpt", "bob@example.net", "--upload-file", message, "--user", "alice:secret"],
        "swaks --tlsc": ["swaks", "--server", f"localhost:{port}", "--tlsc", "--tls-verify", "--tls-ca-path", ca, "--from", "alice@example.test",
                         "--to", "bob@example.net", "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", "secret", "--timeout", "10"],
        "msmtp tls_starttls off": ["sh", "-c", f'msmtp --host=localhost --port={port} --tls=on --tls-starttls=off --tls-trust-file={ca} --auth=plain '
                                   f'--user=alice "--passwordeval=echo secret" --from=alice@example.test bob@example.net < {message}'],
        "python smtplib.SMTP_SSL": [sys.executable, os.path.join(CLIENTS_DIR, "smtplib_client.py"), "--implicit-tls", "--policy", "required", "--host", "localhost",
                                    "--port", str(port), "--ca", ca, "--sender", "alice@example.test", "--user", "alice", "--password", "secret",
                                    "--message", message, "--to", "bob@example.net"],
        "smtpsim send --implicit-tls": [SMTPSIM, "send", "--implicit-tls", "--server", f"127.0.0.1:{port}", "--starttls", "required", "--ca", ca,
                                        "--auth", "alice:secret", "--to", "bob@example.net", "--timeout", "10", "--quiet", message],
    }
    for n, (name, argv) in enumerate(clients.items(), 1):
        r = run(argv, timeout=60)
        check(f"serve --implicit-tls: {name} delivers (exit 0)", r.returncode == 0, (r.stdout + r.stderr)[-1200:])
        got = envelopes(maildir)
        check(f"serve --implicit-tls: {name}'s message in the maildir over TLS, authenticated", len(got) == n and got[-1]["over_tls"] and got[-1]["authenticated_as"] == "alice",
              str([(e["over_tls"], e["authenticated_as"]) for e in got]))
    log = open(os.path.join(WORK, "serve-implicit.log")).read()
    clear = [l for l in log.splitlines() if re.search(r"^C\d+ [SC]: ", l)]
    check("serve --implicit-tls: not one line in the clear, either way", clear == [], "\n".join(clear[:5]))
    check("serve --implicit-tls: each greeting is the first thing said, inside TLS", log.count("S[tls]: 220 localhost") == len(clients), log[-800:])
    check("serve --implicit-tls: no finding against these clients", "FINDING" not in log, log[-800:])
    # A client that expects STARTTLS gets no greeting in the clear: curl smtp:// times out.
    r = run(["curl", "-sS", "--max-time", "3", f"smtp://127.0.0.1:{port}", "--mail-from", "a@example.test", "--mail-rcpt", "b@example.net",
             "--upload-file", message], timeout=30)
    check("serve --implicit-tls: a STARTTLS client (curl smtp://) gets no greeting and delivers nothing", r.returncode != 0 and len(envelopes(maildir)) == len(clients),
          f"{r.returncode} {r.stderr[-300:]}")
    probe_against("smtpsim serve --implicit-tls", port, implicit=True)
    # A scenario's client script under `security: implicit-tls` (`run --against`) starts TLS first.
    scenario = os.path.join(WORK, "implicit-script.yaml")
    with open(scenario, "w") as f:
        f.write('version: 1\nname: an implicit-TLS script\nclient:\n  security: implicit-tls\n  script:\n    - expect: "220"\n'
                '    - send-line: EHLO script.test\n    - expect: {reply: "250", advertises: [AUTH], withholds: [STARTTLS]}\n'
                '    - send-line: QUIT\n    - expect: "221"\nexpect:\n  trace-contains: ["220 localhost"]\n')
    r = run([SMTPSIM, "run", scenario, "--against", f"127.0.0.1:{port}", "--timeout", "5"], timeout=60)
    check("run --against serve --implicit-tls: an implicit-TLS client script answers as written (exit 0)", r.returncode == 0, r.stdout[-800:] + r.stderr[-300:])


def implicit_tls_against_aiosmtpd(cert, key):
    """aiosmtpd with an SSL context (implicit TLS, RFC 8314 §3): `send --implicit-tls` delivers,
    `probe --implicit-tls` judges it inside TLS."""
    port, record = aiosmtpd("aiosmtpd-implicit", cert, key, "--implicit-tls")
    r = run([SMTPSIM, "send", "--implicit-tls", "--server", f"127.0.0.1:{port}", "--server-name", "localhost", "--starttls", "required", "--ca", cert,
             "--auth", "alice:secret", "--to", "bob@example.net", "--timeout", "10"])
    check("send --implicit-tls → aiosmtpd (ssl_context): delivers over TLS (exit 0)", r.returncode == 0 and "delivered over TLS" in r.stdout, r.stdout[-1500:] + r.stderr)
    got = records(record)
    check("send --implicit-tls → aiosmtpd: recorded inside TLS, authenticated", len(got) == 1 and got[0]["tls"] and got[0]["auth"] == "alice", str(got))
    # As over STARTTLS: no CHUNKING (BDAT n/a); inside implicit TLS a STARTTLS is answered 503, so
    # B5 is n/a here rather than the STARTTLS port's failure.
    bdat = [f"G2 bdat-{v}" for v in SMUGGLING_VARIANTS]
    probe_against("aiosmtpd (implicit TLS)", port, (), expect_na=["I2 close-notify-mid-bdat-then-cleartext"] + bdat, implicit=True)


def snail_send(name, port, ca):
    """s-nail 14.9 submits one message over STARTTLS with AUTH PLAIN (no initial response: it
    waits for the server's 334 challenge, RFC 4954 §4); returns its exit status and stderr."""
    home = os.path.join(WORK, name + "-home")
    os.makedirs(home, exist_ok=True)
    r = subprocess.run(["s-nail", "-:/", "-Sv15-compat", "-Sttycharset=utf-8", "-Snosave", "-Sverbose",
                        f"-Smta=smtp://alice:secret@localhost:{port}", "-Ssmtp-use-starttls", "-Ssmtp-auth=plain",
                        f"-Stls-ca-file={ca}", "-Stls-ca-no-defaults", "-Sfrom=alice@example.test",
                        "-s", "s-nail", "bob@example.net"], input="by s-nail\n", capture_output=True, text=True,
                       timeout=30, env={**os.environ, "HOME": home})
    return r.returncode, r.stderr


def snail_against_serve():
    """Issue 35: smtpsim's empty challenge is `334 SP` and s-nail authenticates; a scenario rule
    that answers AUTH with a bare `334` is sent as written, s-nail gives up on it, and the
    reply-grammar oracle reports the server (RFC 4954 §4) when the same file runs in the simulator."""
    port, maildir = serve("serve-snail")
    code, err = snail_send("snail", port, os.path.join(WORK, "ca.pem"))
    check("s-nail: STARTTLS + AUTH PLAIN (empty 334 challenge) + delivery exits 0", code == 0, err[-800:])
    got = envelopes(maildir)
    check("s-nail: the message in the maildir, authenticated over TLS",
          len(got) == 1 and got[0]["over_tls"] and got[0]["authenticated_as"] == "alice", str(got))
    with open(os.path.join(WORK, "serve-snail.log")) as f:
        log = f.read()
    check("s-nail: the challenge on the wire is '334 ' (serve's log)", "S[tls]: 334 \n" in log, log[-600:])
    bare = os.path.join(WORK, "bare-334.yaml")
    with open(bare, "w") as f:
        f.write("version: 1\nname: a bare 334 to AUTH\nserver:\n  auth: {users: {alice: secret}}\n  rules:\n"
                "    - {at: AUTH, reply: '334'}\nclient:\n  auth: {user: alice, password: secret}\n"
                "  messages: [{from: a@example.test, to: b@example.net, body: x}]\n"
                "expect: {findings: {server: [reply-grammar]}}\n")
    port, maildir = serve("serve-snail-bare", "--scenario", bare)
    code, err = snail_send("snail-bare", port, os.path.join(WORK, "ca.pem"))
    check("s-nail: a bare 334 makes it give up (exit 4, nothing delivered)", code == 4 and not envelopes(maildir), f"{code} {err[-400:]}")
    with open(os.path.join(WORK, "serve-snail-bare.log")) as f:
        log = f.read()
    check("s-nail: the bare 334 on the wire (serve's log)", "S[tls]: 334\n" in log, log[-600:])
    r = run([SMTPSIM, "run", bare, "--trace"])
    check("s-nail: the same file in the simulator: a reply-grammar finding naming RFC 4954 §4",
          r.returncode == 0 and "RFC 4954 §4" in r.stdout, r.stdout[-1200:])


def idle_flood_against_serve():
    """200 idle connections (from 127.0.0.2, and from 200 addresses) must not lock smtplib out:
    the per-client limit, and stress timeouts that trim idle sessions (issue 16)."""
    for name, sources, extra in [("one address", ["127.0.0.2"], []),
                                 ("200 addresses", [f"127.0.{1 + i // 250}.{2 + i % 250}" for i in range(200)], ["--stress-timeout", "2"])]:
        port, maildir = serve("serve-flood-" + name.replace(" ", "-"), *extra)
        flood = []
        try:
            for i in range(200):
                s = socket.socket()
                s.bind((sources[i % len(sources)], 0))
                s.settimeout(5)
                s.connect(("127.0.0.1", port))
                flood.append(s)
            start = time.monotonic()
            ok = False
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=15) as c:
                    c.sendmail("alice@example.test", ["bob@example.net"], "Subject: flood\r\n\r\nthrough the flood\r\n")
                    ok = True
            except (smtplib.SMTPException, OSError) as e:
                detail = f"{type(e).__name__}: {e}"
            took = time.monotonic() - start
            check(f"idle flood from {name}: a real client delivers within 15 s", ok and took < 15 and len(envelopes(maildir)) == 1,
                  f"{took:.1f} s" if ok else detail)
        finally:
            for s in flood:
                s.close()


def sslyze_against_serve():
    """sslyze's JSON on serve (issue 16): TLS 1.2 and 1.3 only, AEAD suites only, the certificate
    verified against --write-ca and valid for the address, and Mozilla's intermediate profile."""
    port, _ = serve("serve-sslyze")
    out = os.path.join(WORK, "sslyze.json")
    r = run([sys.executable, "-m", "sslyze", f"127.0.0.1:{port}", "--starttls", "smtp", "--certinfo_ca_file",
             os.path.join(WORK, "ca.pem"), "--json_out", out, "--quiet"], timeout=240)
    try:
        result = json.load(open(out))["server_scan_results"][0]["scan_result"]
    except (OSError, ValueError, KeyError, IndexError) as e:
        check("sslyze: a scan result", False, f"{e}: {r.stdout[-600:]} {r.stderr[-600:]}")
        return

    def accepted(key):
        return [c["cipher_suite"]["name"] for c in (result.get(key) or {}).get("result", {}).get("accepted_cipher_suites", [])]

    old = accepted("ssl_2_0_cipher_suites") + accepted("ssl_3_0_cipher_suites") + accepted("tls_1_0_cipher_suites") + accepted("tls_1_1_cipher_suites")
    check("sslyze: nothing below TLS 1.2", old == [], str(old))
    tls12, tls13 = accepted("tls_1_2_cipher_suites"), accepted("tls_1_3_cipher_suites")
    check("sslyze: TLS 1.2 and 1.3 offered", bool(tls12) and bool(tls13), f"{tls12} {tls13}")
    cbc = [s for s in tls12 if "CBC" in s or not ("GCM" in s or "CHACHA20" in s)]
    check("sslyze: AEAD suites only (no CBC)", cbc == [], str(cbc))
    deployment = result["certificate_info"]["result"]["certificate_deployments"][0]
    supplied = [p["was_validation_successful"] for p in deployment["path_validation_results"] if p["trust_store"]["name"] == "Supplied CA file"]
    check("sslyze: the certificate verifies against --write-ca", supplied == [True], str(deployment["path_validation_results"])[:400])
    check("sslyze: compliant with Mozilla's intermediate configuration", r.returncode == 0, r.stdout[-800:])


def send_json_against_serve():
    """`send --format json` (issue 16): the dialogue by layer, capabilities, TLS, outcomes; a wrong
    pin is pinned-certificate-mismatch, as in the simulator."""
    port, _ = serve("serve-send-json")
    ca = os.path.join(WORK, "ca.pem")
    r = run([SMTPSIM, "send", "--server", f"127.0.0.1:{port}", "--server-name", "localhost", "--starttls", "required",
             "--ca", ca, "--to", "bob@example.net", "--format", "json", "--timeout", "10"])
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        check("send --format json: one JSON document", False, r.stdout[-800:] + r.stderr[-400:])
        return
    check("send --format json: delivered over TLS", r.returncode == 0 and doc["outcomes"][0]["status"] == "delivered" and doc["outcomes"][0]["overTLS"], str(doc["outcomes"]))
    check("send --format json: STARTTLS before TLS, not after", "STARTTLS" in doc["capabilitiesBeforeTLS"] and "STARTTLS" not in doc["capabilities"], str(doc))
    check("send --format json: TLS verified against the CA", doc["tls"]["peerVerified"] and doc["tls"]["certificate"]["subject"].endswith("localhost"), str(doc["tls"]))
    layers = {(e["event"], e["layer"], e["text"][:4]) for e in doc["dialogue"] if e.get("layer")}
    check("send --format json: EHLO in plaintext, MAIL inside TLS, with their octets",
          ("sent", "plaintext", "EHLO") in layers and ("sent", "tls", "MAIL") in layers
          and all(e["octets"] == len(e["text"].encode()) for e in doc["dialogue"] if e.get("layer")), str(sorted(layers))[:600])
    # A pin that is not the server's certificate (the CA's own certificate).
    r = run([SMTPSIM, "send", "--server", f"127.0.0.1:{port}", "--server-name", "localhost", "--starttls", "required",
             "--pin", ca, "--to", "bob@example.net", "--format", "json", "--timeout", "10"])
    doc = json.loads(r.stdout)
    check("send: a wrong --pin is pinned-certificate-mismatch (exit 3)",
          r.returncode == 3 and doc["tls"]["verificationFailure"] == "pinned-certificate-mismatch"
          and "pinned-certificate-mismatch" in doc["outcomes"][0]["reason"], str(doc["tls"]) + str(doc["outcomes"]))


def rules_against_smtplib():
    """`serve --scenario` carries the file's server rules onto a real socket; --seed fixes their
    probabilities (issue 15)."""
    scenario = os.path.join(os.path.dirname(os.path.dirname(HERE)), "Scenarios", "server-rules-fail-on-demand-by-command-pattern-and-count.yaml")
    port, maildir = serve("serve-rules", "--scenario", scenario)
    with smtplib.SMTP("localhost", port, timeout=10) as s:
        s.ehlo("smtplib.example")
        s.mail("alice@example.test")
        code, text = s.rcpt("eve@blocked.example")
        check("rules: RCPT by pattern refused 550 5.7.1", code == 550 and b"blocked here" in text, f"{code} {text!r}")
        check("rules: another recipient accepted", s.rcpt("bob@example.net")[0] == 250)
        code, text = s.data(b"Subject: one\r\n\r\none\r\n")
        check("rules: the first end of data answered by the rule's multiline 250", code == 250 and b"queued by rule" in text, f"{code} {text!r}")
        code, _ = s.mail("alice@example.test")
        check("rules: the second MAIL deferred 451", code == 451, str(code))
        s.putcmd("QUIT")
        code, text = s.getreply()
        check("rules: 221 to QUIT", code == 221 and b"bye" in text, f"{code} {text!r}")
        check("rules: the connection stays open after that 221", s.noop()[0] == 250)
    check("rules: the message the rule answered is in the maildir", len(envelopes(maildir)) == 1, str(len(envelopes(maildir))))
    # A rule by probability: the same seed gives the same answers, another seed others.
    chance = os.path.join(WORK, "chance.yaml")
    with open(chance, "w") as f:
        f.write("version: 1\nname: NOOP fails half the time\nserver:\n  rules:\n"
                "    - {at: NOOP, probability: 1/2, reply: '450 4.0.0 by chance'}\n"
                "client:\n  messages: [{from: a@example.test, to: b@example.net, body: x}]\n")

    def pattern(seed, name):
        p, _ = serve(name, "--scenario", chance, "--seed", str(seed))
        with smtplib.SMTP("localhost", p, timeout=10) as s:
            s.ehlo("smtplib.example")
            return "".join("x" if s.noop()[0] == 450 else "." for _ in range(40))

    a, b, c = pattern(9, "serve-chance-a"), pattern(9, "serve-chance-b"), pattern(10, "serve-chance-c")
    check("rules: --seed fixes a probability rule's answers", a == b, f"{a} / {b}")
    check("rules: another --seed answers otherwise", a != c and 5 < a.count("x") < 35, f"{a} / {c}")


# --- aiosmtpd as the server ----------------------------------------------------------------------

def make_certificate():
    cert, key = os.path.join(WORK, "aio-cert.pem"), os.path.join(WORK, "aio-key.pem")
    r = run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"])
    assert r.returncode == 0, r.stderr
    return cert, key


def aiosmtpd(name, cert, key, *extra):
    port = free_port()
    record = os.path.join(WORK, name + ".jsonl")
    open(record, "w").close()
    start(name, [sys.executable, os.path.join(HERE, "aiosmtpd_server.py"), str(port), cert, key, record, *extra])
    wait_for(name, r"ready")
    return port, record


def records(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def send_against_aiosmtpd(cert, key):
    port, record = aiosmtpd("aiosmtpd-send", cert, key, "--require-starttls")
    message = os.path.join(WORK, "message.eml")
    with open(message, "w") as f:
        f.write("From: alice@example.test\nSubject: from smtpsim\n\n.starts with a dot\nbye\n")
    r = run([SMTPSIM, "send", "--server", f"127.0.0.1:{port}", "--server-name", "localhost", "--starttls", "required",
             "--ca", cert, "--auth", "alice:secret", "--from", "alice@example.test", "--to", "bob@example.net",
             "--timeout", "10", message])
    check("send → aiosmtpd: required STARTTLS + AUTH delivers (exit 0)", r.returncode == 0, r.stdout[-2000:] + r.stderr)
    check("send → aiosmtpd: summary shows capabilities before and after TLS",
          "capabilities before TLS:" in r.stdout and "capabilities after TLS:" in r.stdout, r.stdout[-800:])
    got = records(record)
    check("send → aiosmtpd: received over TLS as alice, dot-stuffing undone",
          len(got) == 1 and got[0]["tls"] and got[0]["auth"] == "alice" and "\r\n.starts with a dot\r\n" in got[0]["body"], str(got))
    other_ca = os.path.join(WORK, "ca.pem")  # smtpsim's test CA: not aiosmtpd's issuer
    r = run([SMTPSIM, "send", "--server", f"127.0.0.1:{port}", "--server-name", "localhost", "--starttls", "required",
             "--ca", other_ca, "--timeout", "10", "--quiet"])
    check("send → aiosmtpd: an untrusted certificate defers under required (exit 3)",
          r.returncode == 3 and "certificate-not-trusted" in r.stdout, f"rc={r.returncode} " + r.stdout[-800:])
    check("send → aiosmtpd: nothing delivered by the refused attempt", len(records(record)) == 1)
    r = run([SMTPSIM, "send", "--server", f"127.0.0.1:{free_port()}", "--timeout", "3"])
    check("send: connection refused is one line and exit 3", r.returncode == 3 and "refused" in r.stderr and r.stderr.count("\n") == 1,
          f"rc={r.returncode} {r.stderr!r}")


# The smuggling variants, as `smtpsim probe` names its G2 checks (SmugglingVariant).
SMUGGLING_VARIANTS = ["lf-dot-lf", "cr-dot-cr", "cr-dot-lf", "lf-dot-cr", "lf-dot-crlf", "crlf-dot-lf", "cr-dot-crlf",
                      "crlf-dot-cr", "crlf-nul-dot-crlf", "crlf-dot-cr-crlf", "cr-crlf-dot-cr-crlf"]


def probe_check_count():
    """How many checks a probe makes, as `smtpsim probe --help` says (never written here)."""
    m = re.search(r"(\d+) checks, each on a fresh connection", run([SMTPSIM, "probe", "--help"], timeout=60).stdout)
    return int(m.group(1)) if m else -1


STARTTLS_ONLY = ("D1", "D2", "B5", "H6")  # the probe's checks of the upgrade (Probe.startTLSOnly)


def probe_against(name, port, expect_fail=(), expect_warn=(), rcpt="bob@example.net", expect_na=(), implicit=False):
    """Every check passes except the peer's known findings, which must come out as stated; under
    implicit TLS (RFC 8314 §3) the STARTTLS checks are n/a."""
    r = run([SMTPSIM, "probe", f"127.0.0.1:{port}", "--timeout", "5", "--rcpt", rcpt, "--format", "json"] + (["--implicit-tls"] if implicit else []), timeout=240)
    try:
        results = {f"{x['id']} {x['check']}": x for x in json.loads(r.stdout)["results"]}
    except (ValueError, KeyError):
        check(f"probe {name}: JSON verdicts", False, r.stdout[-1000:] + r.stderr)
        return
    with open(inbound_json(name), "w") as f:
        f.write(r.stdout)
    expected = probe_check_count()
    check(f"probe {name}: {expected} checks reported", len(results) == expected and expected > 0, str(len(results)))
    print(f"      probe {name} verdicts: " + ", ".join(f"{k}={v['verdict']}" for k, v in results.items()), flush=True)
    for key, v in results.items():
        if key.startswith("I"):
            print(f"      probe {name} {key}: {v['detail']}", flush=True)
    for key, v in results.items():
        want = "fail" if key in expect_fail else "warn" if key in expect_warn else "n/a" if key in expect_na or (implicit and key.split()[0] in STARTTLS_ONLY) else "pass"
        check(f"probe {name}: {key} is {want}", v["verdict"] == want, v["verdict"] + ": " + v["detail"])


LEARNED = os.path.join(os.path.dirname(os.path.dirname(HERE)), "docs", "learned")


def learn_aiosmtpd(port):
    """`smtpsim learn` against aiosmtpd on loopback, within a budget: the machine committed in
    docs/learned/, and --diff against the compliant one names the second STARTTLS inside TLS."""
    inputs = ["--inputs", "EHLO", "STARTTLS", "HANDSHAKE", "STARTTLS+NOOP", "NOOP", "QUIT", "--walks", "30", "--max-seconds", "120"]
    out = os.path.join(WORK, "aiosmtpd-learned.json")
    r = run([SMTPSIM, "learn", f"127.0.0.1:{port}", *inputs, "--format", "json", "--output", out], timeout=180)
    check("learn aiosmtpd: a machine within the budget", r.returncode == 0 and os.path.exists(out), r.stderr[-500:])
    if r.returncode != 0:
        return
    learned = json.load(open(out))
    committed = json.load(open(os.path.join(LEARNED, "aiosmtpd-1.4.6.json")))
    print(f"      learn aiosmtpd: {learned['states']} states, {learned['queries']} queries, {learned['seconds']} s, {learned['queriesPerSecond']} queries/s", flush=True)
    check("learn aiosmtpd: complete, deterministic answers", learned.get("incomplete") is None and not learned["nondeterminism"], json.dumps(learned["nondeterminism"]))
    check("learn aiosmtpd: the machine committed in docs/learned/", learned["machine"] == committed["machine"])
    d = run([SMTPSIM, "learn", f"127.0.0.1:{port}", *inputs, "--diff", os.path.join(LEARNED, "smtpsim-compliant.json")], timeout=180)
    check("learn aiosmtpd --diff: differs from the compliant server (exit 1)", d.returncode == 1, d.stdout[-500:] + d.stderr[-300:])
    check("learn aiosmtpd --diff: a second STARTTLS inside TLS is answered 220 (RFC 3207 §4.2)",
          "EHLO STARTTLS HANDSHAKE STARTTLS: 220 here, 502 there" in d.stdout, d.stdout[-500:])
    export_and_replay("aiosmtpd", port, inputs)


def export_and_replay(name, port, inputs):
    """`learn --export` writes each difference from the compliant server as a scenario file; each
    answers as learned on the server (`run --against`) and not on smtpsim's compliant server."""
    folder = os.path.join(WORK, "learned-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"))
    e = run([SMTPSIM, "learn", f"127.0.0.1:{port}", *inputs, "--export", folder, "--html", folder + ".html"], timeout=240)
    files = sorted(glob.glob(os.path.join(folder, "difference-*.yaml")))
    check(f"learn {name} --export: a scenario file per difference (exit 1)", e.returncode == 1 and len(files) > 0, e.stdout[-800:] + e.stderr[-300:])
    if not files:
        return
    a = run([SMTPSIM, "run", *files, "--against", f"127.0.0.1:{port}"], timeout=240)
    check(f"run --against {name}: every exported script answers as learned", a.returncode == 0, a.stdout[-1500:] + a.stderr[-300:])
    s = run([SMTPSIM, "run", *files], timeout=240)
    check(f"run (simulator) {name}'s scripts: smtpsim's compliant server answers otherwise, each",
          s.returncode == 1 and f"0 passed, {len(files)} failed" in s.stdout, s.stdout[-800:])
    page = open(folder + ".html").read() if os.path.exists(folder + ".html") else ""
    check(f"learn {name} --html: the machine drawn and its differences", "<svg" in page and "Differences from" in page, page[:300])
    print(f"      learn {name} --export: {len(files)} difference(s), replayed on the server", flush=True)


def learn_postfix():
    """`smtpsim learn` against Postfix's smtpd on loopback (smtpd_error_sleep_time = 0, or every
    error reply would come a second late), within a budget: the machine committed in
    docs/learned/, its differences exported and replayed on it."""
    inputs = ["--inputs", *POSTFIX_INPUTS, "--walks", "60", "--max-seconds", "240"]
    out = os.path.join(WORK, "postfix-learned.json")
    r = run([SMTPSIM, "learn", "127.0.0.1:25", *inputs, "--format", "json", "--output", out], timeout=300)
    check("learn postfix: a machine within the budget", r.returncode == 0 and os.path.exists(out), r.stderr[-500:])
    if r.returncode != 0:
        return
    learned = json.load(open(out))
    print(f"      learn postfix: {learned['states']} states, {learned['queries']} queries, {learned['seconds']} s, {learned['queriesPerSecond']} queries/s", flush=True)
    check("learn postfix: complete, deterministic answers", learned.get("incomplete") is None and not learned["nondeterminism"], json.dumps(learned["nondeterminism"]))
    committed = json.load(open(os.path.join(LEARNED, "postfix-3.7.json")))
    check("learn postfix: the machine committed in docs/learned/", learned["machine"] == committed["machine"])
    export_and_replay("postfix", 25, inputs)


# The inputs Postfix is learned on in CI (docs/learned/README.md): the TLS boundary, a mail
# transaction and the end of the TLS session.
POSTFIX_INPUTS = ["EHLO", "MAIL", "RCPT", "DATA", "BODY", "NOOP", "STARTTLS", "HANDSHAKE", "STARTTLS+NOOP", "CLOSE_NOTIFY"]


def inbound_json(name):
    """Where an inbound probe's JSON is kept for `smtpsim matrix`."""
    return os.path.join(WORK, "inbound-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + ".json")


def outbound_probe(name, expect_split):
    """`probe --outbound` through the Postfix relay (its relayhost is the listener's port): every
    check reaches the listener or is refused; the sequences Postfix itself ends the data at come
    out split, as stated."""
    path = os.path.join(WORK, "outbound-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + ".json")
    r = run([SMTPSIM, "probe", "--outbound", "127.0.0.1:25", "--listen", f"127.0.0.1:{RELAY_NEXT_HOP}", "--rcpt", "bob@example.net",
             "--timeout", "5", "--arrival", "15", "--format", "json"], timeout=600)
    try:
        results = {x["check"]: x for x in json.loads(r.stdout)["results"]}
    except (ValueError, KeyError):
        check(f"probe --outbound {name}: JSON results", False, r.stdout[-1000:] + r.stderr)
        return None
    with open(path, "w") as f:
        f.write(r.stdout)
    m = re.search(r"submits\s+(\d+)\s+messages", run([SMTPSIM, "probe", "--help"], timeout=60).stdout)
    expected = int(m.group(1)) if m else -1
    check(f"probe --outbound {name}: {expected} checks reported", len(results) == expected and expected > 0, str(len(results)))
    print(f"      probe --outbound {name}: " + ", ".join(f"{k}={v['arrival']}" + (f"({v['arrived']})" if v.get("arrived") else "")
                                                    for k, v in results.items()), flush=True)
    for key, v in results.items():
        if key in expect_split:
            check(f"probe --outbound {name}: {key} is split", v["arrival"] == "split", v["arrival"] + ": " + v["detail"])
        else:
            check(f"probe --outbound {name}: {key} reached the next hop", v["arrival"] in ("verbatim", "stuffed", "normalised", "refused"),
                  v["arrival"] + ": " + v["detail"])
    return path


def proxy_between_smtplib_and_aiosmtpd(cert, key):
    port, record = aiosmtpd("aiosmtpd-proxy", cert, key)
    start("proxy", [SMTPSIM, "proxy", "--listen", "127.0.0.1:0", "--upstream", f"127.0.0.1:{port}",
                    "--attack", "strip-starttls", "--max-connections", "2"])
    proxy_port = int(wait_for("proxy", r"listening on 127\.0\.0\.1:(\d+)").group(1))
    context = ssl.create_default_context(cafile=cert)

    def deliver(required):
        with smtplib.SMTP("localhost", proxy_port, timeout=10) as s:
            s.ehlo("smtplib.example")
            if s.has_extn("starttls"):
                s.starttls(context=context)
                s.ehlo("smtplib.example")
            elif required:
                return "refused: STARTTLS missing"
            s.sendmail("alice@example.test", ["bob@example.net"], f"Subject: via proxy, required={required}\r\n\r\nhello\r\n")
            return "delivered"

    check("proxy strip-starttls: a required-TLS smtplib client refuses", deliver(True) == "refused: STARTTLS missing")
    check("proxy strip-starttls: an opportunistic smtplib client delivers", deliver(False) == "delivered")
    got = records(record)
    check("proxy strip-starttls: aiosmtpd got exactly the opportunistic message, in plaintext",
          len(got) == 1 and not got[0]["tls"] and "required=False" in got[0]["body"], str(got))
    wait_for("proxy", r"attack strip-starttls")


# --- Postfix ------------------------------------------------------------------------------------

POSTFIX_MARKER = "# smtpsim interop (generated by Tests/Interop/interop.py)"
POSTFIX_PID = "/var/spool/postfix/pid/master.pid"


POSTFIX_SUBMISSIONS = free_port()


def postfix_submissions(cert, smuggled, warned):
    """Postfix's submissions service (implicit TLS, RFC 8314 §3: `smtpd_tls_wrappermode = yes`) on
    a loopback port, added to master.cf with postconf -M and removed after: `send --implicit-tls`
    delivers, `probe --implicit-tls` finds inside TLS what it finds on port 25."""
    service = f"127.0.0.1:{POSTFIX_SUBMISSIONS}/inet"
    run(["postconf", "-M", f"{service}=127.0.0.1:{POSTFIX_SUBMISSIONS} inet n - n - - smtpd"])
    run(["postconf", "-P", f"{service}/smtpd_tls_wrappermode=yes", f"{service}/smtpd_tls_security_level=encrypt"])
    r = run(["postfix", "reload"])
    check("postfix: reload with a submissions service (smtpd_tls_wrappermode)", r.returncode == 0, r.stderr)
    try:
        wait_port(POSTFIX_SUBMISSIONS)
        r = run([SMTPSIM, "send", "--implicit-tls", "--server", f"127.0.0.1:{POSTFIX_SUBMISSIONS}", "--server-name", "localhost", "--starttls", "required",
                 "--ca", cert, "--to", "bob@localhost", "--timeout", "10"])
        check("send --implicit-tls → postfix submissions: delivers over TLS (exit 0)", r.returncode == 0 and "delivered over TLS" in r.stdout, r.stdout[-1500:] + r.stderr)
        check("send --implicit-tls → postfix submissions: no STARTTLS offered inside TLS", "STARTTLS" not in r.stdout.split("== summary")[-1], r.stdout[-600:])
        probe_against("postfix submissions (implicit TLS)", POSTFIX_SUBMISSIONS, smuggled, warned, rcpt="bob@localhost", implicit=True)
    finally:
        run(["postconf", "-MX", service])
        run(["postfix", "reload"])
        time.sleep(1)


def wait_port(port, seconds=15):
    """Until something accepts on 127.0.0.1:port (a service Postfix's master starts after a reload)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def postfix_usable():
    """Postfix runs without systemd (`postfix start` forks its master as root); we only configure
    a Postfix that is ours: no main.cf yet, or the one this script wrote."""
    if not shutil.which("postfix") or os.geteuid() != 0:
        return False
    try:
        with open("/etc/postfix/main.cf") as f:
            return f.readline().rstrip() == POSTFIX_MARKER
    except FileNotFoundError:
        return True


def postfix_tests(cert, key):
    with open("/etc/postfix/main.cf", "w") as f:
        f.write(f"""{POSTFIX_MARKER}
compatibility_level = 3.6
myhostname = localhost
mydestination = localhost
inet_interfaces = loopback-only
inet_protocols = ipv4
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = may
maillog_file = /var/log/smtpsim-interop-postfix.log
alias_maps =
alias_database =
local_recipient_maps =
home_mailbox = Maildir/
""")
    r = run(["postfix", "start"], timeout=60)
    log = "/var/log/smtpsim-interop-postfix.log"
    check("postfix: starts without systemd", r.returncode == 0,
          r.stdout + r.stderr + (open(log).read()[-1500:] if os.path.exists(log) else ""))
    if r.returncode != 0:
        return
    try:
        pid = int(open(POSTFIX_PID).read().split()[0])
        print(f"      postfix {run(['postconf', '-h', 'mail_version']).stdout.strip()} master pid {pid}", flush=True)
        r = run([SMTPSIM, "send", "--server", "127.0.0.1:25", "--server-name", "localhost", "--starttls", "required",
                 "--ca", cert, "--to", "bob@localhost", "--timeout", "10"])
        check("send → postfix: required STARTTLS delivers (exit 0)", r.returncode == 0 and "delivered over TLS" in r.stdout,
              r.stdout[-1500:] + r.stderr)
        # Debian 12's Postfix 3.7 keeps smtpd_forbid_bare_newline = no, and its exclusions cover
        # $mynetworks (loopback): the CVE-2023-51764 smuggling sequences end DATA. The probe must
        # say so, and must see the fix once it is switched on.
        smuggled = ["G2 smuggling-lf-dot-lf", "G2 smuggling-lf-dot-crlf", "G2 smuggling-crlf-dot-lf",
                    "G2 smuggling-crlf-dot-cr-crlf", "G2 smuggling-cr-crlf-dot-cr-crlf"]
        long_lines = ["F2 command-line-over-512", "F2 command-line-20000"]
        # Its bare-LF reading also ends a message whose headers end in bare LFs (LF-only mode: warn).
        lf_mode = ["G2 lf-mode-lf-dot-lf", "G2 lf-mode-lf-dot-crlf", "G2 lf-mode-crlf-dot-lf"]
        probe_against("postfix (defaults)", 25, smuggled, long_lines + lf_mode, rcpt="bob@localhost")
        postfix_submissions(cert, smuggled, long_lines + lf_mode)
        run(["postconf", "-e", "smtpd_error_sleep_time = 0"])
        r = run(["postfix", "reload"])
        check("postfix: reload for learning", r.returncode == 0, r.stderr)
        time.sleep(1)
        learn_postfix()
        run(["postconf", "-X", "smtpd_error_sleep_time"])
        run(["postsuper", "-d", "ALL"])  # the learner's messages
        run(["postconf", "-e", "smtpd_forbid_bare_newline = yes", "smtpd_forbid_bare_newline_exclusions ="])
        r = run(["postfix", "reload"])
        check("postfix: reload", r.returncode == 0, r.stderr)
        time.sleep(1)  # the master restarts smtpd on its own schedule after a reload
        probe_against("postfix (smtpd_forbid_bare_newline = yes)", 25, (), long_lines, rcpt="bob@localhost")
        # Postfix as the outbound relay: mail for example.net goes to smtpsim's listener.
        # Nothing queued may try the relayhost before its listener is up (a bounce of the probes'
        # mail would, and Postfix would then hold the destination as dead for its backoff time),
        # and a destination found down is retried within seconds.
        run(["postsuper", "-d", "ALL"])
        run(["postconf", "-e", f"relayhost = [127.0.0.1]:{RELAY_NEXT_HOP}", "mynetworks = 127.0.0.0/8", "smtp_tls_security_level = none",
             "minimal_backoff_time = 1s", "maximal_backoff_time = 2s", "queue_run_delay = 1s"])
        r = run(["postfix", "reload"])
        check("postfix: reload as a relay", r.returncode == 0, r.stderr)
        time.sleep(1)
        bare = [f"data-{v}" for v in ("lf-dot-lf", "lf-dot-crlf", "crlf-dot-lf", "crlf-dot-cr-crlf", "cr-crlf-dot-cr-crlf")]
        # With the fix it takes a bare LF as a line end and forwards CRLF: nothing splits.
        fixed = outbound_probe("postfix (smtpd_forbid_bare_newline = yes)", ())
        run(["postconf", "-e", "smtpd_forbid_bare_newline = no"])
        r = run(["postfix", "reload"])
        check("postfix: reload with its defaults", r.returncode == 0, r.stderr)
        time.sleep(1)
        # Its smtpd ends the data at those sequences itself (CVE-2023-51764): the smuggled
        # transaction leaves the relay as a message of its own.
        defaults = outbound_probe("postfix (defaults)", bare + ["pipelined-lf-dot-crlf"])
        smuggling_matrix({"postfix-3.7-defaults": defaults, "postfix-3.7-forbid-bare-newline": fixed})
    finally:
        try:
            pid = int(open(POSTFIX_PID).read().split()[0])
            os.kill(pid, signal.SIGTERM)
            end = time.monotonic() + 20
            while time.monotonic() < end and os.path.exists(f"/proc/{pid}"):
                time.sleep(0.1)
            check("postfix: stopped by its master's pid", not os.path.exists(f"/proc/{pid}"))
        except (FileNotFoundError, ValueError, ProcessLookupError) as e:
            check("postfix: stopped", False, str(e))


def free_listening_port():
    """A port below the ephemeral range (32768-60999 here), free now: one the kernel hands out to
    outgoing connections (Postfix's, the floods', every client's) may be taken again before the
    listener binds it, which once broke `probe --outbound` with EADDRINUSE."""
    import random
    rng = random.Random(os.getpid())
    for _ in range(200):
        port = rng.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    return free_port()


RELAY_NEXT_HOP = free_listening_port()


def smuggling_matrix(outbound):
    """`smtpsim matrix` over the outbound relays and every inbound server probed in this run:
    Postfix with its defaults ends the data at bare-LF sequences itself, so it delivers a
    smuggled message to every next hop; with smtpd_forbid_bare_newline = yes to none."""
    if not all(outbound.values()):
        check("matrix: every outbound probe ran", False, str(outbound))
        return
    inbound = {"postfix-3.7-defaults": inbound_json("postfix (defaults)"),
               "postfix-3.7-forbid-bare-newline": inbound_json("postfix (smtpd_forbid_bare_newline = yes)"),
               "aiosmtpd-1.4.6": inbound_json("aiosmtpd"), "smtpsim-serve": inbound_json("smtpsim serve"),
               "smtpsim-serve-accepts-bare-lf": inbound_json("smtpsim serve with flaws")}
    args = [a for name, path in outbound.items() for a in ("--outbound", f"{name}={path}")]
    args += [a for name, path in inbound.items() if os.path.exists(path) for a in ("--inbound", f"{name}={path}")]
    text = run([SMTPSIM, "matrix", *args])
    print("      " + text.stdout.replace("\n", "\n      "), flush=True)
    html = os.path.join(WORK, "smuggling-matrix.html")
    run([SMTPSIM, "matrix", *args, "--format", "html", "--output", html])
    check("matrix: an HTML page", os.path.exists(html) and "<table>" in open(html).read())
    r = run([SMTPSIM, "matrix", *args, "--format", "json"])
    try:
        pairs = {(p["outbound"], p["inbound"]): p for p in json.loads(r.stdout)["pairs"]}
    except (ValueError, KeyError):
        check("matrix: JSON pairs", False, r.stdout[-500:] + r.stderr)
        return
    check("matrix: exit status 1 (some pair delivers)", text.returncode == 1, str(text.returncode))
    for (o, i), p in pairs.items():
        want = o == "postfix-3.7-defaults"
        check(f"matrix: {o} → {i} {'delivers' if want else 'does not deliver'} a smuggled message", bool(p["paths"]) == want,
              json.dumps(p["paths"]))


# --- real mail clients judged by `smtpsim probe --client` (issue 29) ------------------------------

CLIENTS_DIR = os.path.join(HERE, "clients")
CLIENT_EXPECTED = os.path.join(CLIENTS_DIR, "expected.json")


def client_commands():
    """Each real client's command per policy (placeholders filled by the probe), where it has one."""
    py = sys.executable
    lib = lambda name, policy: [py, os.path.join(CLIENTS_DIR, name), "--policy", policy, "--host", "{host}", "--port", "{port}", "--ca", "{ca}",
                                "--sender", "{from}", "--user", "{user}", "--password", "{password}", "--message", "{message}", "--to", "{rcpt}", "--to", "{rcpt2}"]
    positional = lambda argv0, policy: argv0 + [policy, "{host}", "{port}", "{ca}", "{from}", "{user}", "{password}", "{message}", "{rcpt}", "{rcpt2}"]
    swaks = ["swaks", "--server", "{host}", "--port", "{port}", "--from", "{from}", "--to", "{rcpt},{rcpt2}", "--auth", "PLAIN",
             "--auth-user", "{user}", "--auth-password", "{password}", "--data", "@{message}", "--timeout", "5"]
    curl = ["curl", "-sS", "--max-time", "8", "smtp://{host}:{port}", "--mail-from", "{from}", "--mail-rcpt", "{rcpt}", "--mail-rcpt", "{rcpt2}",
            "--upload-file", "{message}", "--user", "{user}:{password}"]
    # s-nail and msmtp read the message on stdin as a text file (lines ending in LF). The probe's
    # values go in as positional parameters, never into the script's text: F3 puts CRLF and
    # shell metacharacters in {rcpt} and {from}.
    values = ["{host}", "{port}", "{ca}", "{from}", "{user}", "{password}", "{message}", "{rcpt}", "{rcpt2}"]
    snail = ["sh", "-c", 'tr -d "\\r" < "$7" | HOME=$(mktemp -d) s-nail -:/ -Sv15-compat -Snosave "-Smta=smtp://$5:$6@localhost:$2" '
             '-Ssmtp-use-starttls -Ssmtp-auth=plain "-Stls-ca-file=$3" -Stls-ca-no-defaults "-Sfrom=$4" -s probe "$8" "$9"', "sh"] + values
    msmtp = ["sh", "-c", 'msmtp "--host=$1" "--port=$2" --tls=on --tls-starttls=on "--tls-trust-file=$3" --auth=plain "--user=$5" '
             '"--passwordeval=echo $6" "--from=$4" "$8" "$9" < "$7"', "sh"] + values
    gitsend = ["sh", "-c", 'cd "$(mktemp -d)" && git send-email "--smtp-server=$1" "--smtp-server-port=$2" --smtp-encryption=tls '
               '"--smtp-user=$5" "--smtp-pass=$6" "--smtp-ssl-cert-path=$3" "--from=$4" "--to=$8" "--to=$9" '
               '--confirm=never --no-validate --suppress-cc=all --8bit-encoding=UTF-8 --transfer-encoding=8bit "$7"', "sh"] + values
    return {
        ("swaks", "required"): swaks + ["--tls", "--tls-verify", "--tls-ca-path", "{ca}"],
        ("swaks", "opportunistic"): swaks + ["--tls-optional"],
        ("curl", "required"): curl + ["--ssl-reqd", "--cacert", "{ca}"],
        ("curl", "opportunistic"): curl + ["--ssl", "--cacert", "{ca}"],
        ("python smtplib", "required"): lib("smtplib_client.py", "required"),
        ("python smtplib", "opportunistic"): lib("smtplib_client.py", "opportunistic"),
        ("aiosmtplib", "required"): lib("aiosmtplib_client.py", "required"),
        ("aiosmtplib", "opportunistic"): lib("aiosmtplib_client.py", "opportunistic"),
        ("s-nail", "required"): snail,
        ("msmtp", "required"): msmtp,
        ("git send-email", "required"): gitsend,
        ("nodemailer", "required"): positional(["env", "NODE_PATH=/usr/share/nodejs", "node", os.path.join(CLIENTS_DIR, "nodemailer_client.js")], "required"),
        ("nodemailer", "opportunistic"): positional(["env", "NODE_PATH=/usr/share/nodejs", "node", os.path.join(CLIENTS_DIR, "nodemailer_client.js")], "opportunistic"),
        ("ruby net/smtp", "required"): positional(["ruby", os.path.join(CLIENTS_DIR, "ruby_client.rb")], "required"),
        ("ruby net/smtp", "opportunistic"): positional(["ruby", os.path.join(CLIENTS_DIR, "ruby_client.rb")], "opportunistic"),
        ("phpmailer", "required"): positional(["php", os.path.join(CLIENTS_DIR, "phpmailer_client.php")], "required"),
        ("phpmailer", "opportunistic"): positional(["php", os.path.join(CLIENTS_DIR, "phpmailer_client.php")], "opportunistic"),
        ("smtpsim send", "required"): [SMTPSIM, "send", "--server", "{host}:{port}", "--starttls", "required", "--ca", "{ca}", "--from", "{from}",
                                       "--to", "{rcpt}", "--to", "{rcpt2}", "--auth", "{user}:{password}", "--timeout", "5", "--quiet", "{message}"],
        ("smtpsim send", "opportunistic"): [SMTPSIM, "send", "--server", "{host}:{port}", "--starttls", "opportunistic", "--ca", "{ca}", "--from", "{from}",
                                            "--to", "{rcpt}", "--to", "{rcpt2}", "--auth", "{user}:{password}", "--timeout", "5", "--quiet", "{message}"],
    }


def implicit_client_commands():
    """Clients configured for implicit TLS (RFC 8314 §3, port 465), for `probe --client --implicit-tls`."""
    values = ["{host}", "{port}", "{ca}", "{from}", "{user}", "{password}", "{message}", "{rcpt}", "{rcpt2}"]
    return {
        ("swaks --tlsc", "required"): ["swaks", "--server", "{host}", "--port", "{port}", "--tlsc", "--tls-verify", "--tls-ca-path", "{ca}", "--from", "{from}",
                                        "--to", "{rcpt},{rcpt2}", "--auth", "PLAIN", "--auth-user", "{user}", "--auth-password", "{password}",
                                        "--data", "@{message}", "--timeout", "5"],
        ("curl smtps://", "required"): ["curl", "-sS", "--max-time", "8", "smtps://{host}:{port}", "--cacert", "{ca}", "--mail-from", "{from}",
                                         "--mail-rcpt", "{rcpt}", "--mail-rcpt", "{rcpt2}", "--upload-file", "{message}", "--user", "{user}:{password}"],
        ("python smtplib.SMTP_SSL", "required"): [sys.executable, os.path.join(CLIENTS_DIR, "smtplib_client.py"), "--implicit-tls", "--policy", "required",
                                                  "--host", "{host}", "--port", "{port}", "--ca", "{ca}", "--sender", "{from}", "--user", "{user}",
                                                  "--password", "{password}", "--message", "{message}", "--to", "{rcpt}", "--to", "{rcpt2}"],
        ("msmtp tls_starttls off", "required"): ["sh", "-c", 'msmtp "--host=$1" "--port=$2" --tls=on --tls-starttls=off "--tls-trust-file=$3" --auth=plain "--user=$5" '
                                                 '"--passwordeval=echo $6" "--from=$4" "$8" "$9" < "$7"', "sh"] + values,
        ("smtpsim send --implicit-tls", "required"): [SMTPSIM, "send", "--implicit-tls", "--server", "{host}:{port}", "--starttls", "required", "--ca", "{ca}",
                                                      "--from", "{from}", "--to", "{rcpt}", "--to", "{rcpt2}", "--auth", "{user}:{password}", "--timeout", "5",
                                                      "--quiet", "{message}"],
    }


def client_matrix():
    """Every real client in each configuration it has, all checks; then the clients configured for
    implicit TLS under `probe --client --implicit-tls`. Every cell asserted against
    clients/expected.json (SMTPSIM_WRITE_CLIENT_MATRIX=1 rewrites it); each matrix printed as the
    README's table."""
    started = time.monotonic()
    observed = {}
    tables = []
    for commands, extra, suffix in [(client_commands(), [], ""), (implicit_client_commands(), ["--implicit-tls"], ", implicit TLS")]:
        table = {}
        for (client, policy), argv in commands.items():
            tool = {"s-nail": "s-nail", "msmtp": "msmtp", "msmtp tls_starttls off": "msmtp", "nodemailer": "node", "ruby net/smtp": "ruby", "phpmailer": "php",
                    "git send-email": "git", "swaks --tlsc": "swaks", "curl smtps://": "curl"}.get(client, argv[0])
            if shutil.which(tool) is None and not os.path.exists(tool):
                check(f"client matrix: {client} installed", False, f"{tool} not found (.ci/run installs it)")
                continue
            r = run([SMTPSIM, "probe", "--client", "--policy", policy, "--timeout", "6", "--format", "json", *extra, "--", *argv], timeout=300)
            try:
                results = json.loads(r.stdout)["results"]
            except (ValueError, KeyError):
                check(f"client matrix: {client} ({policy}{suffix}) ran", False, (r.stdout + r.stderr)[-800:])
                continue
            table[f"{client} ({policy}{suffix})"] = {x["check"]: x["verdict"] for x in results}
            for x in results:
                if x["verdict"] not in ("pass", "n/a"):
                    print(f"      {client} ({policy}{suffix}) {x['id']} {x['check']}: {x['verdict']}: {x['detail'][:300]}", flush=True)
        observed.update(table)
        tables.append(table)
    if os.environ.get("SMTPSIM_WRITE_CLIENT_MATRIX") == "1":
        with open(CLIENT_EXPECTED, "w") as f:
            json.dump(observed, f, indent=1, sort_keys=True)
            f.write("\n")
    expected = json.load(open(CLIENT_EXPECTED))
    for row, cells in sorted(expected.items()):
        got = observed.get(row, {})
        for name, verdict in sorted(cells.items()):
            check(f"client matrix: {row} {name} is {verdict}", got.get(name) == verdict, f"got {got.get(name)}")
    short = {"pass": "✓", "fail": "**fail**", "warn": "warn", "n/a": "n/a", "inconclusive": "?"}
    for table in tables:
        checks = list(next(iter(table.values()), {}).keys())
        print("      | client | " + " | ".join(checks) + " |\n      |---|" + "---|" * len(checks), flush=True)
        for row, cells in table.items():
            print("      | " + row + " | " + " | ".join(short.get(cells.get(c, ""), cells.get(c, "")) for c in checks) + " |", flush=True)
    print(f"      client matrix: {len(observed)} client configurations in {time.monotonic() - started:.0f} s", flush=True)


def main():
    print(f"== interop ({WORK})", flush=True)
    try:
        smtplib_against_serve()
        swaks_against_serve()
        swaks_judged_by_serve()
        openssl_against_serve()
        rules_against_smtplib()
        send_json_against_serve()
        curl_against_serve()
        implicit_tls_against_serve()
        snail_against_serve()
        sslyze_against_serve()
        idle_flood_against_serve()
        cert, key = make_certificate()
        send_against_aiosmtpd(cert, key)
        port, _ = aiosmtpd("aiosmtpd-probe", cert, key)
        # aiosmtpd 1.4.6 answers a second STARTTLS inside TLS with 220 (RFC 3207 §4.2 forbids it);
        # it offers no CHUNKING, so the BDAT checks do not apply.
        bdat = [f"G2 bdat-{v}" for v in SMUGGLING_VARIANTS]
        probe_against("aiosmtpd", port, ["B5 starttls-twice"], expect_na=["I2 close-notify-mid-bdat-then-cleartext"] + bdat)
        learn_aiosmtpd(port)
        implicit_tls_against_aiosmtpd(cert, key)
        serve_port, _ = serve("serve-probe")
        probe_against("smtpsim serve", serve_port)
        flawed_port, _ = serve("serve-probe-flawed", "--server-flaw", "keeps-plaintext-across-starttls",
                               "--server-flaw", "accepts-bare-lf-end-of-data")
        injections = ["D1 command-injection-same-segment", "D1 command-injection-noop", "D1 command-injection-noop-rset"]
        lf_mode = ["G2 lf-mode-lf-dot-lf", "G2 lf-mode-lf-dot-crlf", "G2 lf-mode-crlf-dot-lf"]
        probe_against("smtpsim serve with flaws", flawed_port, injections + ["G2 smuggling-lf-dot-lf",
                                                                 "G2 smuggling-lf-dot-crlf", "G2 smuggling-crlf-dot-lf"], lf_mode)
        scenario = os.path.join(os.path.dirname(os.path.dirname(HERE)), "Scenarios", "server-executing-injected-commands-is-caught.yaml")
        scenario_port, _ = serve("serve-probe-scenario", "--scenario", scenario)
        probe_against("smtpsim serve --scenario (CVE-2011-0411 flaw)", scenario_port, injections)
        # docs/catalog.md I: the Dead.Letter class (CVE-2026-45185) and a server that reads on after an
        # alert (which also answers cleartext sent while TLS is up, in the clear after its own alert: I3).
        teardown_port, _ = serve("serve-probe-teardown", "--server-flaw", "reads-plaintext-after-close-notify",
                                 "--server-flaw", "ignores-fatal-alerts")
        probe_against("smtpsim serve with teardown flaws", teardown_port, ["I1 close-notify-mid-data-then-cleartext",
                      "I2 close-notify-mid-bdat-then-cleartext", "I3 cleartext-inside-tls", "I5 fatal-alert-then-cleartext"])
        proxy_between_smtplib_and_aiosmtpd(cert, key)
        client_matrix()
        if postfix_usable():
            postfix_tests(cert, key)
        elif os.environ.get("SMTPSIM_INTEROP_POSTFIX") == "1":
            check("postfix available", False, "postfix missing, not root, or /etc/postfix/main.cf is not ours")
        else:
            print("      postfix: skipped (not installed, not root, or its main.cf is not ours)", flush=True)
    except Exception as e:  # a peer that would not start, a timeout: fail, with the reason
        check("interop run", False, f"{type(e).__name__}: {e}")
    finally:
        for _, p in processes:
            stop(p)
    print(f"== interop: {len(failures)} failure(s)" + (": " + ", ".join(failures) if failures else ""), flush=True)
    if failures:
        for name, _ in processes:
            tail = open(os.path.join(WORK, name + ".log")).read().splitlines()[-25:]
            print(f"--- {name}.log (last lines)\n" + "\n".join(tail))
    else:
        shutil.rmtree(WORK, ignore_errors=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
