"""Idempotency keys are each clinic's own, and the missed-test mark is out of every client's reach.

Riverside (clinic A, America/Chicago) and Hillside (clinic B, America/New_York) both test on
Higgins from Monday 2026-01-05. A counselor at Hillside knows (from the README's example, or by
guessing) what Riverside's keys look like; nothing they send changes a Riverside record, and no
answer tells them whether a key was used at Riverside.
"""

import importlib
from datetime import date, datetime, time
from pathlib import Path

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError

import patients.migrations as patients_migrations
from patients.models import Correction, Specimen
from rewards import prizes, redemptions
from rewards.models import CatalogItem, PrizeDraw, Redemption
from tests.conftest import at
from tests.factories import EnrollmentFactory, PatientFactory, preset_protocol
from tests.rewards.test_prizes import Slips
from vouchers import recording
from vouchers.labs.importer import ALL_OR_NOTHING, lab_import_apply
from vouchers.labs.rows import lab_import_preview
from vouchers.missed import missed_tests_mark
from vouchers.selectors import reward_summary

pytestmark = pytest.mark.django_db

MON, WED, FRI = date(2026, 1, 12), date(2026, 1, 14), date(2026, 1, 16)


def closing(clinic, day):
    return datetime.combine(day, time(17), tzinfo=clinic.tz)


def negative(patient, day, **extra):
    return recording.specimen_record(
        patient=patient,
        collected_at=at(patient.clinic, day),
        results={"cocaine": "negative"},
        **extra,
    )


@pytest.fixture
def theirs(other_clinic, other_counselor, higgins):
    """Clinic B's patient, enrolled on Higgins too."""
    patient = PatientFactory(clinic=other_clinic, primary_counselor=other_counselor)
    EnrollmentFactory(patient=patient, protocol=higgins, start_date=date(2026, 1, 5))
    return patient


@pytest.fixture
def streak(patient, enrollment):
    """Clinic A's patient: every test negative up to Wednesday of week 2, a streak of five."""
    for day in (date(2026, 1, 5), date(2026, 1, 7), date(2026, 1, 9), MON, WED):
        negative(patient, day)
    return enrollment


def test_a_key_shaped_like_a_missed_mark_does_not_stop_the_beat_marking_that_day(
    clinic, patient, streak, theirs, other_counselor
):
    negative(theirs, FRI, recorded_by=other_counselor, idempotency_key=f"missed:{streak.pk}:{FRI}")

    missed_tests_mark(now=closing(clinic, FRI))

    (mark,) = Specimen.objects.filter(enrollment=streak, status="missed")
    assert mark.missed_day == FRI
    assert reward_summary(patient=patient, today=FRI).streak == 0


def test_a_planted_mark_is_not_excused_by_a_result_at_the_other_clinic(
    clinic, patient, streak, theirs, other_counselor, counselor
):
    planted = recording.specimen_record(
        patient=theirs,
        collected_at=at(theirs.clinic, FRI),
        status="missed",
        recorded_by=other_counselor,
        idempotency_key=f"missed:{streak.pk}:{FRI}",
    ).specimen

    negative(patient, FRI, recorded_by=counselor)

    planted.refresh_from_db()
    assert planted.status == "missed"
    assert not Correction.objects.filter(specimen=planted).exists()


def test_a_key_used_at_another_clinic_records_a_new_specimen(patient, enrollment, theirs):
    ours = negative(patient, MON, idempotency_key="desk-1").specimen

    recorded = negative(theirs, MON, idempotency_key="desk-1")

    assert not recorded.replayed
    assert recorded.specimen.pk != ours.pk
    assert recorded.specimen.enrollment.patient == theirs
    assert Specimen.objects.filter(idempotency_key="desk-1").count() == 2


def test_a_key_used_for_another_patient_of_the_same_clinic_is_still_refused(
    clinic, patient, enrollment, higgins
):
    negative(patient, MON, idempotency_key="desk-1")
    neighbour = PatientFactory(clinic=clinic)
    EnrollmentFactory(patient=neighbour, protocol=higgins, start_date=date(2026, 1, 5))

    with pytest.raises(ValidationError) as refused:
        negative(neighbour, MON, idempotency_key="desk-1")

    assert "idempotency_key" in refused.value.message_dict


