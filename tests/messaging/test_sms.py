"""SMS: the console, locmem and Twilio backends, and the STOP/START webhook Twilio calls.

Twilio is never reached: its HTTP client is replaced at the HTTP boundary, so the official
library still builds the request and parses the answer (or the error) as it would in production.
"""

import io
import json
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator

from cmtracker.models import AuditEvent
from messaging import sms
from messaging.models import Notification
from messaging.notifications import notification_queue, notifications_send_due
from tests.factories import PatientFactory

TOKEN = "test-auth-token-0123456789abcdef"


@pytest.fixture
def twilio(settings):
    settings.TWILIO_ACCOUNT_SID = "AC" + "0" * 32
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_FROM_NUMBER = "+15005550006"
    settings.SMS_BACKEND = "messaging.sms.TwilioSmsBackend"
    return settings


class FakeTwilioHttp:
    """Stands in for TwilioHttpClient.request: records the requests, answers as Twilio would."""

    def __init__(self, status=201, payload=None):
        self.requests = []
        self.status = status
        self.payload = payload or {"sid": "SM" + "a" * 32, "status": "queued"}

    def __call__(self, method, url, params=None, data=None, **kwargs):
        self.requests.append((method, url, data))
        return Response(self.status, json.dumps(self.payload))


@pytest.fixture
def twilio_http(monkeypatch):
    def answer(status=201, payload=None):
        fake = FakeTwilioHttp(status, payload)
        monkeypatch.setattr(TwilioHttpClient, "request", fake)
        return fake

    return answer


# --- backends ------------------------------------------------------------------------------------


def test_the_console_backend_prints_the_message():
    stream = io.StringIO()
    sms.ConsoleSmsBackend(stream=stream).send(to="+13125550100", body="Test today at 9")
    assert "SMS to +13125550100:\nTest today at 9\n" in stream.getvalue()


def test_the_locmem_backend_keeps_what_it_sent():
    first = sms.LocmemSmsBackend().send(to="+1", body="a")
    sms.LocmemSmsBackend().send(to="+2", body="b")
    assert sms.outbox == [("+1", "a"), ("+2", "b")]
    assert first == "locmem-1"


def test_twilio_sends_through_the_messages_api_and_returns_the_sid(twilio, twilio_http):
    http = twilio_http()

    sid = sms.TwilioSmsBackend().send(to="+13125550100", body="Test today")

    assert sid == "SM" + "a" * 32
    [(method, url, data)] = http.requests
    assert method == "POST"
    assert url.endswith(f"/Accounts/{twilio.TWILIO_ACCOUNT_SID}/Messages.json")
    assert data == {"To": "+13125550100", "From": "+15005550006", "Body": "Test today"}


