#!/usr/bin/env python3
"""aiosmtpd with STARTTLS and AUTH, as a real peer for smtpsim's interop tests.

Usage: aiosmtpd_server.py PORT CERT KEY RECORD.jsonl [--require-starttls | --implicit-tls]
With --implicit-tls the listener speaks TLS from the first octet (RFC 8314 §3, aiosmtpd's
ssl_context) and offers no STARTTLS.
Every accepted message is appended to RECORD.jsonl (envelope, TLS, AUTH, body). Prints
"ready" once it listens. Stopped by its process id.
"""
import asyncio
import json
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Recorder:
    def __init__(self, path):
        self.path = path

    async def handle_DATA(self, server, session, envelope):
        entry = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            # STARTTLS sets session.ssl; under implicit TLS the transport itself is TLS.
            "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
            "auth": getattr(session, "smtpsim_login", None),
            "body": envelope.original_content.decode("utf-8", "replace"),
        }
        with open(self.path, "a") as f:
            f.write(json.dumps(entry) + "\n")
        return "250 OK stored"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"alice" and auth_data.password == b"secret"
    if ok:
        session.smtpsim_login = auth_data.login.decode()
    return AuthResult(success=ok)


def main():
    port, cert, key, record = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    implicit = "--implicit-tls" in sys.argv
    controller = Controller(
        Recorder(record), hostname="127.0.0.1", port=port, server_hostname="localhost",
        ssl_context=context if implicit else None, tls_context=None if implicit else context,
        require_starttls="--require-starttls" in sys.argv,
        authenticator=authenticator, auth_require_tls=not implicit,
    )
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
