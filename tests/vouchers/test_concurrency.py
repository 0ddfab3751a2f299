"""Real concurrent connections on PostgreSQL: a double-tapped button, a flaky network that retries,
two counselors at two desks. Whatever the interleaving, a patient is paid once and a balance
never goes below zero.

Each worker thread has its own database connection and closes it when done. A `Barrier` starts
them together; where a test needs every request to be past its first read before any of them
writes, another connection holds the patient's wallet lock until they have all piled up behind it.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Sum

from patients.models import Attendance, Specimen
from tests.conftest import at
from tests.factories import EnrollmentFactory, PatientFactory
from vouchers import adjustments, recording
from vouchers.labs import importer
from vouchers.models import LabImport, LedgerEntry, Wallet
from vouchers.settlement import enrollment_settle

# Committed data, so other connections see it. serialized_rollback puts the migrations' data
# (the protocol presets, content types) back after each test empties the tables, and keeps the
# next serialized test's set-up from colliding with content types a plain flush re-creates.
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

THREADS = 20


def concurrently(work, *, count=THREADS, hold_wallet_of=None):
    """Run work(n) for n in range(count) in `count` threads started together.

    With `hold_wallet_of`, another connection holds that patient's wallet lock until every
    thread has had time to reach it, so they all queue on the lock at once. Returns each
    thread's result or the exception it raised.
    """
    barrier = threading.Barrier(count)
    locked, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                Wallet.objects.select_for_update().get(patient=hold_wallet_of)
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    def one(n):
        try:
            barrier.wait(timeout=30)
            return work(n)
        finally:
            connection.close()

    holder = None
    if hold_wallet_of is not None:
        holder = threading.Thread(target=hold)
        holder.start()
        assert locked.wait(timeout=30)
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(one, n) for n in range(count)]
        if holder is not None:
            time.sleep(0.5)  # every request has read what it reads before taking the lock
            release.set()
            holder.join()
        outcomes = []
        for future in futures:
            try:
                outcomes.append(future.result(timeout=60))
            except Exception as error:  # reported by the test's assertions
                outcomes.append(error)
    return outcomes


def errors_in(outcomes):
    return [o for o in outcomes if isinstance(o, Exception)]


def wallet_matching_ledger(patient) -> Wallet:
    sums = LedgerEntry.objects.filter(patient=patient).aggregate(
        balance=Sum("amount_cents"), owed=Sum("overpayment_cents")
    )
    wallet = Wallet.objects.get(patient=patient)
    assert (wallet.balance_cents, wallet.overpayment_cents) == (
        sums["balance"] or 0,
        sums["owed"] or 0,
    )
    return wallet


def record_monday_negative(enrollment, counselor, key, minutes=0):
    clinic = enrollment.patient.clinic
    return recording.specimen_record(
        patient=enrollment.patient,
        collected_at=at(clinic, enrollment.start_date, 8) + timedelta(minutes=minutes),
        results={"cocaine": "negative"},
        recorded_by=counselor,
        idempotency_key=key,
    )


def test_twenty_simultaneous_recordings_with_one_key_make_one_specimen_and_pay_once(
    enrollment, counselor
):
    outcomes = concurrently(lambda n: record_monday_negative(enrollment, counselor, "lab-77"))

    assert errors_in(outcomes) == []
    assert Specimen.objects.count() == 1
    specimen = Specimen.objects.get()
    assert {(r.specimen.id, r.award.voucher_cents) for r in outcomes} == {(specimen.id, 250)}
    assert [r.replayed for r in outcomes].count(False) == 1
    assert LedgerEntry.objects.count() == 1
    assert wallet_matching_ledger(enrollment.patient).balance_cents == 250


def test_one_key_pays_once_even_when_every_request_passed_the_key_check_first(
    enrollment, counselor
):
    Wallet.objects.create(patient=enrollment.patient)

    outcomes = concurrently(
        lambda n: record_monday_negative(enrollment, counselor, "lab-78"),
        hold_wallet_of=enrollment.patient,
    )

    assert errors_in(outcomes) == []
    specimen = Specimen.objects.get()
    assert {(r.specimen.id, r.award.voucher_cents) for r in outcomes} == {(specimen.id, 250)}
    assert [r.replayed for r in outcomes].count(False) == 1
    assert LedgerEntry.objects.count() == 1
    assert wallet_matching_ledger(enrollment.patient).balance_cents == 250


def test_twenty_different_negatives_recorded_at_once_for_one_day_pay_once(enrollment, counselor):
    # Collected a minute apart, recorded in whatever order the threads get the lock: later
    # recordings of earlier specimens move the day's one earning negative around.
    outcomes = concurrently(
        lambda n: record_monday_negative(enrollment, counselor, f"lab-{n}", minutes=THREADS - n)
    )

    assert errors_in(outcomes) == []
    assert Specimen.objects.count() == THREADS
    assert wallet_matching_ledger(enrollment.patient).balance_cents == 250
    earning = [
        s
        for s in Specimen.objects.all()
        if sum(e.entitlement_cents for e in LedgerEntry.objects.filter(specimen=s)) != 0
    ]
    assert earning == [Specimen.objects.order_by("collected_at").first()]
    assert enrollment_settle(enrollment=enrollment).posted == []


def test_concurrent_staff_debits_never_take_the_balance_below_zero(patient, counselor):
    adjustments.ledger_adjust(
        patient=patient, amount_cents=1000, reason="opening balance", actor=counselor
    )

    def debit(n):
        return adjustments.ledger_adjust(
            patient=patient, amount_cents=-150, reason=f"redemption {n}", actor=counselor
        )

    outcomes = concurrently(debit)

    refused = errors_in(outcomes)
    assert all(isinstance(e, ValidationError) for e in refused), refused
    assert all("amount_cents" in e.message_dict for e in refused)
    assert len(outcomes) - len(refused) == 6  # 6 x 1.50 fit in 10.00, a 7th does not
    assert wallet_matching_ledger(patient).balance_cents == 100


def test_one_attendance_key_recorded_by_twenty_requests_at_once_records_one_session(
    enrollment, counselor
):
    Wallet.objects.create(patient=enrollment.patient)

    def attend(n):
        return recording.attendance_record(
            patient=enrollment.patient,
            occurred_at=at(enrollment.patient.clinic, enrollment.start_date, 14),
            session_kind="group",
            recorded_by=counselor,
            idempotency_key="session-5",
        )

    outcomes = concurrently(attend, hold_wallet_of=enrollment.patient)

    assert errors_in(outcomes) == []
    assert Attendance.objects.count() == 1
    assert {r.attendance.id for r in outcomes} == {Attendance.objects.get().id}


def test_a_lab_import_job_run_by_four_workers_at_once_writes_each_row_once(
    clinic, counselor, higgins, monkeypatch
):
    """A redelivered job message, a sweep that started a slow job again: every run claims the
    job, and the chunks are shared out under the job's row lock, each written once."""
    monkeypatch.setattr(importer, "CHUNK_ROWS", 2)
    start = date(2026, 1, 5)
    lines = ["record_number,collected_at,cocaine\n"]
    for n in range(6):
        patient = PatientFactory(clinic=clinic, record_number=f"J{n}")
        EnrollmentFactory(patient=patient, protocol=higgins, start_date=start)
        lines += [f"J{n},{start + timedelta(days=d)} 09:00,negative\n" for d in (1, 3, 5)]
    lines.append("NOBODY,2026-01-07 09:00,negative\n")
    job = importer.lab_import_job_create(
        clinic=clinic,
        actor=counselor,
        text="".join(lines),
        rows=19,
        mode=importer.SKIP_BAD_ROWS,
        now=at(clinic, start + timedelta(days=30)),
    )

    outcomes = concurrently(lambda n: importer.lab_import_run(job_id=job.pk), count=4)

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    job = LabImport.objects.get(pk=job.pk)
    assert (job.status, job.rows_done, job.written, job.errors) == ("done", 19, 18, 1)
    assert Specimen.objects.count() == 18
    for wallet in Wallet.objects.all():
        paid = LedgerEntry.objects.filter(patient_id=wallet.patient_id).aggregate(
            total=Sum("amount_cents")
        )
        # Higgins: $2.50, $3.75, $5.00 and the $10 bonus for three negatives in a row.
        assert wallet.balance_cents == paid["total"] == 250 + 375 + 500 + 1000
