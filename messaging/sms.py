"""SMS backends: a small interface like Django's email backends, chosen by settings.SMS_BACKEND.

- ConsoleSmsBackend (the default) prints each message, as Django's console email backend does.
- LocmemSmsBackend keeps them in `messaging.sms.outbox`, for tests.
- TwilioSmsBackend sends through Twilio's official library when TWILIO_* are set.

A backend's `send` returns the provider's message id, raises SmsOptedOut when the provider says
the recipient replied STOP (the patient is then marked opted out, and nothing is retried), and
raises any other exception for a failure worth retrying.
"""

from __future__ import annotations

import sys
import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from cmtracker.phones import phone_canonical

# What the locmem backend has "sent": (to, body) pairs, like django.core.mail.outbox.
outbox: list[tuple[str, str]] = []
_outbox_lock = threading.Lock()


class SmsOptedOut(Exception):
    """The provider refuses: the recipient has unsubscribed (replied STOP)."""


class BaseSmsBackend:
    def send(self, *, to: str, body: str) -> str:
        raise NotImplementedError


class ConsoleSmsBackend(BaseSmsBackend):
    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def send(self, *, to: str, body: str) -> str:
        self.stream.write(f"SMS to {to}:\n{body}\n{'-' * 79}\n")
        self.stream.flush()
        return ""


class LocmemSmsBackend(BaseSmsBackend):
    def send(self, *, to: str, body: str) -> str:
        with _outbox_lock:
            outbox.append((to, body))
            return f"locmem-{len(outbox)}"


# Twilio's error code for "the recipient has replied STOP" (Attempt to send to unsubscribed
# recipient); https://www.twilio.com/docs/api/errors/21610
TWILIO_UNSUBSCRIBED = 21610


# Seconds to wait for Twilio before the send counts as failed (and is retried later): a hung
# connection must not hold a worker's whole batch.
TWILIO_TIMEOUT = 15


class TwilioSmsBackend(BaseSmsBackend):
    def __init__(self):
        if not twilio_configured():
            raise ImproperlyConfigured(
                "TwilioSmsBackend needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
                "TWILIO_FROM_NUMBER"
            )
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        self.client = Client(
            settings.TWILIO_ACCOUNT_SID,
            settings.TWILIO_AUTH_TOKEN,
            http_client=TwilioHttpClient(timeout=TWILIO_TIMEOUT),
        )

    def send(self, *, to: str, body: str) -> str:
        from twilio.base.exceptions import TwilioException

        try:
            message = self.client.messages.create(
                to=to, from_=settings.TWILIO_FROM_NUMBER, body=body
            )
        except TwilioException as error:
            # Both of the library's error shapes (legacy and RFC 9457) carry Twilio's code.
            if getattr(error, "code", None) == TWILIO_UNSUBSCRIBED:
                raise SmsOptedOut(str(error)) from error
            raise
        return message.sid


def twilio_configured() -> bool:
    return bool(
        settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN and settings.TWILIO_FROM_NUMBER
    )


def same_phone(a: str, b: str) -> bool:
    """One number: equal in E.164 ("+1 (312) 555-0100" and "+13125550100"). Numbers are stored
    in E.164, so this is equality; a number from another country never matches, however many
    digits it shares ("+1 312 555 0100" and "+61 312 555 0100")."""
    a = phone_canonical(a) or a.strip()
    b = phone_canonical(b) or b.strip()
    return bool(a) and a == b


def sms_backend() -> BaseSmsBackend:
    return import_string(settings.SMS_BACKEND)()
