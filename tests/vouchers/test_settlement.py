"""Settlement: what a patient is paid as results arrive, arrive late, and get corrected.

Every test checks what the counselor and the patient would see (cents paid, the balance, what is
owed) and that the wallet still equals the sums of the ledger after every step.
"""

from datetime import date, datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.db.models import Sum
from django.db.models.functions import Coalesce

from patients.enrollment import enrollment_start
from patients.models import Correction, Enrollment, Specimen
from tests.conftest import at
from tests.factories import EnrollmentFactory
from vouchers import adjustments, recording
from vouchers.models import LedgerEntry, Protocol, ProtocolPhase, Wallet
from vouchers.settlement import enrollment_settle

MON = date(2026, 1, 5)  # the `enrollment` fixture's start, a Monday
WED = MON + timedelta(days=2)
THU = MON + timedelta(days=3)
FRI = MON + timedelta(days=4)
NEXT_MON = MON + timedelta(days=7)


def record(patient, day, result="negative", *, hour=10, by=None, **kwargs):
    return recording.specimen_record(
        patient=patient,
        collected_at=at(patient.clinic, day, hour),
        results={"cocaine": result},
        recorded_by=by,
        **kwargs,
    )


def wallet_matching_ledger(patient) -> Wallet:
    """The patient's wallet, after checking it equals the sums of their ledger."""
    sums = LedgerEntry.objects.filter(patient=patient).aggregate(
        balance=Coalesce(Sum("amount_cents"), 0), owed=Coalesce(Sum("overpayment_cents"), 0)
    )
    wallet = Wallet.objects.get(patient=patient)
    assert (wallet.balance_cents, wallet.overpayment_cents) == (sums["balance"], sums["owed"])
    assert wallet.balance_cents >= 0
    assert wallet.overpayment_cents >= 0
    return wallet


def entitlement(specimen) -> int:
    """What the ledger says a specimen is worth to the patient now."""
    rows = LedgerEntry.objects.filter(specimen=specimen)
    return sum(e.entitlement_cents for e in rows)


def spend(patient, cents, by):
    return adjustments.ledger_adjust(
        patient=patient, amount_cents=-cents, reason="bus pass from the catalog", actor=by
    )


def voucher_protocol(slug, *, start=250, increment=125, bonus_every=3, bonus=1000, **fields):
    """A protocol version of our own, with one open-ended phase."""
    protocol = Protocol.objects.create(
        slug=slug,
        name=f"Test protocol {slug}",
        kind=Protocol.Kind.VOUCHER,
        target_substances=["cocaine"],
        **fields,
    )
    ProtocolPhase.objects.create(
        protocol=protocol,
        first_week=1,
        last_week=None,
        start_cents=start,
        increment_cents=increment,
        bonus_every=bonus_every,
        bonus_cents=bonus,
    )
    return protocol


# --- paying for negatives ---------------------------------------------------------------------


def test_a_negative_pays_the_start_value_and_the_wallet_shows_it(enrollment, counselor):
    patient = enrollment.patient

    first = record(patient, MON, by=counselor)

    assert first.award.voucher_cents == 250
    assert wallet_matching_ledger(patient).balance_cents == 250
    entry = LedgerEntry.objects.get(patient=patient)
    assert (entry.kind, entry.amount_cents) == (LedgerEntry.Kind.EARN, 250)
    assert entry.specimen == first.specimen
    assert entry.created_by == counselor

    second = record(patient, WED, by=counselor)

    assert second.award.voucher_cents == 375
    assert wallet_matching_ledger(patient).balance_cents == 625


def test_the_third_consecutive_negative_also_pays_the_ten_dollar_bonus(enrollment, counselor):
    patient = enrollment.patient
    record(patient, MON, by=counselor)
    record(patient, WED, by=counselor)

    third = record(patient, FRI, by=counselor)

    assert (third.award.voucher_cents, third.award.bonus_cents) == (500, 1000)
    assert wallet_matching_ledger(patient).balance_cents == 250 + 375 + 500 + 1000
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.BONUS, amount_cents=1000).count() == 1


