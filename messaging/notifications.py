"""The outbox: a message is queued in the same transaction as its cause and sent once, later.

- `notification_queue` / `notifications_queue_many` write rows inside the caller's transaction
  (a repeated dedupe key is a silent no-op) and, after commit, hand the new ids to a Celery task.
- `notifications_send` takes one message at a time: claims it with a conditional UPDATE (so two
  workers never send one message), sends it and marks it sent at once. Whatever stops a worker
  has at most that one message in hand: a soft time limit is held off while it is with the
  provider and being marked, and what it interrupts is put right on a fresh connection; a killed
  worker's claim lapses after the lease, and that message alone is sent again.
- `notifications_send_due` is the sweep: whatever the tasks did not send (a broker outage, a
  dead worker, a backoff that has run out) is sent by it, a minute late at most.
- Failures go back to waiting with a growing backoff; after NOTIFICATION_MAX_ATTEMPTS they are
  `failed`, and staff see them on the Notifications page and may send them again.

Delays are `not_before` on the row, never a Celery ETA: Redis redelivers long ETAs.
"""

from __future__ import annotations

import logging
import signal
import threading
import time as monotonic_time
import uuid
from contextlib import contextmanager
from datetime import datetime, time, timedelta

from celery import current_app
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core import mail
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from cmtracker import audit
from cmtracker.models import AuditEvent, Clinic
from messaging import sms
from messaging.models import Notification

log = logging.getLogger(__name__)

Status = Notification.Status

# The Celery task that sends the messages one transaction queued (messaging/tasks.py).
SEND_TASK = "messaging.tasks.notifications_send"
# Ids per send task, and rows per page of the sweep.
BATCH = 100
# One sweep stops after this many batches or seconds (under the task's soft time limit of 60 s);
# the next sweep a minute later carries on.
SWEEP_MAX_BATCHES = 50
SWEEP_MAX_SECONDS = 45
# What Celery's prefork pool sends a task's process when its soft time limit is up.
SOFT_TIME_LIMIT_SIGNAL = getattr(signal, "SIGUSR1", None)
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)
ERROR_MAX_CHARS = 1000
# Stored in English (the outbox is a record); the staff page shows it translated.
OPTED_OUT = gettext_noop("The patient has opted out of SMS (replied STOP).")
NO_CONSENT = gettext_noop("The patient no longer accepts these messages this way.")
STORED_REASONS = (OPTED_OUT, NO_CONSENT)


# --- quiet hours ---------------------------------------------------------------------------------


def quiet_hours_end_after(clinic: Clinic, moment: datetime) -> datetime:
    """`moment` itself, or, when it falls in the clinic's quiet hours, the end of those hours.

    Quiet hours are clinic-local wall-clock times and may cross midnight (21:00-08:00). The end is
    built on the local calendar with zoneinfo, so it is 08:00 local on either side of a
    daylight-saving change. Equal start and end mean no quiet hours.
    """
    start, end = clinic.quiet_hours_start, clinic.quiet_hours_end
    if start == end:
        return moment
    local = moment.astimezone(clinic.tz)
    at = local.time().replace(tzinfo=None)
    if start < end:
        if not start <= at < end:
            return moment
        end_day = local.date()
    else:  # across midnight
        if end <= at < start:
            return moment
        end_day = local.date() + timedelta(days=1) if at >= start else local.date()
    return _local(clinic, end_day, end)


def _patient_hours(notification: Notification, moment: datetime) -> datetime:
    """When a message may go at `moment` or later: a patient's waits out the quiet hours."""
    if notification.patient_id is None:
        return moment
    return quiet_hours_end_after(notification.clinic, moment)


def _local(clinic: Clinic, day, wall: time) -> datetime:
    # A wall time that does not exist (skipped by a spring-forward change) is read with the
    # offset before the change, which lands just after it: late by the gap, never early.
    return datetime.combine(day, wall, tzinfo=clinic.tz)


# --- queueing ------------------------------------------------------------------------------------


def _row(
    *,
    clinic,
    kind,
    channel,
    to,
    body,
    dedupe_key,
    now,
    subject="",
    patient=None,
    user=None,
    not_before=None,
    expires_at=None,
) -> Notification:
    not_before = not_before or now
    if patient is not None:
        # Patients are not woken at night; staff digests go when they are due.
        not_before = quiet_hours_end_after(clinic, not_before)
    return Notification(
        clinic=clinic,
        patient=patient,
        user=user,
        kind=kind,
        channel=channel,
        to=to,
        subject=subject,
        body=body,
        dedupe_key=dedupe_key,
        not_before=not_before,
        expires_at=expires_at,
    )


