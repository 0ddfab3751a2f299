"""Replies to our SMS number, from Twilio: STOP opts a patient out of SMS, START opts them back in.

Twilio answers the keywords itself (Advanced Opt-Out) and refuses to deliver to a number that
replied STOP; this webhook records it on the patient, so staff see it and no SMS is queued or
sent to them until they reply START. Only Twilio may call it: the request must carry a valid
X-Twilio-Signature made with TWILIO_AUTH_TOKEN, else 403 (and 403 while Twilio is not set up).

Configure in Twilio: Messaging > the number > "A message comes in" > Webhook, HTTP POST,
https://<host>/sms/inbound/
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from cmtracker import audit
from cmtracker.phones import phone_canonical
from messaging.sms import twilio_configured
from patients.models import Patient

# Twilio's default opt-out and opt-in keywords; a message that is exactly one of them, in any case.
OPT_OUT = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
OPT_IN = {"START", "UNSTOP"}

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def patients_with_phone(phone: str) -> list[Patient]:
    """Every patient whose number is this one. Twilio sends E.164 and numbers are stored in E.164,
    so this is equality: a STOP from +61 312 555 0100 is not one from +1 312 555 0100."""
    number = phone_canonical(phone)
    if number is None:
        return []
    return list(Patient.objects.filter(phone=number))


def patients_sms_opt(*, phone: str, opted_out: bool, now: datetime) -> int:
    """Record a STOP (or a START) from `phone` on every patient with that number; how many changed.

    Saved one by one, not with update(), so each change is in the patients' audit trail.
    """
    changed = 0
    with transaction.atomic():
        for patient in patients_with_phone(phone):
            if (patient.sms_opted_out_at is not None) == opted_out:
                continue
            patient.sms_opted_out_at = now if opted_out else None
            patient.save(update_fields=["sms_opted_out_at"])
            changed += 1
    return changed


def _from_twilio(request) -> bool:
    if not twilio_configured():
        return False
    from twilio.request_validator import RequestValidator

    signature = request.headers.get("X-Twilio-Signature", "")
    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
    return bool(signature) and validator.validate(
        request.build_absolute_uri(), request.POST, signature
    )


@csrf_exempt  # Twilio cannot send our CSRF token; its signature proves the request instead.
@require_POST
def sms_inbound(request):
    if not _from_twilio(request):
        return HttpResponseForbidden("Not a signed Twilio request")
    keyword = request.POST.get("Body", "").strip().upper()
    # With Advanced Opt-Out Twilio also names the kind, covering keywords added in its console
    # (a Spanish "PARAR", say).
    kind = request.POST.get("OptOutType", "").upper()
    sender = request.POST.get("From", "")
    audit.speaks_for(request, f"Twilio: text reply from {sender}")
    if keyword in OPT_OUT or kind == "STOP":
        patients_sms_opt(phone=sender, opted_out=True, now=timezone.now())
    elif keyword in OPT_IN or kind == "START":
        patients_sms_opt(phone=sender, opted_out=False, now=timezone.now())
    # No reply of our own: Twilio confirms the keywords to the sender itself.
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")