def test_settling_twice_posts_nothing(enrollment, counselor):
    patient = enrollment.patient
    record(patient, MON, by=counselor)
    record(patient, WED, result="positive", by=counselor)
    record(patient, FRI, by=counselor)
    rows = LedgerEntry.objects.count()

    first = enrollment_settle(enrollment=enrollment)
    second = enrollment_settle(enrollment=enrollment)

    assert first.posted == [] and second.posted == []
    assert LedgerEntry.objects.count() == rows
    assert wallet_matching_ledger(patient).balance_cents == 500


def test_recording_the_same_result_twice_with_one_key_pays_once(enrollment, counselor):
    patient = enrollment.patient
    first = record(patient, MON, by=counselor, idempotency_key="lab-0001")

    again = record(patient, MON, by=counselor, idempotency_key="lab-0001")

    assert again.replayed
    assert again.specimen.id == first.specimen.id
    assert again.award.voucher_cents == 250
    assert Specimen.objects.count() == 1
    assert LedgerEntry.objects.count() == 1
    assert wallet_matching_ledger(patient).balance_cents == 250


def test_a_second_negative_the_same_day_is_recorded_and_earns_nothing(enrollment, counselor):
    patient = enrollment.patient
    record(patient, MON, hour=9, by=counselor)

    second = record(patient, MON, hour=15, by=counselor)

    assert second.award.total_cents == 0
    assert second.award.note
    assert enrollment.specimens.count() == 2
    assert wallet_matching_ledger(patient).balance_cents == 250


def test_a_positive_later_the_same_day_still_resets_the_next_value(enrollment, counselor):
    patient = enrollment.patient
    record(patient, MON, hour=9, by=counselor)
    record(patient, MON, hour=15, result="positive", by=counselor)

    wednesday = record(patient, WED, by=counselor)

    assert wednesday.award.voucher_cents == 250
    assert wallet_matching_ledger(patient).balance_cents == 500


def test_an_excused_test_neither_pays_nor_breaks_the_streak(enrollment, counselor):
    patient = enrollment.patient
    record(patient, MON, by=counselor)
    excused = recording.specimen_record(
        patient=patient,
        collected_at=at(patient.clinic, WED),
        status=Specimen.Status.EXCUSED,
        notes="in hospital, letter on file",
        recorded_by=counselor,
    )

    friday = record(patient, FRI, by=counselor)

    assert excused.award.total_cents == 0
    assert friday.award.voucher_cents == 375
    assert wallet_matching_ledger(patient).balance_cents == 625


# --- late results -----------------------------------------------------------------------------


def test_a_late_positive_back_dated_between_two_negatives_reprices_the_later_one(
    enrollment, counselor
):
    patient = enrollment.patient
    record(patient, MON, by=counselor)
    friday = record(patient, FRI, by=counselor)
    assert wallet_matching_ledger(patient).balance_cents == 250 + 375

    late = record(patient, WED, result="positive", by=counselor)

    # Only the difference is posted: Friday goes back to the start value.
    [reversal] = late.settlement.posted
    assert reversal.kind == LedgerEntry.Kind.REVERSAL
    assert reversal.specimen_id == friday.specimen.id
    assert reversal.amount_cents == -125
    assert late.settlement.award_for(f"specimen:{friday.specimen.id}").voucher_cents == 250
    assert entitlement(friday.specimen) == 250
    assert LedgerEntry.objects.count() == 3
    assert wallet_matching_ledger(patient).balance_cents == 500


def test_a_late_negative_back_dated_between_two_negatives_pays_only_the_differences(
    enrollment, counselor
):
    patient = enrollment.patient
    record(patient, MON, by=counselor)
    friday = record(patient, FRI, by=counselor)

    late = record(patient, WED, by=counselor)

    # Wednesday earns 3.75; Friday moves up from 3.75 to 5.00 and is now the third in a row.
    assert late.award.voucher_cents == 375
    posted = {(e.specimen_id, e.kind): e.amount_cents for e in late.settlement.posted}
    assert posted == {
        (late.specimen.id, LedgerEntry.Kind.EARN): 375,
        (friday.specimen.id, LedgerEntry.Kind.EARN): 125,
        (friday.specimen.id, LedgerEntry.Kind.BONUS): 1000,
    }
    assert entitlement(friday.specimen) == 500 + 1000
    assert wallet_matching_ledger(patient).balance_cents == 250 + 375 + 500 + 1000


# --- corrections ------------------------------------------------------------------------------


