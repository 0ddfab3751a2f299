"""Missed tests: after the clinic closes, a scheduled test with no result is marked missed, the
streak resets, and the staff get a digest; staff may excuse it, which restores the streak.

Riverside (America/Chicago) closes at 17:00. Higgins from Monday 2026-01-05: tests on Mondays,
Wednesdays and Fridays; $2.50, then +$1.25 a consecutive negative, a $10 bonus every third.
"""

import threading
from datetime import date, datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from messaging.models import Notification
from patients.enrollment import enrollment_schedule_set, enrollment_set_status, enrollment_start
from patients.models import Enrollment, Specimen
from tests.conftest import at
from tests.factories import EnrollmentFactory, MembershipFactory, UserFactory
from vouchers import recording
from vouchers.missed import missed_test_excuse, missed_tests_mark
from vouchers.models import LedgerEntry
from vouchers.selectors import reward_summary
from vouchers.settlement import enrollment_settle

MON, WED, FRI = date(2026, 1, 12), date(2026, 1, 14), date(2026, 1, 16)
NEXT_MON = date(2026, 1, 19)


def closing(clinic, day):
    return datetime.combine(day, time(17), tzinfo=clinic.tz)


def negative(patient, day):
    return recording.specimen_record(
        patient=patient, collected_at=at(patient.clinic, day), results={"cocaine": "negative"}
    )


def missed(patient=None):
    specimens = Specimen.objects.filter(status="missed").order_by("collected_at")
    if patient is not None:
        specimens = specimens.filter(enrollment__patient=patient)
    return list(specimens)


@pytest.fixture
def tested(patient, enrollment):
    """Every test of week 1 and Monday and Wednesday of week 2 negative: a streak of five."""
    for day in (date(2026, 1, 5), date(2026, 1, 7), date(2026, 1, 9), MON, WED):
        negative(patient, day)
    return enrollment


# --- marking ------------------------------------------------------------------------------------


def test_a_test_day_with_no_result_is_marked_missed_after_closing_and_not_before(
    clinic, patient, tested
):
    assert missed_tests_mark(now=closing(clinic, FRI) - timedelta(minutes=1)) == 0
    assert missed(patient) == []

    assert missed_tests_mark(now=closing(clinic, FRI)) == 1

    (specimen,) = missed(patient)
    assert (specimen.status, specimen.outcome) == ("missed", "M")
    assert specimen.collected_at == closing(clinic, FRI)
    assert (specimen.missed_day, specimen.idempotency_key) == (FRI, None)
    assert specimen.recorded_by is None


def test_the_streak_resets_so_the_next_negative_earns_the_start_value_again(
    clinic, patient, tested
):
    # After five negatives the sixth earns $8.75 and the $10.00 bonus of every third.
    assert reward_summary(patient=patient, today=FRI).next_cents == 1875

    missed_tests_mark(now=closing(clinic, FRI))

    summary = reward_summary(patient=patient, today=NEXT_MON)
    assert (summary.streak, summary.next_cents) == (0, 250)
    assert negative(patient, NEXT_MON).award.voucher_cents == 250


def test_a_rerun_and_a_later_run_mark_nothing_twice(clinic, patient, tested):
    missed_tests_mark(now=closing(clinic, FRI))
    entries = LedgerEntry.objects.count()

    assert missed_tests_mark(now=closing(clinic, FRI)) == 0
    assert missed_tests_mark(now=closing(clinic, FRI) + timedelta(hours=3)) == 0
    assert missed_tests_mark(now=closing(clinic, FRI + timedelta(days=1))) == 0  # Saturday

    assert len(missed(patient)) == 1
    assert LedgerEntry.objects.count() == entries


def test_any_result_that_day_counts_even_a_positive(clinic, patient, tested):
    recording.specimen_record(
        patient=patient, collected_at=at(clinic, FRI), results={"cocaine": "positive"}
    )

    assert missed_tests_mark(now=closing(clinic, FRI)) == 0


