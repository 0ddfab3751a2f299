"""Bad input gets a field error a counselor can act on, and nothing already recorded moves.

Each test starts from a patient who has been paid once (so the wallet exists and holds 2.50), tries
one bad recording, and checks the error names the field, says what is wrong, and that no
specimen, result, session, correction, enrollment or ledger entry was written.
"""

from contextlib import contextmanager
from datetime import date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from patients.enrollment import enrollment_start
from patients.models import (
    Attendance,
    Correction,
    Enrollment,
    Specimen,
    SpecimenResult,
)
from tests.conftest import at
from tests.factories import EnrollmentFactory, PatientFactory
from vouchers import adjustments, recording
from vouchers.models import LedgerEntry, Wallet

MON = date(2026, 1, 5)
WED = MON + timedelta(days=2)


def _everything(patient) -> dict:
    wallet = Wallet.objects.filter(patient=patient).values_list(
        "balance_cents", "overpayment_cents"
    )
    return {
        "specimens": list(Specimen.objects.values_list("id", "outcome", "collected_at")),
        "results": list(SpecimenResult.objects.values_list("specimen_id", "substance", "result")),
        "attendance": Attendance.objects.count(),
        "corrections": Correction.objects.count(),
        "enrollments": list(Enrollment.objects.values_list("id", "status")),
        "ledger": LedgerEntry.objects.count(),
        "wallet": list(wallet),
    }


@contextmanager
def refused(patient, field: str, says: str):
    """Expect a ValidationError naming `field` with a message containing `says`, and no writes."""
    before = _everything(patient)
    with pytest.raises(ValidationError) as caught:
        yield
    errors = caught.value.message_dict
    assert field in errors, errors
    assert any(says in message for message in errors[field]), errors
    assert _everything(patient) == before


@pytest.fixture
def paid(enrollment, counselor):
    """The enrolled patient after one negative: 2.50 in the wallet."""
    recording.specimen_record(
        patient=enrollment.patient,
        collected_at=at(enrollment.patient.clinic, MON),
        results={"cocaine": "negative"},
        recorded_by=counselor,
        idempotency_key="lab-monday",
    )
    assert Wallet.objects.get(patient=enrollment.patient).balance_cents == 250
    return enrollment.patient


def record(patient, **overrides):
    fields = {
        "patient": patient,
        "collected_at": at(patient.clinic, WED),
        "results": {"cocaine": "negative"},
    }
    return recording.specimen_record(**(fields | overrides))


# --- specimens --------------------------------------------------------------------------------


def test_an_unknown_substance_is_refused_by_name(paid):
    with refused(paid, "results", "Unknown substance: heroin."):
        record(paid, results={"cocaine": "negative", "heroin": "negative"})


def test_a_result_that_is_neither_negative_nor_positive_is_refused(paid):
    with refused(paid, "results", "cocaine: the result must be negative or positive"):
        record(paid, results={"cocaine": "inconclusive"})


def test_results_that_are_not_one_per_substance_are_refused(paid):
    with refused(paid, "results", "one result per substance"):
        record(paid, results=["cocaine", "negative"])


def test_a_result_in_the_future_is_refused(paid):
    with refused(paid, "collected_at", "in the future"):
        record(paid, collected_at=timezone.now() + timedelta(hours=2))


def test_a_collection_time_without_a_time_zone_is_refused(paid):
    with refused(paid, "collected_at", "time zone"):
        record(paid, collected_at=datetime(2026, 1, 7, 10, 0))


def test_a_patient_who_is_not_enrolled_is_refused(paid):
    stranger = PatientFactory(clinic=paid.clinic)

    with refused(stranger, "patient", "not enrolled"):
        record(stranger)


def test_a_result_dated_before_the_enrollment_start_is_refused(paid):
    with refused(paid, "collected_at", "before this patient's enrollment started on Jan. 5, 2026"):
        record(paid, collected_at=at(paid.clinic, MON - timedelta(days=1)))


