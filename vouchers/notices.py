"""What patients and staff are told, in their words: reminders, award and reward-ready notices, and
the counselors' digest of missed tests.

Composing only: who may be reached on which channel (consent, an address, no SMS after STOP),
the text in the patient's language and wording, and the outbox row's dedupe key. Sending is the
outbox's (messaging.notifications), which these functions call inside the caller's transaction,
so a notice is written together with its cause or not at all.

Every message to a patient has a discreet wording (Patient.discreet_messages, the default for new
patients): no clinic name, no test, session or reward, no amount, in the body and the email
subject alike, so a lock screen or an inbox preview shows nothing of treatment ("Reminder for
today (before 5 p.m.)."). The detailed wording names the clinic, the test and what it earns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.utils import formats, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from cmtracker.models import Clinic
from messaging.models import Notification
from messaging.notifications import notification_queue
from patients.models import Enrollment, Patient
from vouchers import engine
from vouchers.models import protocol_attach
from vouchers.templatetags.days import long_day
from vouchers.templatetags.money import dollars

Channel = Notification.Channel
Kind = Notification.Kind


def patient_addresses(patient: Patient) -> list[tuple[str, str]]:
    """(channel, address) for each channel the patient consented to and can be reached on."""
    addresses = []
    if patient.reminder_consent_sms and patient.phone and patient.sms_opted_out_at is None:
        addresses.append((Channel.SMS, patient.phone))
    if patient.reminder_consent_email and patient.email:
        addresses.append((Channel.EMAIL, patient.email))
    return addresses


@dataclass(frozen=True)
class Promise:
    """What the next negative test earns, as the portal says it: draws for a prize protocol,
    otherwise cents. Both come from the engine's award for that test (engine.next_negative with
    what other enrollments earned that year), so the caps are already in them; nothing here clips.
    """

    is_prize: bool
    cents: int
    draws: int

    @property
    def earns_nothing(self) -> bool:
        return self.draws == 0 if self.is_prize else self.cents == 0


def promise_from(*, is_prize: bool, award: engine.Award) -> Promise:
    return Promise(is_prize=is_prize, cents=award.total_cents, draws=award.draws)


def _earns(promise: Promise, when: str) -> str:
    """ "A negative test today earns $3.75." — `when` is "today", "tomorrow" or "next"."""
    if promise.earns_nothing:
        return ""
    if promise.is_prize:
        n = promise.draws
        return {
            "today": ngettext(
                "A negative test today earns %(n)s prize draw.",
                "A negative test today earns %(n)s prize draws.",
                n,
            ),
            "tomorrow": ngettext(
                "A negative test tomorrow earns %(n)s prize draw.",
                "A negative test tomorrow earns %(n)s prize draws.",
                n,
            ),
            "next": ngettext(
                "Your next negative test earns %(n)s prize draw.",
                "Your next negative test earns %(n)s prize draws.",
                n,
            ),
        }[when] % {"n": n}
    amount = {"amount": dollars(promise.cents)}
    return {
        "today": _("A negative test today earns %(amount)s."),
        "tomorrow": _("A negative test tomorrow earns %(amount)s."),
        "next": _("Your next negative test earns %(amount)s."),
    }[when] % amount


def _time(clinic_time) -> str:
    return formats.time_format(clinic_time, "TIME_FORMAT")


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _stop_footer() -> str:
    """Every text says how to stop them (carriers ask for it); call in the patient's language."""
    return _("Reply STOP to stop these texts.")


def _per_channel(
    *, clinic: Clinic, patient: Patient, kind: str, subject: str, body: str, key: str, **extra
) -> list[dict]:
    """One outbox row per channel the patient can be reached on, deduplicated as `key:channel`.
    Texts end with how to stop them, in the patient's language."""
    with translation.override(patient.preferred_language):
        footer = _stop_footer()
    return [
        dict(
            clinic=clinic,
            patient=patient,
            kind=kind,
            channel=channel,
            to=to,
            subject=subject,
            body=_join(body, footer) if channel == Channel.SMS else body,
            dedupe_key=f"{key}:{channel}",
            **extra,
        )
        for channel, to in patient_addresses(patient)
    ]