def test_a_result_recorded_late_for_that_day_counts(clinic, patient, tested):
    # Collected at 16:30, typed in after closing but before the beat ran.
    recording.specimen_record(
        patient=patient,
        collected_at=closing(clinic, FRI) - timedelta(minutes=30),
        results={"cocaine": "negative"},
    )

    assert missed_tests_mark(now=closing(clinic, FRI) + timedelta(minutes=15)) == 0


def test_a_result_corrected_onto_a_marked_day_withdraws_the_mark(
    clinic, patient, tested, counselor
):
    missed_tests_mark(now=closing(clinic, FRI))
    # Friday's sample had been keyed in as Saturday; staff correct the day.
    keyed_late = negative(patient, FRI + timedelta(days=1)).specimen

    recording.specimen_correct(
        specimen=keyed_late,
        changed_by=counselor,
        reason="Typed the wrong day",
        collected_at=at(clinic, FRI),
    )

    (mark,) = Specimen.objects.filter(enrollment=tested, missed_day=FRI)
    assert mark.status == "excused"
    assert reward_summary(patient=patient, today=FRI + timedelta(days=1)).streak == 6


def test_the_days_of_a_pause_are_not_marked_once_resumed(clinic, patient, counselor, higgins):
    enrollment = enrollment_start(
        patient=patient, protocol=higgins, start_date=date(2026, 1, 5), today=date(2026, 1, 5)
    )
    for day in (date(2026, 1, 5), date(2026, 1, 7), date(2026, 1, 9)):
        negative(patient, day)
    enrollment_set_status(enrollment=enrollment, status="paused", actor=counselor)
    assert missed_tests_mark(now=closing(clinic, FRI)) == 0  # in hospital all week 2

    saturday = FRI + timedelta(days=1)
    enrollment_set_status(enrollment=enrollment, status="active", actor=counselor, today=saturday)

    assert missed_tests_mark(now=closing(clinic, saturday)) == 0
    assert missed_tests_mark(now=closing(clinic, NEXT_MON)) == 1  # from the next test day on
    assert [s.collected_at for s in missed(patient)] == [closing(clinic, NEXT_MON)]


def test_new_test_days_count_from_tomorrow(clinic, patient, tested, counselor):
    """Mon/Wed/Fri all tested; on Thursday the days become Tue/Thu: neither Thursday nor the
    Tuesday before was a test day when it began, so neither is marked."""
    thursday = WED + timedelta(days=1)
    enrollment_schedule_set(
        enrollment=tested,
        test_weekdays=[1, 3],
        session_weekdays=[],
        actor=counselor,
        today=thursday,
    )

    assert missed_tests_mark(now=closing(clinic, thursday)) == 0
    next_tuesday = NEXT_MON + timedelta(days=1)
    assert missed_tests_mark(now=closing(clinic, next_tuesday)) == 1


def test_an_enrollment_made_today_is_not_marked_missed_today(clinic, patient, higgins):
    enrollment_start(patient=patient, protocol=higgins, start_date=MON, today=MON)

    assert missed_tests_mark(now=closing(clinic, MON) + timedelta(minutes=45)) == 0
    assert missed_tests_mark(now=closing(clinic, WED)) == 1


def test_days_that_are_not_test_days_are_never_marked(clinic, patient, tested):
    assert missed_tests_mark(now=closing(clinic, date(2026, 1, 15))) == 0  # a Thursday


def test_a_day_missed_while_the_beat_was_down_is_marked_later_within_a_week(
    clinic, patient, tested
):
    # Nothing ran on Friday or over the weekend; on Monday afternoon (before closing) Friday
    # is still found. Monday itself waits for closing time.
    assert missed_tests_mark(now=at(clinic, NEXT_MON, 12)) == 1
    assert [s.collected_at for s in missed(patient)] == [closing(clinic, FRI)]