def test_correcting_a_negative_to_positive_reverses_and_keeps_who_why_before_and_after(
    enrollment, counselor
):
    patient = enrollment.patient
    monday = record(patient, MON, by=counselor)
    wednesday = record(patient, WED, by=counselor)
    assert wallet_matching_ledger(patient).balance_cents == 625

    corrected = recording.specimen_correct(
        specimen=monday.specimen,
        changed_by=counselor,
        reason="  Lab re-read the strip: cocaine positive  ",
        results={"cocaine": "positive"},
    )

    # Monday is taken back and Wednesday is now the first negative after a reset.
    assert corrected.award.total_cents == 0
    assert entitlement(monday.specimen) == 0
    assert entitlement(wednesday.specimen) == 250
    assert {e.amount_cents for e in corrected.settlement.posted} == {-250, -125}
    assert all(e.kind == LedgerEntry.Kind.REVERSAL for e in corrected.settlement.posted)
    assert all(e.created_by == counselor for e in corrected.settlement.posted)
    assert wallet_matching_ledger(patient).balance_cents == 250

    fix = Correction.objects.get(specimen=monday.specimen)
    assert fix.changed_by == counselor
    assert fix.reason == "Lab re-read the strip: cocaine positive"
    assert fix.before["outcome"] == "N"
    assert fix.before["results"] == {"cocaine": "negative"}
    assert fix.after["outcome"] == "P"
    assert fix.after["results"] == {"cocaine": "positive"}
    monday.specimen.refresh_from_db()
    assert monday.specimen.outcome == Specimen.Outcome.POSITIVE


def test_correcting_a_result_and_correcting_it_back_restores_the_balance_exactly(
    enrollment, counselor
):
    patient = enrollment.patient
    monday = record(patient, MON, by=counselor)
    record(patient, WED, by=counselor)
    record(patient, FRI, by=counselor)
    before = wallet_matching_ledger(patient).balance_cents
    assert before == 2125

    recording.specimen_correct(
        specimen=monday.specimen,
        changed_by=counselor,
        reason="wrong cup",
        results={"cocaine": "positive"},
    )
    assert wallet_matching_ledger(patient).balance_cents == 250 + 375
    recording.specimen_correct(
        specimen=monday.specimen,
        changed_by=counselor,
        reason="it was the right cup after all",
        results={"cocaine": "negative"},
    )

    wallet = wallet_matching_ledger(patient)
    assert (wallet.balance_cents, wallet.overpayment_cents) == (before, 0)
    assert Correction.objects.filter(specimen=monday.specimen).count() == 2
    assert enrollment_settle(enrollment=enrollment).posted == []


@pytest.mark.parametrize("reason", ["", "   ", None], ids=["empty", "blank", "none"])
def test_a_correction_without_a_reason_is_refused_and_changes_nothing(
    enrollment, counselor, reason
):
    patient = enrollment.patient
    monday = record(patient, MON, by=counselor)
    rows = LedgerEntry.objects.count()

    with pytest.raises(ValidationError) as refused:
        recording.specimen_correct(
            specimen=monday.specimen,
            changed_by=counselor,
            reason=reason,
            results={"cocaine": "positive"},
        )

    assert "reason" in refused.value.message_dict
    monday.specimen.refresh_from_db()
    assert monday.specimen.outcome == Specimen.Outcome.NEGATIVE
    assert monday.specimen.results.get().result == "negative"
    assert not Correction.objects.exists()
    assert LedgerEntry.objects.count() == rows
    assert wallet_matching_ledger(patient).balance_cents == 250


def test_moving_a_test_so_two_values_swap_leaves_nothing_owed(enrollment, counselor):
    patient = enrollment.patient
    monday = record(patient, MON, by=counselor)
    wednesday = record(patient, WED, by=counselor)
    spend(patient, 625, counselor)

    moved = recording.specimen_correct(
        specimen=monday.specimen,
        changed_by=counselor,
        reason="collection time was entered on the wrong day",
        collected_at=at(patient.clinic, THU),
    )

    # Wednesday is now first (2.50), the moved test second (3.75): the same total, and the
    # patient's history never shows a debt in between (the credit is posted before the debit).
    assert [e.amount_cents for e in moved.settlement.posted] == [125, -125]
    assert all(e.overpayment_cents == 0 for e in moved.settlement.posted)
    assert entitlement(wednesday.specimen) == 250
    assert entitlement(monday.specimen) == 375
    wallet = wallet_matching_ledger(patient)
    assert (wallet.balance_cents, wallet.overpayment_cents) == (0, 0)