def test_twilio_says_the_recipient_replied_stop(twilio, twilio_http):
    twilio_http(400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient"})
    with pytest.raises(sms.SmsOptedOut):
        sms.TwilioSmsBackend().send(to="+13125550100", body="Test today")


def test_any_other_twilio_error_is_raised_to_be_retried(twilio, twilio_http):
    twilio_http(500, {"code": 20500, "message": "Internal Server Error"})
    with pytest.raises(TwilioRestException) as raised:
        sms.TwilioSmsBackend().send(to="+13125550100", body="Test today")
    assert raised.value.code == 20500


def test_twilio_refuses_to_start_without_its_settings(settings):
    settings.TWILIO_ACCOUNT_SID = ""
    with pytest.raises(ImproperlyConfigured, match="TWILIO_ACCOUNT_SID"):
        sms.TwilioSmsBackend()


def test_a_stop_from_twilio_at_send_time_opts_the_patient_out(clinic, twilio, twilio_http):
    patient = PatientFactory(clinic=clinic, phone="+13125550100", reminder_consent_sms=True)
    twilio_http(400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient"})
    now = datetime(2026, 3, 3, 16, tzinfo=UTC)
    notification_queue(
        clinic=clinic,
        kind=Notification.Kind.TEST_REMINDER,
        channel=Notification.Channel.SMS,
        to=patient.phone,
        body="Test today",
        dedupe_key="r1",
        patient=patient,
        now=now,
    )

    notifications_send_due(now=now)

    patient.refresh_from_db()
    assert patient.sms_opted_out_at == now
    assert Notification.objects.get().status == Notification.Status.CANCELLED


# --- the STOP webhook ----------------------------------------------------------------------------

URL = reverse("sms-inbound")
FULL_URL = "http://testserver" + URL


def signed_post(client, params: dict, token: str = TOKEN):
    signature = RequestValidator(token).compute_signature(FULL_URL, params)
    return client.post(URL, params, HTTP_X_TWILIO_SIGNATURE=signature)


def inbound(body: str, sender: str = "+13125550100", **extra) -> dict:
    return {
        "MessageSid": "SM" + "b" * 32,
        "From": sender,
        "To": "+15005550006",
        "Body": body,
        **extra,
    }


@pytest.fixture
def texting(clinic):
    return PatientFactory(clinic=clinic, phone="+13125550100", reminder_consent_sms=True)


@pytest.mark.parametrize("word", ["STOP", "stop", " Stop ", "STOPALL", "UNSUBSCRIBE", "QUIT"])
def test_stop_with_a_valid_signature_opts_the_patient_out(client, twilio, texting, word):
    other = PatientFactory(clinic=texting.clinic, phone="+19175550100")

    response = signed_post(client, inbound(word))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    texting.refresh_from_db()
    other.refresh_from_db()
    assert texting.sms_opted_out_at is not None
    assert other.sms_opted_out_at is None


def test_a_stop_from_the_same_digits_in_another_country_opts_nobody_out(client, twilio, texting):
    response = signed_post(client, inbound("STOP", sender="+61 312 555 0100"))

    assert response.status_code == 200
    texting.refresh_from_db()
    assert texting.sms_opted_out_at is None


def test_the_audit_trail_says_the_patients_stop_came_by_text(client, twilio, texting):
    signed_post(client, inbound("STOP"))
    event = AuditEvent.objects.get(patient_id=texting.pk, action="change")
    assert event.actor is None
    assert event.actor_label == "Twilio: text reply from +13125550100"
    assert "sms_opted_out_at" in event.changes


def test_start_opts_the_patient_back_in(client, twilio, texting):
    signed_post(client, inbound("STOP"))
    signed_post(client, inbound("START"))
    texting.refresh_from_db()
    assert texting.sms_opted_out_at is None


def test_a_custom_keyword_twilio_marks_as_opt_out_counts(client, twilio, texting):
    signed_post(client, inbound("PARAR", OptOutType="STOP"))
    texting.refresh_from_db()
    assert texting.sms_opted_out_at is not None


def test_any_other_reply_changes_nothing(client, twilio, texting):
    assert signed_post(client, inbound("stop sending me the wrong time")).status_code == 200
    texting.refresh_from_db()
    assert texting.sms_opted_out_at is None


def test_an_invalid_signature_is_refused(client, twilio, texting):
    response = signed_post(client, inbound("STOP"), token="not-our-token")  # noqa: S106
    assert response.status_code == 403
    texting.refresh_from_db()
    assert texting.sms_opted_out_at is None


def test_a_tampered_body_is_refused(client, twilio, texting):
    params = inbound("START", sender="+19175550100")
    signature = RequestValidator(TOKEN).compute_signature(FULL_URL, params)
    params["From"] = "+13125550100"
    response = client.post(URL, params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 403


def test_no_signature_is_refused(client, twilio, texting):
    assert client.post(URL, inbound("STOP")).status_code == 403


def test_the_webhook_is_closed_while_twilio_is_not_configured(client, texting, settings):
    settings.TWILIO_AUTH_TOKEN = ""
    assert signed_post(client, inbound("STOP"), token="").status_code == 403


def test_the_webhook_answers_only_post(client, twilio):
    assert client.get(URL).status_code == 405


def test_opted_out_patients_queued_sms_is_cancelled_at_send_time(client, twilio, texting):
    now = datetime(2026, 3, 3, 16, tzinfo=UTC)
    notification_queue(
        clinic=texting.clinic,
        kind=Notification.Kind.TEST_REMINDER,
        channel=Notification.Channel.SMS,
        to=texting.phone,
        body="Test today",
        dedupe_key="r1",
        patient=texting,
        now=now,
    )
    signed_post(client, inbound("STOP"))

    assert notifications_send_due(now=now) == 0
    assert Notification.objects.get().status == Notification.Status.CANCELLED