def test_a_result_dated_after_the_enrollment_ended_is_refused(paid):
    Enrollment.objects.filter(patient=paid).update(end_date=MON + timedelta(days=1))

    with refused(paid, "collected_at", "after this patient's enrollment ended on Jan. 6, 2026"):
        record(paid)


def test_a_tested_specimen_missing_a_target_substance_is_refused(paid):
    with refused(paid, "results", "no result for cocaine"):
        record(paid, results={"methadone": "positive", "opiates": "negative"})


def test_a_tested_specimen_with_no_results_is_refused(paid):
    with refused(paid, "results", "needs its results"):
        record(paid, results={})


@pytest.mark.parametrize("notes", ["", "   "], ids=["empty", "blank"])
def test_an_excused_specimen_without_a_reason_is_refused(paid, notes):
    with refused(paid, "notes", "needs a reason"):
        record(paid, status=Specimen.Status.EXCUSED, results={}, notes=notes)


def test_an_unknown_specimen_kind_is_refused(paid):
    with refused(paid, "kind", "Unknown kind: blood."):
        record(paid, kind="blood")


def test_an_unknown_specimen_status_is_refused(paid):
    with refused(paid, "status", "Unknown status: lost."):
        record(paid, status="lost")


def test_an_idempotency_key_reused_for_another_patient_is_refused(paid):
    other = PatientFactory(clinic=paid.clinic)
    EnrollmentFactory(patient=other, start_date=MON)

    with refused(other, "idempotency_key", "another patient"):
        record(other, idempotency_key="lab-monday")

    assert not Wallet.objects.filter(patient=other).exists()


# --- corrections ------------------------------------------------------------------------------


@pytest.fixture
def monday(paid):
    return Specimen.objects.get(idempotency_key="lab-monday")


def test_a_correction_to_before_the_enrollment_start_is_refused(paid, monday, counselor):
    with refused(paid, "collected_at", "before this patient's enrollment started"):
        recording.specimen_correct(
            specimen=monday,
            changed_by=counselor,
            reason="typo in the date",
            collected_at=at(paid.clinic, MON - timedelta(days=3)),
        )


def test_a_correction_naming_an_unknown_substance_is_refused(paid, monday, counselor):
    with refused(paid, "results", "Unknown substance: heroin."):
        recording.specimen_correct(
            specimen=monday,
            changed_by=counselor,
            reason="lab amended the report",
            results={"cocaine": "positive", "heroin": "positive"},
        )


def test_a_correction_to_excused_with_blank_notes_is_refused(paid, monday, counselor):
    # Notes left out take the correction's reason (as recording an excused test does); notes
    # given blank say the excuse has no reason.
    with refused(paid, "notes", "needs a reason"):
        recording.specimen_correct(
            specimen=monday,
            changed_by=counselor,
            reason="should have been excused",
            status=Specimen.Status.EXCUSED,
            results={},
            notes="  ",
        )


def test_a_2_mb_specimen_note_is_refused(paid):
    with refused(paid, "notes", "at most 1000 characters (it has 2000000)"):
        record(paid, notes="x" * 2_000_000)


def test_a_correction_reason_over_500_characters_is_refused(paid, monday, counselor):
    with refused(paid, "reason", "at most 500 characters (it has 501)"):
        recording.specimen_correct(
            specimen=monday, changed_by=counselor, reason="x" * 501, status="refused"
        )


# --- attendance -------------------------------------------------------------------------------


def attend(patient, **overrides):
    fields = {
        "patient": patient,
        "occurred_at": at(patient.clinic, WED, 14),
        "session_kind": Attendance.SessionKind.GROUP,
    }
    return recording.attendance_record(**(fields | overrides))


def test_an_unknown_attendance_session_kind_is_refused(paid):
    with refused(paid, "session_kind", "Unknown session kind: yoga."):
        attend(paid, session_kind="yoga")


def test_an_unknown_attendance_status_is_refused(paid):
    with refused(paid, "status", "Unknown status: late."):
        attend(paid, status="late")