def notification_queue(
    *,
    clinic: Clinic,
    kind: str,
    channel: str,
    to: str,
    body: str,
    dedupe_key: str,
    now: datetime,
    subject: str = "",
    patient=None,
    user=None,
    not_before: datetime | None = None,
    expires_at: datetime | None = None,
) -> Notification | None:
    """Write one message to the outbox, inside the caller's transaction; send it after commit.

    `not_before` defaults to `now`; a message to a patient that would fall in the clinic's quiet
    hours waits for their end. A dedupe key already queued returns None and changes nothing; the
    caller's transaction carries on unharmed (the insert runs in a savepoint).
    """
    fields = dict(
        clinic=clinic,
        kind=kind,
        channel=channel,
        to=to,
        body=body,
        dedupe_key=dedupe_key,
        subject=subject,
        patient=patient,
        user=user,
        not_before=not_before,
        expires_at=expires_at,
    )
    notification = _row(now=now, **fields)
    if Notification.objects.filter(dedupe_key=notification.dedupe_key).exists():
        return None
    try:
        with transaction.atomic():
            notification.save(force_insert=True)
    except IntegrityError:
        # The same key, queued meanwhile by another transaction.
        return None
    _send_after_commit([notification.pk])
    return notification


def notifications_queue_many(rows: list[dict], *, now: datetime) -> int:
    """Many `notification_queue`s in a few queries, for a fan-out; returns how many were new.

    Keys already in the outbox (or twice in `rows`) are skipped. Only the rows this call
    inserted are counted and handed to send tasks: a key that another run (a second beat)
    inserts at the same moment is that run's to count and publish.
    """
    by_key: dict[str, Notification] = {}
    for fields in rows:
        notification = _row(now=now, **fields)
        by_key.setdefault(notification.dedupe_key, notification)
    if not by_key:
        return 0
    keys = list(by_key)
    existing = set()
    for i in range(0, len(keys), 1000):
        existing.update(
            Notification.objects.filter(dedupe_key__in=keys[i : i + 1000]).values_list(
                "dedupe_key", flat=True
            )
        )
    ids = _insert_new([n for key, n in by_key.items() if key not in existing])
    if ids:
        _send_after_commit(ids)
    return len(ids)


def _insert_new(notifications: list[Notification]) -> list[int]:
    """Insert these rows, skipping any whose dedupe key is taken; the ids of those inserted.

    INSERT ... ON CONFLICT (dedupe_key) DO NOTHING RETURNING id (PostgreSQL, and SQLite from
    3.35) names exactly the rows this statement wrote. bulk_create(ignore_conflicts=True) cannot
    say which those are, and reading them back by key also finds the rows a concurrent run
    inserted under the same keys (it waits for that run's commit, then skips them): so two beats
    at once would each count and publish the whole batch.
    """
    if not notifications:
        return []
    meta = Notification._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    unnest = connection.vendor == "postgresql"
    # Only the model's own table, column and type names are spliced in; values are parameters.
    into = f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)})"
    if unnest:
        # One array per column, as Django's bulk_create does there: a short statement to plan and
        # to parse, whatever the number of rows.
        arrays = ", ".join(f"(%s)::{f.db_type(connection).split('(')[0]}[]" for f in fields)
        rows_sql = f"SELECT * FROM UNNEST({arrays})"  # noqa: S608  # nosec B608: names, not input
    on_conflict = (
        f"ON CONFLICT ({quote(meta.get_field('dedupe_key').column)}) DO NOTHING "
        f"RETURNING {quote(meta.pk.column)}"
    )
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    size = max(1, min(1000, connection.ops.bulk_batch_size(fields, notifications)))
    ids: list[int] = []
    with connection.cursor() as cursor:
        for i in range(0, len(notifications), size):
            chunk = notifications[i : i + size]
            columns = [
                [field.get_db_prep_save(field.pre_save(n, add=True), connection) for n in chunk]
                for field in fields
            ]
            if unnest:
                params = columns
            else:
                rows_sql = "VALUES " + ", ".join([row] * len(chunk))
                params = [value for values in zip(*columns, strict=True) for value in values]
            cursor.execute(f"{into} {rows_sql} {on_conflict}", params)
            ids.extend(pk for (pk,) in cursor.fetchall())
    return ids