def test_a_key_used_at_another_clinic_records_new_attendance(patient, enrollment, theirs):
    first = recording.attendance_record(
        patient=patient,
        occurred_at=at(patient.clinic, MON),
        session_kind="cbt",
        idempotency_key="s-1",
    )

    second = recording.attendance_record(
        patient=theirs,
        occurred_at=at(theirs.clinic, MON),
        session_kind="cbt",
        idempotency_key="s-1",
    )

    assert not second.replayed
    assert second.attendance.pk != first.attendance.pk


def test_a_key_used_at_another_clinic_makes_a_new_redemption(
    clinic, other_clinic, patient, enrollment, theirs, counselor, other_counselor
):
    negative(patient, MON)
    negative(theirs, MON)
    ours = CatalogItem.objects.create(clinic=clinic, name="Bus pass", price_cents=100)
    their_item = CatalogItem.objects.create(clinic=other_clinic, name="Bus pass", price_cents=100)
    first = redemptions.redemption_request(
        patient=patient, items=[(ours, 1)], requested_by=counselor, idempotency_key="kiosk-1"
    )

    second = redemptions.redemption_request_or_replay(
        patient=theirs,
        items=[(their_item, 1)],
        requested_by=other_counselor,
        idempotency_key="kiosk-1",
    )

    assert not second.replayed
    assert second.redemption.pk != first.pk
    assert Redemption.objects.filter(idempotency_key="kiosk-1").count() == 2


def test_a_key_used_at_another_clinic_makes_new_prize_draws(
    patient, theirs, counselor, other_counselor
):
    va = preset_protocol("va-prize")
    monday = date(2026, 1, 5)
    EnrollmentFactory(patient=patient, protocol=va, start_date=monday)
    theirs.enrollments.update(protocol_id=va.pk)
    panel = dict.fromkeys(["cocaine", "amphetamine", "methamphetamine"], "negative")
    for someone in (patient, theirs):
        recording.specimen_record(
            patient=someone, collected_at=at(someone.clinic, monday), results=panel
        )
    ours = prizes.draws_run(patient=patient, count=1, drawn_by=counselor, idempotency_key="k1")

    drawn = prizes.draws_run(
        patient=theirs, count=1, drawn_by=other_counselor, rng=Slips(0), idempotency_key="k1"
    )

    assert [d.patient_id for d in drawn] == [theirs.pk]
    assert drawn[0].pk != ours[0].pk
    assert PrizeDraw.objects.filter(idempotency_key="k1:1").count() == 2


def test_a_lab_file_with_a_key_used_at_another_clinic_imports(
    patient, enrollment, theirs, other_counselor
):
    negative(patient, MON, idempotency_key="lab-42")
    theirs.record_number = "H7"
    theirs.save()
    text = (
        "record_number,collected_at,cocaine,idempotency_key\nH7,2026-01-12 09:00,negative,lab-42\n"
    )

    report = lab_import_preview(clinic=theirs.clinic, text=text)
    assert report.rows[0].messages == []
    lab_import_apply(clinic=theirs.clinic, text=text, actor=other_counselor, mode=ALL_OR_NOTHING)

    assert Specimen.objects.filter(enrollment__patient=theirs, idempotency_key="lab-42").exists()


def test_existing_marks_move_to_their_day_and_keys_to_their_clinic(clinic, patient, streak):
    # Found by name, not number, so renumbering the migration does not break the test.
    (path,) = Path(patients_migrations.__file__).parent.glob("*_idempotency_keys_per_clinic_*.py")
    module = importlib.import_module(f"patients.migrations.{path.stem}")
    mark = Specimen.objects.create(
        enrollment=streak,
        collected_at=closing(clinic, FRI),
        status="missed",
        outcome="M",
        idempotency_key=f"missed:{streak.pk}:{FRI}",
        key_clinic=clinic,
    )
    keyed = Specimen.objects.filter(idempotency_key__isnull=False).exclude(pk=mark.pk)
    keyed.update(key_clinic=None, idempotency_key=None)
    client = negative(patient, date(2026, 1, 19)).specimen
    Specimen.objects.filter(pk=client.pk).update(idempotency_key="desk-9", key_clinic=clinic)

    module.keys_to_their_clinic_and_marks_to_their_day(apps, None)

    mark.refresh_from_db()
    client.refresh_from_db()
    assert (mark.missed_day, mark.idempotency_key, mark.key_clinic_id) == (FRI, None, None)
    assert (client.idempotency_key, client.key_clinic_id) == ("desk-9", clinic.pk)