def _queue(rows: list[dict], now: datetime) -> int:
    """Queue rows in the caller's transaction; the number newly queued (not already there)."""
    return sum(notification_queue(**row, now=now) is not None for row in rows)


# --- reminders -----------------------------------------------------------------------------------


def test_reminder_rows(
    *,
    patient: Patient,
    clinic: Clinic,
    enrollment_id: int,
    day: date,
    test_due: bool,
    session_due: bool,
    promise: Promise | None,
    expires_at: datetime,
) -> list[dict]:
    """The outbox rows of the day's reminder, one per reachable channel."""
    with translation.override(patient.preferred_language):
        if patient.discreet_messages:
            # A test day and a session day read alike: either names the treatment.
            body = _("Reminder for today (before %(time)s).") % {"time": _time(clinic.closes_at)}
            subject = _("Reminder for today")
        else:
            if test_due and session_due:
                what = _("Today is a test day, and you have a therapy session.")
            elif test_due:
                what = _("Today is a test day.")
            else:
                what = _("You have a therapy session today.")
            closes = _("The clinic is open until %(time)s today.") % {
                "time": _time(clinic.closes_at)
            }
            earns = _earns(promise, "today") if test_due and promise else ""
            body = _join(f"{clinic.name}:", what, earns, closes)
            subject = _("Test day today") if test_due else _("Your session today")
    return _per_channel(
        clinic=clinic,
        patient=patient,
        kind=Kind.TEST_REMINDER,
        subject=subject,
        body=body,
        key=f"test_reminder:{enrollment_id}:{day.isoformat()}",
        expires_at=expires_at,
    )


def evening_reminder_rows(
    *,
    patient: Patient,
    clinic: Clinic,
    enrollment_id: int,
    day: date,
    promise: Promise | None,
    expires_at: datetime,
) -> list[dict]:
    """The evening-before reminder of test day `day`, one row per reachable channel."""
    with translation.override(patient.preferred_language):
        when = long_day(day)
        if patient.discreet_messages:
            body = _("Reminder for tomorrow, %(day)s.") % {"day": when}
            subject = _("Reminder for tomorrow")
        else:
            what = _("Tomorrow, %(day)s, is a test day.") % {"day": when}
            earns = _earns(promise, "tomorrow") if promise else ""
            body = _join(f"{clinic.name}:", what, earns)
            subject = _("Test day tomorrow")
    return _per_channel(
        clinic=clinic,
        patient=patient,
        kind=Kind.EVENING_REMINDER,
        subject=subject,
        body=body,
        key=f"evening_reminder:{enrollment_id}:{day.isoformat()}",
        expires_at=expires_at,
    )


# --- award and reward-ready notices --------------------------------------------------------------


def award_notice_queue(*, settlement, award: engine.Award | None, source, now: datetime) -> int:
    """Tell the patient what a just-recorded result (a Specimen) or session (an Attendance) earned.

    Call inside the transaction that recorded it, after settlement. Nothing when it earned
    nothing, or the patient cannot be reached. Returns the number of messages queued.
    """
    enrollment = settlement.enrollment
    patient = enrollment.patient
    if award is None or not (award.total_cents or award.draws):
        return 0
    addresses = patient_addresses(patient)
    if not addresses:
        return 0
    clinic = patient.clinic
    is_session = award.kind == engine.ATTENDANCE
    with translation.override(patient.preferred_language):
        if patient.discreet_messages:
            # That something changed, never what or why: the portal says the rest.
            body = _("Your account has been updated. Sign in to see it.")
            subject = _("Your account has been updated")
        else:
            body = _award_detailed(settlement, award, is_session=is_session)
            subject = _("You earned a reward")
    source_key = f"attendance:{source.pk}" if is_session else f"{source.pk}"
    rows = _per_channel(
        clinic=clinic,
        patient=patient,
        kind=Kind.AWARD,
        subject=subject,
        body=body,
        key=f"award:{source_key}",
    )
    return _queue(rows, now)