def test_a_session_in_the_future_is_refused(paid):
    with refused(paid, "occurred_at", "in the future"):
        attend(paid, occurred_at=timezone.now() + timedelta(days=1))


def test_a_session_before_the_enrollment_start_is_refused_under_its_own_field(paid):
    with refused(paid, "occurred_at", "before this patient's enrollment started"):
        attend(paid, occurred_at=at(paid.clinic, MON - timedelta(days=1), 14))


def test_an_attendance_idempotency_key_reused_for_another_patient_is_refused(paid):
    attend(paid, idempotency_key="session-0001")
    other = PatientFactory(clinic=paid.clinic)
    EnrollmentFactory(patient=other, start_date=MON)

    with refused(other, "idempotency_key", "another patient"):
        attend(other, idempotency_key="session-0001")


def test_session_notes_over_1000_characters_are_refused(paid):
    with refused(paid, "notes", "at most 1000 characters (it has 1001)"):
        attend(paid, notes="x" * 1001)


# --- enrollments and staff adjustments --------------------------------------------------------


@pytest.mark.parametrize("status", [Enrollment.Status.ACTIVE, Enrollment.Status.PAUSED])
def test_enrolling_a_patient_who_already_has_an_open_enrollment_is_refused(paid, higgins, status):
    Enrollment.objects.filter(patient=paid).update(status=status)

    with refused(paid, "patient", "already has an open enrollment"):
        enrollment_start(patient=paid, protocol=higgins, start_date=date(2026, 3, 2))


def test_a_patient_whose_enrollment_ended_can_be_enrolled_again(paid, higgins):
    Enrollment.objects.filter(patient=paid).update(status=Enrollment.Status.COMPLETED)

    again = enrollment_start(patient=paid, protocol=higgins, start_date=date(2026, 3, 2))

    assert again.status == Enrollment.Status.ACTIVE
    assert paid.enrollments.count() == 2


@pytest.mark.parametrize("reason", ["", "  "], ids=["empty", "blank"])
def test_a_staff_adjustment_without_a_reason_is_refused(paid, counselor, reason):
    with refused(paid, "reason", "needs a reason"):
        adjustments.ledger_adjust(patient=paid, amount_cents=100, reason=reason, actor=counselor)


@pytest.mark.parametrize("amount", [0, 1.5, "100"], ids=["zero", "fraction", "text"])
def test_a_staff_adjustment_that_is_not_a_whole_number_of_cents_is_refused(paid, counselor, amount):
    with refused(paid, "amount_cents", "whole, non-zero number of cents"):
        adjustments.ledger_adjust(patient=paid, amount_cents=amount, reason="gift", actor=counselor)


def test_a_staff_adjustment_key_reused_for_another_patient_is_refused(paid, counselor):
    adjustments.ledger_adjust(
        patient=paid, amount_cents=500, reason="gift card", actor=counselor, idempotency_key="adj-1"
    )
    other = PatientFactory(clinic=paid.clinic)

    with refused(other, "idempotency_key", "another patient"):
        adjustments.ledger_adjust(
            patient=other,
            amount_cents=500,
            reason="gift card",
            actor=counselor,
            idempotency_key="adj-1",
        )


def test_a_staff_debit_beyond_the_balance_is_refused(paid, counselor):
    with refused(paid, "amount_cents", "cannot go below zero"):
        adjustments.ledger_adjust(patient=paid, amount_cents=-251, reason="gift", actor=counselor)


@pytest.mark.parametrize("write", ["adjust", "waive"])
def test_an_adjustment_or_waiver_reason_over_500_characters_is_refused(paid, counselor, write):
    with refused(paid, "reason", "at most 500 characters (it has 501)"):
        if write == "adjust":
            adjustments.ledger_adjust(
                patient=paid, amount_cents=100, reason="x" * 501, actor=counselor
            )
        else:
            adjustments.overpayment_waive(patient=paid, reason="x" * 501, actor=counselor)