# --- overpayment ------------------------------------------------------------------------------


@pytest.fixture
def overpaid(enrollment, counselor):
    """2.50 + 3.75 earned, 6.00 spent, then Monday's negative corrected to a positive."""
    patient = enrollment.patient
    monday = record(patient, MON, by=counselor)
    record(patient, WED, by=counselor)
    spend(patient, 600, counselor)
    assert wallet_matching_ledger(patient).balance_cents == 25
    recording.specimen_correct(
        specimen=monday.specimen,
        changed_by=counselor,
        reason="confirmation test came back positive",
        results={"cocaine": "positive"},
    )
    return patient


def test_a_correction_after_spending_never_takes_the_balance_below_zero(overpaid):
    # Earnings drop from 6.25 to 2.50; the 0.25 left is taken and 3.50 is shown as owed.
    wallet = wallet_matching_ledger(overpaid)
    assert wallet.balance_cents == 0
    assert wallet.overpayment_cents == 350
    reversals = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REVERSAL)
    assert sum(e.amount_cents for e in reversals) == -25
    assert sum(e.overpayment_cents for e in reversals) == 350


def test_a_later_negative_pays_the_overpayment_back_first(overpaid, counselor):
    friday = record(overpaid, FRI, by=counselor)

    assert friday.award.voucher_cents == 375
    [entry] = friday.settlement.posted
    assert (entry.amount_cents, entry.overpayment_cents) == (25, -350)
    wallet = wallet_matching_ledger(overpaid)
    assert (wallet.balance_cents, wallet.overpayment_cents) == (25, 0)


def test_staff_can_waive_an_overpayment_with_a_reason(overpaid, counselor):
    with pytest.raises(ValidationError) as refused:
        adjustments.overpayment_waive(patient=overpaid, reason=" ", actor=counselor)
    assert "reason" in refused.value.message_dict
    assert wallet_matching_ledger(overpaid).overpayment_cents == 350

    waiver = adjustments.overpayment_waive(
        patient=overpaid, reason="clinic director approved", actor=counselor
    )

    assert waiver.kind == LedgerEntry.Kind.WAIVER
    assert (waiver.amount_cents, waiver.overpayment_cents) == (0, -350)
    assert (waiver.reason, waiver.created_by) == ("clinic director approved", counselor)
    wallet = wallet_matching_ledger(overpaid)
    assert (wallet.balance_cents, wallet.overpayment_cents) == (0, 0)
    # Nothing left to waive: nothing posted.
    assert adjustments.overpayment_waive(patient=overpaid, reason="again", actor=counselor) is None
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.WAIVER).count() == 1
    # After the waiver the next negative is paid in full.
    friday = record(overpaid, FRI, by=counselor)
    assert friday.award.voucher_cents == 375
    assert wallet_matching_ledger(overpaid).balance_cents == 375


def test_a_staff_debit_larger_than_the_balance_is_refused(enrollment, counselor):
    patient = enrollment.patient
    record(patient, MON, by=counselor)

    with pytest.raises(ValidationError) as refused:
        spend(patient, 251, counselor)

    assert "amount_cents" in refused.value.message_dict
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.ADJUSTMENT).count() == 0
    assert wallet_matching_ledger(patient).balance_cents == 250


# --- attendance -------------------------------------------------------------------------------


def test_an_attended_session_pays_the_protocols_attendance_reward(patient, counselor):
    protocol = voucher_protocol("higgins-with-sessions", attendance_cents=500)
    enrollment = EnrollmentFactory(patient=patient, protocol=protocol, start_date=MON)

    attended = recording.attendance_record(
        patient=patient,
        occurred_at=at(patient.clinic, MON, 14),
        session_kind="cbt",
        recorded_by=counselor,
    )
    missed = recording.attendance_record(
        patient=patient,
        occurred_at=at(patient.clinic, WED, 14),
        session_kind="group",
        status="missed",
        recorded_by=counselor,
    )

    assert attended.award.attendance_cents == 500
    assert missed.award.attendance_cents == 0
    assert missed.settlement.posted == []
    entry = LedgerEntry.objects.get(attendance=attended.attendance)
    assert (entry.kind, entry.amount_cents) == (LedgerEntry.Kind.ATTENDANCE, 500)
    assert wallet_matching_ledger(patient).balance_cents == 500
    assert enrollment_settle(enrollment=enrollment).posted == []

    # A session is attended without touching the specimen streak.
    negative = record(patient, WED, by=counselor)
    assert negative.award.voucher_cents == 250
    assert wallet_matching_ledger(patient).balance_cents == 750


