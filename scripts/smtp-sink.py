#!/usr/bin/env python3
"""A real SMTP server for Postora's mail tests: aiosmtpd on 127.0.0.1:<port>, keeping every message it is given.

Each message becomes two files in <dir>: <n>.eml (exactly what was received) and <n>.json (the envelope and the
message read back: From, To, Subject, and the decoded plain-text and HTML parts). Prints "listening" once ready and
runs until killed.

    python3 scripts/smtp-sink.py <port> <dir>
"""

import asyncio
import email
import email.policy
import itertools
import json
import pathlib
import sys

from aiosmtpd.controller import Controller


class Keep:
    def __init__(self, directory):
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.count = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        n = next(self.count)
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        parts = {}
        for part in message.walk():
            if part.get_content_maintype() == "text":
                parts[part.get_content_subtype()] = part.get_content()
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(message["From"]),
            "to": str(message["To"]),
            "subject": str(message["Subject"]),
            "content_type": message.get_content_type(),
            "text": parts.get("plain"),
            "html": parts.get("html"),
        }
        (self.directory / f"{n}.eml").write_bytes(raw)
        # Written last and renamed into place, so a reader never sees half a record.
        tmp = self.directory / f".{n}.json"
        tmp.write_text(json.dumps(record))
        tmp.rename(self.directory / f"{n}.json")
        return "250 Message accepted for delivery"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Keep(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("listening", flush=True)
    try:
        asyncio.run(asyncio.Event().wait())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
