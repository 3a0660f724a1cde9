#!/usr/bin/env python3
"""aiosmtplib as the client under `smtpsim probe --client` (see README.md here).

required: start_tls=True (STARTTLS or fail) with the CA and host name verified; opportunistic:
start_tls=None (when offered) without certificate checks. Exit 0 only when every recipient was
accepted.
"""
import argparse
import asyncio
import ssl
import sys

import aiosmtplib

a = argparse.ArgumentParser()
for name in ["policy", "host", "port", "ca", "sender", "user", "password", "message"]:
    a.add_argument("--" + name, required=True)
a.add_argument("--to", action="append", required=True)
args = a.parse_args()


async def main():
    required = args.policy == "required"
    context = ssl.create_default_context(cafile=args.ca) if required else ssl._create_unverified_context()
    client = aiosmtplib.SMTP(hostname=args.host, port=int(args.port), start_tls=True if required else None,
                             tls_context=context, validate_certs=required, timeout=8)
    await client.connect()
    await client.login(args.user, args.password)
    errors, _ = await client.sendmail(args.sender, args.to, open(args.message, "rb").read())
    await client.quit()
    if errors:
        sys.exit(f"refused: {errors}")


try:
    asyncio.run(main())
except (aiosmtplib.SMTPException, OSError) as e:
    sys.exit(f"{type(e).__name__}: {e}")
