"""An SMS backend for the fault tests: slow enough that a SIGKILL or a soft time limit lands in the
middle of a send (SLOW_SMS_SECONDS, 0.3 by default).

The body's first word is the message's token. "SENT <token>" is printed only when the send has
completed, so a token that is SENT twice in the worker logs is a message delivered twice.
"""

import os
import sys
import time

from messaging.sms import BaseSmsBackend

SEND_SECONDS = float(os.environ.get("SLOW_SMS_SECONDS", "0.3"))


class SlowSmsBackend(BaseSmsBackend):
    def send(self, *, to: str, body: str) -> str:
        token = body.split()[0]
        print(f"SENDING {token}", file=sys.stdout, flush=True)
        time.sleep(SEND_SECONDS)
        print(f"SENT {token}", file=sys.stdout, flush=True)
        return f"slow-{token}"