class _SendAfterCommit:
    """The ids queued in one transaction, handed to send tasks in batches after it commits."""

    def __init__(self):
        self.ids: list[int] = []
        self.done = False
        # Registered once and found again by identity in the connection's on_commit list.
        self.callback = self.enqueue

    def enqueue(self) -> None:
        self.done = True
        # By name from Celery's registry: the tasks module calls this one, not the other way round.
        # A registered task's delay() runs it at once under CELERY_TASK_ALWAYS_EAGER.
        send = current_app.tasks[SEND_TASK]
        for i in range(0, len(self.ids), BATCH):
            try:
                send.delay(self.ids[i : i + BATCH])
            except Exception as error:  # noqa: BLE001 - whatever the broker's failure, the rows wait
                # The broker's timeouts (settings) bound this to about a second; the next batch
                # would wait as long again, so stop here: the sweep sends all of them.
                log.warning(
                    "the broker did not take the send task for %s messages, the sweep sends "
                    "them: %s",
                    len(self.ids) - i,
                    _error_text(error),
                )
                return


def _send_after_commit(ids: list[int]) -> None:
    """One on_commit callback per transaction, whatever the number of messages queued in it.

    A broker that is down or hangs must never fail or hold up the request that queued the message
    (it has committed by then): the broker's timeouts bound the wait (settings), the error is
    logged and the sweep sends the message later. robust=True is the second line of defence.
    """
    connection = transaction.get_connection()
    pending = getattr(connection, "_outbox_after_commit", None)
    # Django drops the callbacks of a transaction that rolled back: then start afresh.
    if (
        pending is None
        or pending.done
        or not any(callback == pending.callback for _, callback, _ in connection.run_on_commit)
    ):
        pending = _SendAfterCommit()
        connection._outbox_after_commit = pending
        pending.ids.extend(ids)
        transaction.on_commit(pending.callback, robust=True)
        return
    pending.ids.extend(ids)


# --- sending -------------------------------------------------------------------------------------


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed try: 1, 2, 4... minutes, an hour at most."""
    doublings = min(max(attempts - 1, 0), 12)  # 2**12 minutes is past the cap already
    return min(BACKOFF_FIRST * 2**doublings, BACKOFF_MAX)


def _claimable(now: datetime) -> Q:
    due = Q(status=Status.PENDING, not_before__lte=now) & (
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )
    # Claimed by a worker that died before finishing: its lease has lapsed.
    abandoned = Q(status=Status.SENDING, claimed_at__lt=now - settings.NOTIFICATION_CLAIM_LEASE)
    return due | abandoned


def _claim(notification: Notification, *, now: datetime, token: str) -> bool:
    """Claim one message with a conditional UPDATE; True when this token won it.

    On PostgreSQL a concurrent claim of the same row waits for the first, re-checks the status
    (now `sending`, freshly claimed) and skips it: exactly one claimant wins each row.
    """
    won = (
        Notification.objects.filter(pk=notification.pk)
        .filter(_claimable(now))
        .update(
            status=Status.SENDING,
            claim_token=token,
            claimed_at=now,
            attempts=F("attempts") + 1,
        )
    )
    if won:
        notification.status = Status.SENDING
        notification.claim_token = token
        notification.claimed_at = now
        notification.attempts += 1
    return bool(won)


def _due(queryset, now: datetime):
    return queryset.filter(_claimable(now)).select_related("patient").order_by("not_before", "pk")


def _expire(queryset, now: datetime) -> int:
    """Reminders past their time (after closing, say) are not sent late; they become `expired`."""
    lease = settings.NOTIFICATION_CLAIM_LEASE
    return queryset.filter(
        Q(status=Status.PENDING) | Q(status=Status.SENDING, claimed_at__lt=now - lease),
        expires_at__lte=now,
    ).update(status=Status.EXPIRED)


def notifications_send(*, ids: list[int], now: datetime | None = None) -> int:
    """Send these messages if they are due and nobody else has them; returns how many were sent."""
    now = now or timezone.now()
    _expire(Notification.objects.filter(pk__in=ids), now)
    return _send_each(list(_due(Notification.objects.filter(pk__in=ids), now)), now=now)


def notifications_send_due(
    *, now: datetime | None = None, max_seconds: float = SWEEP_MAX_SECONDS
) -> int:
    """The sweep: send due messages a page at a time, until none are left or this run has had
    its share of time; returns how many were sent."""
    now = now or timezone.now()
    _expire(Notification.objects.all(), now)
    started = monotonic_time.monotonic()
    sent = 0
    for _ in range(SWEEP_MAX_BATCHES):
        page = list(_due(Notification.objects.all(), now)[:BATCH])
        if not page:
            break
        # Rows another sweep claims meanwhile are skipped here and left out of the next page.
        sent += _send_each(page, now=now)
        if monotonic_time.monotonic() - started > max_seconds:
            break
    return sent


class _Channels:
    """One batch's SMS backend and email connection, each opened when first needed."""

    def __init__(self):
        self._sms = None
        self._email = None

    def send(self, notification: Notification) -> str:
        """Send through the notification's channel; the provider's message id, if any."""
        if notification.channel == Notification.Channel.SMS:
            if self._sms is None:
                self._sms = sms.sms_backend()
            return self._sms.send(to=notification.to, body=notification.body) or ""
        if self._email is None:
            self._email = mail.get_connection()
        mail.EmailMessage(
            subject=notification.subject,
            body=notification.body,
            to=[notification.to],
            connection=self._email,
        ).send()
        return ""

    def close(self) -> None:
        if self._email is not None:
            self._email.close()


