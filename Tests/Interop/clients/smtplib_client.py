#!/usr/bin/env python3
"""Python's smtplib as the client under `smtpsim probe --client` (see README.md here).

required: STARTTLS with the CA and host name verified, else exit 1 before MAIL; opportunistic:
STARTTLS when offered, the certificate not checked, plaintext otherwise. With --implicit-tls,
smtplib.SMTP_SSL (TLS from the first octet, the same certificate rules). Exit 0 only when every
recipient was accepted.
"""
import argparse
import smtplib
import ssl
import sys

a = argparse.ArgumentParser()
for name in ["policy", "host", "port", "ca", "sender", "user", "password", "message"]:
    a.add_argument("--" + name, required=True)
a.add_argument("--to", action="append", required=True)
a.add_argument("--implicit-tls", action="store_true", help="smtplib.SMTP_SSL: TLS from the first octet (RFC 8314)")
args = a.parse_args()
try:
    if args.implicit_tls:
        context = ssl.create_default_context(cafile=args.ca) if args.policy == "required" else ssl._create_unverified_context()
        with smtplib.SMTP_SSL(args.host, int(args.port), timeout=8, context=context) as s:
            s.login(args.user, args.password)
            refused = s.sendmail(args.sender, args.to, open(args.message, "rb").read())
            if refused:
                sys.exit(f"refused: {refused}")
        sys.exit(0)
    with smtplib.SMTP(args.host, int(args.port), timeout=8) as s:
        s.ehlo()
        if s.has_extn("starttls"):
            context = ssl.create_default_context(cafile=args.ca) if args.policy == "required" else ssl._create_unverified_context()
            s.starttls(context=context)
            s.ehlo()
        elif args.policy == "required":
            sys.exit("STARTTLS not offered")
        s.login(args.user, args.password)
        refused = s.sendmail(args.sender, args.to, open(args.message, "rb").read())
        if refused:
            sys.exit(f"refused: {refused}")
except (smtplib.SMTPException, OSError) as e:
    sys.exit(f"{type(e).__name__}: {e}")
