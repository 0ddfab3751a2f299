"""Award and reward-ready notices: "You earned $X. Your balance is $Y. Your next negative test
earns $Z." and "Your reward is ready for pickup", written with the result (or the approval), once,
to the channels the patient consented to, in their language."""

from datetime import date, time

import pytest
from django.core import mail

from messaging import sms
from messaging.models import Notification
from rewards.catalog import catalog_item_create
from rewards.models import CatalogItem
from rewards.redemptions import (
    Conflict,
    redemption_approve,
    redemption_decline,
    redemption_request,
)
from tests.conftest import at, protocol
from tests.factories import EnrollmentFactory
from vouchers import adjustments, protocols, recording

MONDAY, WEDNESDAY = date(2026, 1, 5), date(2026, 1, 7)


@pytest.fixture
def reachable(patient):
    patient.phone = "+1 312 555 0101"
    patient.email = "pat@example.com"
    patient.reminder_consent_sms = True
    patient.reminder_consent_email = True
    patient.save()
    return patient


def record(patient, day, result="negative", **kwargs):
    return recording.specimen_record(
        patient=patient, collected_at=at(patient.clinic, day), results={"cocaine": result}, **kwargs
    )


def notices(kind="award"):
    """The notices of `kind`: the emails, then the text messages, each oldest first."""
    return list(Notification.objects.filter(kind=kind).order_by("channel", "created_at", "id"))


# --- awards -------------------------------------------------------------------------------------


def test_a_negative_tells_the_patient_what_it_earned_the_balance_and_the_next_value(
    reachable, enrollment
):
    recorded = record(reachable, MONDAY)

    email, sms_message = notices()
    expected = (
        "Riverside Recovery: You earned $2.50. Your balance is $2.50. "
        "Your next negative test earns $3.75."
    )
    assert email.body == expected
    assert sms_message.body == f"{expected} Reply STOP to stop these texts."  # carriers ask for it
    assert (email.channel, email.to, email.subject) == (
        "email",
        "pat@example.com",
        "You earned a reward",
    )
    assert (sms_message.channel, sms_message.to) == ("sms", "+1 312 555 0101")
    assert {n.dedupe_key for n in (email, sms_message)} == {
        f"award:{recorded.specimen.pk}:email",
        f"award:{recorded.specimen.pk}:sms",
    }


def test_the_balance_and_next_value_follow_the_streak(reachable, enrollment):
    record(reachable, MONDAY)
    record(reachable, WEDNESDAY)

    latest = notices()[-1]  # Wednesday's text message
    # The third negative in a row: $5.00 and the $10.00 bonus.
    assert "You earned $3.75. Your balance is $6.25. Your next negative test earns $15.00." in (
        latest.body
    )


def test_a_result_that_earns_nothing_sends_nothing(reachable, enrollment):
    record(reachable, MONDAY, result="positive")
    recording.specimen_record(
        patient=reachable,
        collected_at=at(reachable.clinic, WEDNESDAY),
        status="excused",
        notes="Court date",
    )

    assert notices() == []


def test_no_notice_without_consent(patient, enrollment):
    patient.phone, patient.email = "+1 312 555 0101", "pat@example.com"
    patient.save()

    record(patient, MONDAY)

    assert notices() == []


def test_no_sms_after_stop(reachable, enrollment):
    reachable.sms_opted_out_at = at(reachable.clinic, MONDAY, 8)
    reachable.save()

    record(reachable, MONDAY)

    assert [n.channel for n in notices()] == ["email"]


def test_a_double_submitted_result_is_announced_once(reachable, enrollment):
    record(reachable, MONDAY, idempotency_key="desk-1")
    record(reachable, MONDAY, idempotency_key="desk-1")

    assert len(notices()) == 2  # one per channel


def test_a_prize_protocol_announces_draws(reachable):
    fishbowl = protocol("va-prize")
    EnrollmentFactory(patient=reachable, protocol=fishbowl, start_date=MONDAY)

    recording.specimen_record(
        patient=reachable,
        collected_at=at(reachable.clinic, MONDAY),
        results=dict.fromkeys(fishbowl.target_substances, "negative"),
    )

    body = notices()[0].body
    assert "You earned 1 prize draw. You have 1 draw to make at the clinic." in body
    assert "Your next negative test earns 2 prize draws." in body