def test_nothing_older_than_a_week_is_marked(clinic, patient, enrollment):
    # No tests at all since 2026-01-05; two weeks later only the last seven days are marked.
    missed_tests_mark(now=closing(clinic, NEXT_MON) - timedelta(minutes=1))

    days = [clinic.local_date(s.collected_at) for s in missed(patient)]
    assert days == [date(2026, 1, 12), date(2026, 1, 14), date(2026, 1, 16)]


def test_the_enrollments_own_weekdays_decide(clinic, patient, tested):
    Enrollment.objects.filter(pk=tested.pk).update(test_weekdays=[0, 2])  # Monday, Wednesday

    assert missed_tests_mark(now=closing(clinic, FRI)) == 0


def test_paused_and_ended_enrollments_and_days_before_the_start_are_not_marked(
    clinic, patient, higgins, other_patient
):
    EnrollmentFactory(patient=patient, protocol=higgins, start_date=FRI, status="paused")
    EnrollmentFactory(patient=other_patient, protocol=higgins, start_date=FRI)

    missed_tests_mark(now=closing(clinic, FRI))

    assert missed(patient) == []
    assert [clinic.local_date(s.collected_at) for s in missed(other_patient)] == [FRI]


def test_an_enrollment_that_ended_is_marked_only_up_to_its_end(clinic, patient, tested):
    Enrollment.objects.filter(pk=tested.pk).update(end_date=date(2026, 1, 15))

    assert missed_tests_mark(now=closing(clinic, FRI)) == 0


# --- excusing -----------------------------------------------------------------------------------


def test_excusing_a_missed_test_re_settles_and_restores_the_streak(
    clinic, patient, tested, counselor
):
    missed_tests_mark(now=closing(clinic, FRI))
    after_miss = negative(patient, NEXT_MON)
    assert after_miss.award.voucher_cents == 250
    balance_after_miss = after_miss.settlement.wallet.balance_cents

    recorded = missed_test_excuse(
        specimen=missed(patient)[0],
        reason="In hospital; discharge papers on file.",
        actor=counselor,
    )

    assert missed(patient) == []
    excused = Specimen.objects.get(status="excused")
    assert (excused.outcome, excused.notes) == ("E", "In hospital; discharge papers on file.")
    assert excused.corrections.get().reason == "In hospital; discharge papers on file."
    # Monday's negative is now the sixth in a row: $8.75 and the $10 bonus, not $2.50.
    award = recorded.settlement.award_for(f"specimen:{after_miss.specimen.pk}")
    assert (award.voucher_cents, award.bonus_cents, award.streak) == (875, 1000, 6)
    assert recorded.settlement.wallet.balance_cents == balance_after_miss - 250 + 875 + 1000


def test_an_excuse_needs_a_reason(clinic, patient, tested, counselor):
    missed_tests_mark(now=closing(clinic, FRI))

    with pytest.raises(ValidationError) as error:
        missed_test_excuse(specimen=missed(patient)[0], reason="  ", actor=counselor)

    assert "reason" in error.value.message_dict
    assert len(missed(patient)) == 1


def test_only_a_missed_test_can_be_excused_this_way(clinic, patient, tested, counselor):
    specimen = Specimen.objects.filter(enrollment=tested).first()

    with pytest.raises(ValidationError):
        missed_test_excuse(specimen=specimen, reason="Because", actor=counselor)

    specimen.refresh_from_db()
    assert specimen.status == "tested"


def test_an_excused_day_is_not_marked_missed_again(clinic, patient, tested, counselor):
    missed_tests_mark(now=closing(clinic, FRI))
    missed_test_excuse(specimen=missed(patient)[0], reason="Court date", actor=counselor)

    assert missed_tests_mark(now=closing(clinic, FRI) + timedelta(hours=1)) == 0
    assert missed(patient) == []


# --- the counselors' digest ----------------------------------------------------------------------


