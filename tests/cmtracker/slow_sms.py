"""An SMS backend for the kill test: slow enough that a SIGKILL lands in the middle of a send.

The body's first word is the message's token. "SENT <token>" is printed only when the send has
completed, so a token that is SENT twice in the worker logs is a message delivered twice.
"""

import sys
import time

from cmtracker.sms import BaseSmsBackend

SEND_SECONDS = 0.3


class SlowSmsBackend(BaseSmsBackend):
    def send(self, *, to: str, body: str) -> str:
        token = body.split()[0]
        print(f"SENDING {token}", file=sys.stdout, flush=True)
        time.sleep(SEND_SECONDS)
        print(f"SENT {token}", file=sys.stdout, flush=True)
        return f"slow-{token}"