def _send_each(candidates: list[Notification], *, now: datetime) -> int:
    """Claim, send and mark one message at a time, so whatever stops this run (a soft time limit,
    a killed worker) has at most one message in hand; returns how many were sent."""
    token = uuid.uuid4().hex
    channels = _Channels()
    sent = 0
    in_hand = None
    try:
        for notification in candidates:
            in_hand = notification  # before the claim: the claim itself may be cut short
            if _claim(notification, now=now, token=token):
                sent += _send_one(notification, channels, now=now)
            in_hand = None
    except SoftTimeLimitExceeded:
        _put_right(in_hand)
        raise
    finally:
        channels.close()
    return sent


def _put_right(notification: Notification | None) -> None:
    """After a soft time limit: the message in hand is marked sent if its send completed, and
    otherwise goes back to waiting, at once rather than after the lease.

    Celery raises the limit wherever the worker is, inside a database call too, which leaves the
    connection mid-reply (every later query on it fails): so it is closed, and this runs on a
    fresh one. The interrupted statement may still complete on the server; the conditional
    updates below wait for its row lock and see what it did. (A claim that reaches the row only
    after them holds the message until the lease lapses: late, never twice.)
    """
    if not connection.in_atomic_block:
        connection.close()
    if notification is None:
        return
    try:
        if notification.sent_at is not None:
            _mark_sent(notification)
        else:
            _release(notification)
    except DatabaseError:
        # The database itself is gone: the claim lapses after the lease and the sweep retries.
        log.exception("notification %s left to its lease after a soft time limit", notification.pk)


@contextmanager
def _soft_time_limit_held():
    """Celery's soft time limit waits while this block runs, and strikes as it ends.

    With the prefork pool the limit is a SIGUSR1 to the worker's child process, whose handler
    raises SoftTimeLimitExceeded wherever the code is: inside the provider's call after it has
    taken the message, say, which would leave us not knowing whether it went. Held off over the
    send and the row's marking, the limit lands before a send or after its mark, never between.
    (Signal handlers belong to the main thread; elsewhere, as in the tests' racing threads, the
    block runs unguarded.) The hard time limit still kills a send that hangs: providers have
    their own, shorter timeouts.
    """
    if (
        SOFT_TIME_LIMIT_SIGNAL is None
        or threading.current_thread() is not threading.main_thread()
        or signal.getsignal(SOFT_TIME_LIMIT_SIGNAL) is None  # a handler not set from Python
    ):
        yield
        return
    arrived = []
    previous = signal.signal(SOFT_TIME_LIMIT_SIGNAL, lambda signum, frame: arrived.append(signum))
    try:
        yield
    finally:
        signal.signal(SOFT_TIME_LIMIT_SIGNAL, previous)
        if arrived:
            signal.raise_signal(SOFT_TIME_LIMIT_SIGNAL)  # to the handler it was meant for


def _mine(notification: Notification):
    return Notification.objects.filter(
        pk=notification.pk, claim_token=notification.claim_token, status=Status.SENDING
    )