def test_a_session_that_pays_is_announced(reachable, higgins):
    paying = protocols.protocol_new_version(protocol=higgins)
    paying.attendance_cents = 500
    paying.save()
    EnrollmentFactory(patient=reachable, protocol=paying, start_date=MONDAY)

    recorded = recording.attendance_record(
        patient=reachable, occurred_at=at(reachable.clinic, MONDAY), session_kind="group"
    )

    email, _sms = notices()
    assert email.body == (
        "Riverside Recovery: You earned $5.00 for coming to your session. Your balance is $5.00. "
        "Your next negative test earns $2.50."
    )
    assert email.dedupe_key == f"award:attendance:{recorded.attendance.pk}:email"


def test_a_capped_patient_is_told_when_nothing_more_can_be_earned(reachable, higgins):
    capped = protocols.protocol_new_version(protocol=higgins)
    capped.enrollment_cap_cents = 250
    capped.save()
    EnrollmentFactory(patient=reachable, protocol=capped, start_date=MONDAY)

    record(reachable, MONDAY)

    assert "You have reached the most you can earn." in notices()[0].body


def test_the_notice_is_in_the_patients_language(reachable, enrollment):
    reachable.preferred_language = "es"
    reachable.save()

    record(reachable, MONDAY)

    body = notices()[0].body
    assert "Tu próxima prueba negativa gana $3.75." in body
    assert "Ganaste $2.50. Tu saldo es $2.50." in body


def test_the_notice_is_delivered_after_the_result_is_saved(
    reachable, enrollment, django_capture_on_commit_callbacks
):
    clinic = reachable.clinic
    clinic.quiet_hours_start = clinic.quiet_hours_end = time(0)  # none, whatever the hour
    clinic.save()

    with django_capture_on_commit_callbacks(execute=True):
        record(reachable, MONDAY)

    assert [to for to, _body in sms.outbox] == ["+1 312 555 0101"]
    assert [m.to for m in mail.outbox] == [["pat@example.com"]]
    assert "You earned $2.50." in mail.outbox[0].body


# --- reward ready ---------------------------------------------------------------------------------


@pytest.fixture
def requested(reachable, counselor, clinic, clinic_admin):
    adjustments.ledger_adjust(
        patient=reachable, amount_cents=5000, reason="test credit", actor=counselor
    )
    bus = catalog_item_create(
        clinic=clinic,
        name="Bus pass",
        price_cents=1500,
        category=CatalogItem.Category.TRANSPORT,
        actor=clinic_admin,
    )
    card = catalog_item_create(
        clinic=clinic,
        name="Grocery card",
        price_cents=1000,
        category=CatalogItem.Category.GROCERIES,
        actor=clinic_admin,
    )
    return redemption_request(
        patient=reachable, items=[(bus, 2), (card, 1)], requested_by=counselor
    )


def test_an_approved_request_tells_the_patient_their_reward_is_ready(requested, counselor):
    assert notices("reward_ready") == []

    redemption_approve(redemption=requested, actor=counselor)

    email, sms_message = notices("reward_ready")
    assert sms_message.body == (
        "Riverside Recovery: Your reward is ready for pickup: 2 × Bus pass, 1 × Grocery card."
        " Reply STOP to stop these texts."
    )
    assert email.subject == "Your reward is ready for pickup"
    assert email.dedupe_key == f"reward_ready:{requested.pk}:email"


def test_a_second_approve_is_refused_and_sends_nothing_more(requested, counselor):
    redemption_approve(redemption=requested, actor=counselor)

    with pytest.raises(Conflict):
        redemption_approve(redemption=requested, actor=counselor)

    assert len(notices("reward_ready")) == 2


def test_a_declined_request_is_not_ready_for_pickup(requested, counselor):
    redemption_decline(redemption=requested, actor=counselor, reason="Not now")

    assert notices("reward_ready") == []