@pytest.fixture
def staff(clinic, counselor, clinic_admin, other_counselor):
    counselor.email = "casey@riverside.example.org"
    counselor.save()
    clinic_admin.email = "ada@riverside.example.org"
    clinic_admin.save()
    other_counselor.email = "olive@hillside.example.org"
    other_counselor.save()
    MembershipFactory(user=UserFactory(username="noemail", email=""), clinic=clinic)
    return counselor, clinic_admin


def digests():
    return list(Notification.objects.filter(kind="missed_digest").order_by("to"))


def test_each_staff_member_with_an_email_gets_a_digest_of_who_missed(
    clinic, patient, tested, staff, other_patient, higgins
):
    otto = other_patient
    EnrollmentFactory(patient=otto, protocol=higgins, start_date=WED)
    negative(otto, WED)

    missed_tests_mark(now=closing(clinic, FRI))

    ada, casey = digests()
    assert [ada.to, casey.to] == ["ada@riverside.example.org", "casey@riverside.example.org"]
    assert casey.channel == "email"
    assert casey.patient is None and casey.user.username == "casey"
    assert casey.dedupe_key == f"missed_digest:{clinic.pk}:2026-01-16:{staff[0].pk}"
    assert casey.subject == "Missed tests on Jan. 16, 2026"
    assert (
        "2 patients missed a scheduled test at Riverside Recovery on Jan. 16, 2026:" in casey.body
    )
    assert f"{patient.full_name} ({patient.record_number})" in casey.body
    assert f"{otto.full_name} ({otto.record_number})" in casey.body


def test_no_digest_when_nobody_missed(clinic, patient, tested, staff):
    negative(patient, FRI)

    missed_tests_mark(now=closing(clinic, FRI))

    assert digests() == []


def test_a_rerun_sends_no_second_digest(clinic, patient, tested, staff):
    missed_tests_mark(now=closing(clinic, FRI))
    missed_tests_mark(now=closing(clinic, FRI) + timedelta(minutes=15))

    assert len(digests()) == 2


# --- two beats at once ---------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_runs_at_once_mark_each_day_once(clinic, patient, enrollment):
    barrier = threading.Barrier(2)
    counts, errors = [], []

    def run():
        try:
            barrier.wait(timeout=10)
            counts.append(missed_tests_mark(now=closing(clinic, FRI)))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sum(counts) == 4  # the last week's Friday, Monday, Wednesday and Friday, once each
    assert len(missed(patient)) == 4
    assert enrollment_settle(enrollment=enrollment).posted == []


def test_the_beat_task_marks_yesterdays_missed_test(clinic, patient, higgins):
    from django.utils import timezone

    from vouchers import tasks

    yesterday = clinic.local_date(timezone.now()) - timedelta(days=1)
    # Yesterday's weekday only, so today (closed or not yet) has no test to mark.
    EnrollmentFactory(
        patient=patient, protocol=higgins, start_date=yesterday, test_weekdays=[yesterday.weekday()]
    )

    assert tasks.missed_tests_mark.delay().get() == 1
    assert tasks.missed_tests_mark.delay().get() == 0
    assert [clinic.local_date(s.collected_at) for s in missed(patient)] == [yesterday]


def test_a_result_recorded_after_the_day_was_marked_missed_withdraws_the_mark(
    clinic, patient, tested, counselor
):
    missed_tests_mark(now=closing(clinic, FRI))
    (mark,) = missed(patient)

    # Friday's sample was collected at 10:00; its result is keyed in on Saturday.
    recorded = recording.specimen_record(
        patient=patient,
        collected_at=at(clinic, FRI),
        results={"cocaine": "negative"},
        recorded_by=counselor,
    )

    mark.refresh_from_db()
    assert (mark.status, mark.outcome) == ("excused", "E")
    assert "recorded after the day had been marked missed" in mark.corrections.get().reason
    # The sixth consecutive negative, as if the mark had never been there: $8.75 and the bonus.
    assert (recorded.award.voucher_cents, recorded.award.bonus_cents) == (875, 1000)
    summary = reward_summary(patient=patient, today=NEXT_MON)
    assert summary.streak == 6