def _mark_sent(notification: Notification) -> None:
    _mine(notification).update(
        status=Status.SENT, sent_at=notification.sent_at, provider_id=notification.provider_id
    )


def _release(notification: Notification) -> None:
    _mine(notification).update(status=Status.PENDING, claim_token="", claimed_at=None)


def _patient_address(notification: Notification) -> str | None:
    """Where a patient's message goes at sending time: the number or address they have now,
    while they still consent to that channel; None when they no longer do (or have none)."""
    patient = notification.patient
    if notification.channel == Notification.Channel.SMS:
        return patient.phone if patient.reminder_consent_sms and patient.phone else None
    return patient.email if patient.reminder_consent_email and patient.email else None


def _same_address(channel: str, a: str, b: str) -> bool:
    if channel == Notification.Channel.SMS:
        return sms.same_phone(a, b)
    return a.strip().lower() == b.strip().lower()


def _send_one(notification: Notification, channels: _Channels, *, now: datetime) -> int:
    patient = notification.patient
    if patient is not None:
        # Consent and address are read again: a message that waited (quiet hours, a retry) goes
        # only where the patient still accepts it, to their current number or address.
        address = _patient_address(notification)
        if address is None:
            _mine(notification).update(status=Status.CANCELLED, last_error=NO_CONSENT)
            return 0
        if not _same_address(notification.channel, address, notification.to):
            notification.to = address  # they changed it while the message waited
            _mine(notification).update(to=address)
    if (
        notification.channel == Notification.Channel.SMS
        and patient is not None
        and patient.sms_opted_out_at is not None
    ):
        _mine(notification).update(status=Status.CANCELLED, last_error=OPTED_OUT)
        return 0
    with _soft_time_limit_held():
        try:
            provider_id = channels.send(notification)
        except sms.SmsOptedOut as error:
            _opted_out(notification, error, now=now)
            return 0
        except SoftTimeLimitExceeded:
            raise
        except Exception as error:  # noqa: BLE001 - any provider failure is retried, then shown
            _failed(notification, error, now=now)
            return 0
        # Known in hand before it is written: if the write is cut short, _put_right finishes it.
        notification.sent_at, notification.provider_id = now, provider_id
        _mark_sent(notification)
    return 1


def _error_text(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:ERROR_MAX_CHARS]


def _failed(notification: Notification, error: Exception, *, now: datetime) -> None:
    gave_up = notification.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS
    log.warning(
        "notification %s attempt %s failed%s: %s",
        notification.pk,
        notification.attempts,
        " (giving up)" if gave_up else "",
        _error_text(error),
    )
    if gave_up:
        _mine(notification).update(status=Status.FAILED, last_error=_error_text(error))
    else:
        _mine(notification).update(
            status=Status.PENDING,
            not_before=_patient_hours(notification, now + backoff(notification.attempts)),
            claim_token="",
            last_error=_error_text(error),
        )


def _opted_out(notification: Notification, error: Exception, *, now: datetime) -> None:
    """The provider says the recipient replied STOP: nothing more is sent to them by SMS."""
    _mine(notification).update(status=Status.CANCELLED, last_error=_error_text(error))
    patient = notification.patient
    if patient is not None and patient.sms_opted_out_at is None:
        # Saved, not updated in bulk: the change goes into the patient's audit trail.
        patient.sms_opted_out_at = now
        patient.save(update_fields=["sms_opted_out_at"])


# --- staff ---------------------------------------------------------------------------------------


def notification_retry(*, notification: Notification, actor, now: datetime | None = None) -> bool:
    """Staff send a failed message again: it waits to be sent now, its attempts and last error
    kept for the record. Returns False when it is no longer failed (a double click)."""
    now = now or timezone.now()
    changed = Notification.objects.filter(pk=notification.pk, status=Status.FAILED).update(
        status=Status.PENDING,
        not_before=_patient_hours(notification, now),  # "send again" at night waits for 08:00
        claim_token="",
        claimed_at=None,
    )
    if not changed:
        return False
    audit.record(
        action=AuditEvent.Action.CHANGE,
        object_type="notification",
        object_id=notification.pk,
        clinic_id=notification.clinic_id,
        patient_id=notification.patient_id,
        changes={"status": [Status.FAILED.value, Status.PENDING.value]},
    )
    log.info("notification %s sent again by user %s", notification.pk, actor.pk)
    _send_after_commit([notification.pk])
    return True