def test_correcting_an_attended_session_to_missed_takes_the_reward_back(patient, counselor):
    protocol = voucher_protocol("higgins-with-sessions", attendance_cents=500)
    EnrollmentFactory(patient=patient, protocol=protocol, start_date=MON)
    attended = recording.attendance_record(
        patient=patient,
        occurred_at=at(patient.clinic, MON, 14),
        session_kind="individual",
        recorded_by=counselor,
    )

    corrected = recording.attendance_correct(
        attendance=attended.attendance,
        changed_by=counselor,
        reason="signed in but left before the session",
        status="missed",
    )

    assert corrected.award.attendance_cents == 0
    [reversal] = corrected.settlement.posted
    assert (reversal.kind, reversal.amount_cents) == (LedgerEntry.Kind.REVERSAL, -500)
    fix = Correction.objects.get(attendance=attended.attendance)
    assert (fix.before["status"], fix.after["status"]) == ("attended", "missed")
    assert wallet_matching_ledger(patient).balance_cents == 0


# --- caps -------------------------------------------------------------------------------------


def test_the_enrollment_cap_clips_the_award_and_reports_the_clip(patient, counselor):
    protocol = voucher_protocol("capped-20", enrollment_cap_cents=2000)
    EnrollmentFactory(patient=patient, protocol=protocol, start_date=MON)
    record(patient, MON, by=counselor)  # 2.50
    record(patient, WED, by=counselor)  # 3.75

    third = record(patient, FRI, by=counselor)  # 5.00 + 10.00 wanted, 13.75 left under the cap

    assert (third.award.voucher_cents, third.award.bonus_cents) == (500, 875)
    assert third.award.clipped_cents == 125
    assert wallet_matching_ledger(patient).balance_cents == 2000

    fourth = record(patient, NEXT_MON, by=counselor)

    assert fourth.award.total_cents == 0
    assert fourth.award.clipped_cents == 625
    assert fourth.settlement.posted == []
    assert wallet_matching_ledger(patient).balance_cents == 2000


def test_the_year_cap_clips_the_award_and_reports_the_clip(patient, counselor):
    protocol = voucher_protocol(
        "year-capped", start=500, increment=0, bonus_every=0, bonus=0, year_cap_cents=1200
    )
    EnrollmentFactory(patient=patient, protocol=protocol, start_date=MON)
    record(patient, MON, by=counselor)
    record(patient, WED, by=counselor)

    third = record(patient, FRI, by=counselor)

    assert (third.award.voucher_cents, third.award.clipped_cents) == (200, 300)
    assert wallet_matching_ledger(patient).balance_cents == 1200


def test_the_year_cap_holds_across_two_enrollments_of_the_same_patient(patient, counselor):
    protocol = voucher_protocol(
        "two-caps",
        start=500,
        increment=0,
        bonus_every=0,
        bonus=0,
        enrollment_cap_cents=800,
        year_cap_cents=1200,
    )
    first = EnrollmentFactory(patient=patient, protocol=protocol, start_date=MON)
    record(patient, MON, by=counselor)
    capped = record(patient, WED, by=counselor)
    assert (capped.award.voucher_cents, capped.award.clipped_cents) == (300, 200)
    first.status = Enrollment.Status.COMPLETED
    first.end_date = FRI
    first.save()

    second = enrollment_start(patient=patient, protocol=protocol, start_date=date(2026, 2, 2))
    one = record(patient, date(2026, 2, 2), by=counselor)
    two = record(patient, date(2026, 2, 4), by=counselor)

    # 8.00 earned in the first enrollment leaves 4.00 of the 12.00 year cap.
    assert (one.award.voucher_cents, one.award.clipped_cents) == (400, 100)
    assert (two.award.voucher_cents, two.award.clipped_cents) == (0, 500)
    assert wallet_matching_ledger(patient).balance_cents == 1200
    # Neither enrollment re-prices when settled again.
    assert enrollment_settle(enrollment=first).posted == []
    assert enrollment_settle(enrollment=second).posted == []