def _award_detailed(settlement, award: engine.Award, *, is_session: bool) -> str:
    """ "Clinic: You earned $X. Your balance is $Y. Your next negative test earns $Z." """
    enrollment = settlement.enrollment
    is_prize = protocol_attach(enrollment).protocol.kind == engine.PRIZE
    wallet = settlement.wallet
    # The next negative after this one, every cap counted (Settlement.next_award).
    promise = promise_from(is_prize=is_prize, award=settlement.next_award(award.day))
    if is_prize and award.draws:
        earned = ngettext(
            "You earned %(n)s prize draw.", "You earned %(n)s prize draws.", award.draws
        ) % {"n": award.draws}
        standing = ngettext(
            "You have %(n)s draw to make at the clinic.",
            "You have %(n)s draws to make at the clinic.",
            wallet.draws_available,
        ) % {"n": wallet.draws_available}
    else:
        earned = (
            _("You earned %(amount)s for coming to your session.")
            if is_session
            else _("You earned %(amount)s.")
        ) % {"amount": dollars(award.total_cents)}
        standing = _("Your balance is %(amount)s.") % {"amount": dollars(wallet.balance_cents)}
    if enrollment.status not in Enrollment.OPEN_STATUSES:
        onward = ""  # a late result on an ended enrollment: no next test to promise
    elif promise.earns_nothing and not is_prize:
        onward = _("You have reached the most you can earn.")
    else:
        onward = _earns(promise, "next")
    return _join(f"{enrollment.patient.clinic.name}:", earned, standing, onward)


def reward_ready_queue(*, redemption, now: datetime) -> int:
    """ "Your reward is ready for pickup: 2 × Bus pass" to the patient, once per redemption."""
    patient = redemption.patient
    addresses = patient_addresses(patient)
    if not addresses:
        return 0
    with translation.override(patient.preferred_language):
        if patient.discreet_messages:
            # Neither the clinic nor what was asked for: an item's name can say what it rewards.
            body = _("Your order is ready for pickup.")
            subject = _("Your order is ready for pickup")
        else:
            lines = redemption.lines.select_related("item").order_by("id")
            items = ", ".join(
                _("%(quantity)s × %(name)s") % {"quantity": line.quantity, "name": line.item.name}
                for line in lines
            )
            body = _join(
                f"{patient.clinic.name}:",
                _("Your reward is ready for pickup: %(items)s.") % {"items": items},
            )
            subject = _("Your reward is ready for pickup")
    rows = _per_channel(
        clinic=patient.clinic,
        patient=patient,
        kind=Kind.REWARD_READY,
        subject=subject,
        body=body,
        key=f"reward_ready:{redemption.pk}",
    )
    return _queue(rows, now)


# --- the counselors' digest ----------------------------------------------------------------------


def missed_digest_rows(*, clinic: Clinic, day: date, missed: list[Patient], staff) -> list[dict]:
    """One email per staff member with an address: who missed their test on `day`."""
    if not missed:
        return []
    rows = []
    for user in staff:
        if not user.email:
            continue
        # Staff pages follow the browser's language; an email has none, so the site's.
        with translation.override(settings.LANGUAGE_CODE):
            when = formats.date_format(day, "DATE_FORMAT")
            names = "\n".join(
                f"- {p.full_name} ({p.record_number})"
                for p in sorted(missed, key=lambda p: (p.last_name, p.first_name, p.pk))
            )
            body = "\n\n".join(
                [
                    ngettext(
                        "%(n)s patient missed a scheduled test at %(clinic)s on %(day)s:",
                        "%(n)s patients missed a scheduled test at %(clinic)s on %(day)s:",
                        len(missed),
                    )
                    % {"n": len(missed), "clinic": clinic.name, "day": when},
                    names,
                    _(
                        "Each is marked missed and their streak starts again. If a test was "
                        "missed for a good reason, excuse it on the patient's page."
                    ),
                ]
            )
            subject = _("Missed tests on %(day)s") % {"day": when}
        rows.append(
            dict(
                clinic=clinic,
                user=user,
                kind=Kind.MISSED_DIGEST,
                channel=Channel.EMAIL,
                to=user.email,
                subject=subject,
                body=body,
                dedupe_key=f"missed_digest:{clinic.pk}:{day.isoformat()}:{user.pk}",
            )
        )
    return rows