def test_the_year_cap_counts_what_an_earlier_enrollment_is_worth_after_its_corrections(
    patient, counselor
):
    protocol = voucher_protocol(
        "two-caps",
        start=500,
        increment=0,
        bonus_every=0,
        bonus=0,
        enrollment_cap_cents=800,
        year_cap_cents=1200,
    )
    first = EnrollmentFactory(patient=patient, protocol=protocol, start_date=MON)
    monday = record(patient, MON, by=counselor)  # 5.00
    record(patient, WED, by=counselor)  # 3.00, clipped by the enrollment cap
    spend(patient, 800, counselor)
    first.status = Enrollment.Status.COMPLETED
    first.save()
    # Monday turns out positive after the enrollment ended: it is now worth 5.00 in all, and
    # 3.00 of what was spent is owed.
    recording.specimen_correct(
        specimen=monday.specimen,
        changed_by=counselor,
        reason="confirmation test came back positive",
        results={"cocaine": "positive"},
    )
    assert wallet_matching_ledger(patient).overpayment_cents == 300

    enrollment_start(patient=patient, protocol=protocol, start_date=date(2026, 2, 2))
    one = record(patient, date(2026, 2, 2), by=counselor)
    two = record(patient, date(2026, 2, 4), by=counselor)

    # 12.00 - 5.00 leaves 7.00 this year; the 3.00 owed is recovered from it first.
    assert (one.award.voucher_cents, two.award.voucher_cents) == (500, 200)
    assert two.award.clipped_cents == 300
    wallet = wallet_matching_ledger(patient)
    assert (wallet.balance_cents, wallet.overpayment_cents) == (400, 0)


def test_the_year_cap_starts_again_on_january_first_in_the_clinics_time_zone(patient, counselor):
    protocol = voucher_protocol(
        "year-capped", start=500, increment=0, bonus_every=0, bonus=0, year_cap_cents=1000
    )
    EnrollmentFactory(patient=patient, protocol=protocol, start_date=date(2025, 12, 22))
    record(patient, date(2025, 12, 26), by=counselor)
    record(patient, date(2025, 12, 29), by=counselor)
    # 23:30 in Chicago on New Year's Eve is already 2026 in UTC; it is 2025 at the clinic.
    new_years_eve = recording.specimen_record(
        patient=patient,
        collected_at=datetime.combine(date(2025, 12, 31), time(23, 30), tzinfo=patient.clinic.tz),
        results={"cocaine": "negative"},
        recorded_by=counselor,
    )
    january = record(patient, date(2026, 1, 2), by=counselor)

    assert (new_years_eve.award.voucher_cents, new_years_eve.award.clipped_cents) == (0, 500)
    assert (january.award.voucher_cents, january.award.clipped_cents) == (500, 0)
    assert january.settlement.posted[0].event_year == 2026
    assert wallet_matching_ledger(patient).balance_cents == 1500


# --- the ledger is append-only ----------------------------------------------------------------


@pytest.fixture
def entry(enrollment, counselor):
    record(enrollment.patient, MON, by=counselor)
    return LedgerEntry.objects.get()


def test_a_ledger_entry_cannot_be_changed_or_deleted_through_the_model(entry):
    entry.amount_cents = 100_000
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    with pytest.raises(ValueError, match="append-only"):
        entry.delete()

    entry.refresh_from_db()
    assert entry.amount_cents == 250
    assert LedgerEntry.objects.count() == 1


def test_the_database_refuses_to_update_a_ledger_entry(entry):
    with pytest.raises(ValueError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).update(amount_cents=100_000)
    # Behind the ORM, the database's own trigger refuses raw SQL too.
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE vouchers_ledgerentry SET amount_cents = 100000 WHERE id = %s", [entry.pk]
            )

    entry.refresh_from_db()
    assert entry.amount_cents == 250


@pytest.mark.postgres
def test_postgresql_refuses_a_raw_delete_of_a_ledger_entry(entry):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM vouchers_ledgerentry WHERE id = %s", [entry.pk])

    assert LedgerEntry.objects.filter(pk=entry.pk).exists()


def test_deleting_ledger_entries_through_a_queryset_is_refused(entry):
    with pytest.raises((DatabaseError, ValueError), match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).delete()

    assert LedgerEntry.objects.filter(pk=entry.pk).exists()
