"""The reports' reads: histories written by the services a clinic uses (recording, the
missed-test round, excusing), read back as the measures' inputs in a fixed number of queries.

Riverside (America/Chicago, UTC-6 in January) closes at 17:00 and tests Mondays, Wednesdays and
Fridays. Higgins 1994 from Monday 2026-01-05: 12 weeks; $2.50 for a first negative, and a
positive or a miss resets to $2.50. The clock is pinned for every write (time_machine), so each
specimen's recorded_at and each ledger entry's created_at is the instant the test names.
"""

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.models import Specimen
from tests.conftest import at
from tests.factories import (
    ClinicFactory,
    EnrollmentFactory,
    PatientFactory,
    UserFactory,
    preset_protocol,
)
from vouchers import recording
from vouchers.engine import EXCUSED, MISSED, NEGATIVE, POSITIVE
from vouchers.missed import missed_test_excuse, missed_tests_mark
from vouchers.models import Protocol, ProtocolPhase
from vouchers.reports import measures
from vouchers.reports.measures import Ratio, Session, Summary
from vouchers.reports.selectors import clinic_enrollments, clinic_measures, report_enrollments

MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)
MON, TUE, WED, FRI = date(2026, 1, 5), date(2026, 1, 6), date(2026, 1, 7), date(2026, 1, 9)
MON2, TUE2, WED2, THU2, FRI2 = (date(2026, 1, 12 + i) for i in range(5))


def local(clinic, day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=clinic.tz)


def result(patient, collected_at, recorded_at, outcome="negative"):
    with time_machine.travel(recorded_at, tick=False):
        return recording.specimen_record(
            patient=patient, collected_at=collected_at, results={"cocaine": outcome}
        )


def session(patient, occurred_at, status="attended"):
    with time_machine.travel(occurred_at + MINUTE, tick=False):
        return recording.attendance_record(
            patient=patient, occurred_at=occurred_at, session_kind="cbt", status=status
        )


def round_at_closing(clinic, day):
    closing = local(clinic, day, 17)
    with time_machine.travel(closing, tick=False):
        missed_tests_mark(now=closing)


@pytest.fixture
def history(clinic, patient, enrollment, counselor):
    """Six scheduled tests, N N P M(auto) E(auto, then excused) N, and sessions attended, absent,
    attended:
    - Mon 10:00 negative, recorded 10:05: the $2.50 posted 5 minutes after collection;
    - Wed 10:00 negative, recorded Thursday 11:00 (25 hours: late), its reward posted then;
    - Fri 10:00 positive, recorded 10:10: nothing earned;
    - Mon 2 no one came: the round marks it missed at closing;
    - Wed 2 the same, and staff excuse it on Thursday;
    - Fri 2 10:00 negative, recorded 10:30: $2.50 (the streak was reset) 30 minutes later;
    - sessions Tue attended, Wed 2 absent, Thu 2 attended.
    """
    result(patient, at(clinic, MON), local(clinic, MON, 10, 5))
    result(patient, at(clinic, WED), local(clinic, WED + timedelta(days=1), 11))
    result(patient, at(clinic, FRI), local(clinic, FRI, 10, 10), outcome="positive")
    round_at_closing(clinic, MON2)
    round_at_closing(clinic, WED2)
    mark = Specimen.objects.get(enrollment=enrollment, missed_day=WED2)
    with time_machine.travel(local(clinic, THU2, 9), tick=False):
        missed_test_excuse(specimen=mark, reason="In hospital", actor=counselor)
    session(patient, local(clinic, TUE, 14))
    session(patient, local(clinic, WED2, 14), status="missed")
    session(patient, local(clinic, THU2, 14))
    result(patient, at(clinic, FRI2), local(clinic, FRI2, 10, 30))
    return enrollment


def read(clinic, **kwargs):
    return report_enrollments(enrollments=clinic_enrollments(clinic=clinic), **kwargs)


def test_a_history_reads_as_the_services_wrote_it(clinic, history):
    (record,) = read(clinic)

    assert (record.start, record.weeks) == (MON, 12)
    assert [(t.day, t.outcome, t.auto_missed) for t in record.tests] == [
        (MON, NEGATIVE, False),
        (WED, NEGATIVE, False),
        (FRI, POSITIVE, False),
        (MON2, MISSED, True),
        (WED2, EXCUSED, True),  # excused by staff, still marked by the round first
        (FRI2, NEGATIVE, False),
    ]
    first, second, third, *_, last = record.tests
    assert (first.collected_at, first.recorded_at) == (at(clinic, MON), local(clinic, MON, 10, 5))
    assert second.recorded_at - second.collected_at == 25 * HOUR
    assert (first.reward_posted_at, first.reward_posted_day) == (local(clinic, MON, 10, 5), MON)
    assert second.reward_posted_day == WED + timedelta(days=1)
    assert third.reward_posted_at is None  # a positive earns nothing
    assert last.reward_posted_at == local(clinic, FRI2, 10, 30)
    assert record.sessions == (
        Session(TUE, "attended"),
        Session(WED2, "missed"),
        Session(THU2, "attended"),
    )


def test_the_clinic_measures_of_the_history(clinic, history):
    got = clinic_measures(clinic=clinic, first=MON, last=date(2026, 3, 29))

    assert got.enrollments == 1
    # Counted (excused left out): N N P M N. Negatives 3 of 5; of the 4 submitted (N N P N), 3.
    assert got.negative_samples == Ratio(3, 5)
    assert got.negative_submitted == Ratio(3, 4)
    # The longest run is N N, both in week 1; the excused test does not join N (Fri 2) to it.
    assert got.abstinence_tests == Summary(mean=Ratio(2, 1), median=2)
    assert got.abstinence_weeks == Summary(mean=Ratio(1, 1), median=1)
    # The last attended contact is in week 2 (Thu 2's session, Fri 2's test): retained 2 weeks
    # of 12, not completed.
    assert got.retention == Summary(mean=Ratio(2, 1), median=2)
    assert got.retention_curve[:3] == [(1, Ratio(1, 1)), (2, Ratio(1, 1)), (3, Ratio(0, 1))]
    assert len(got.retention_curve) == 12
    assert got.completion == Ratio(0, 1)
    # Sessions: attended, absent, attended.
    assert got.attendance == Ratio(2, 3)
    # Rewards posted 5 minutes, 25 hours and 30 minutes after collection: the nearest-rank
    # median of three is the 2nd (30 minutes), the 90th percentile the 3rd (25 hours); Wed's was
    # posted the next clinic day, so 2 of 3 the same day.
    assert got.immediacy == measures.Immediacy(
        median=30 * MINUTE, p90=25 * HOUR, same_day=Ratio(2, 3)
    )
    # Submitted and timed: N N P N; Wed's was recorded 25 hours after collection.
    assert got.late_results == Ratio(1, 4)
    # Counted N N P M N; the round marked Mon 2 missed.
    assert got.schedule_kept == Ratio(4, 5)


def test_a_range_keeps_its_days_but_retention_reads_the_whole_enrollment(clinic, history):
    got = clinic_measures(clinic=clinic, first=MON2, last=date(2026, 1, 18))

    # Week 2 only: M E N, and the sessions absent, attended.
    assert got.negative_samples == Ratio(1, 2)
    assert got.negative_submitted == Ratio(1, 1)
    assert got.abstinence_tests == Summary(mean=Ratio(1, 1), median=1)
    assert got.attendance == Ratio(1, 2)
    assert got.immediacy.same_day == Ratio(1, 1)
    assert got.late_results == Ratio(0, 1)
    assert got.schedule_kept == Ratio(1, 2)
    assert got.retention == Summary(mean=Ratio(2, 1), median=2)

    (ranged,) = read(clinic, first=MON2, last=date(2026, 1, 18))
    assert [t.day for t in ranged.tests] == [MON2, WED2, FRI2]


def test_a_result_collected_at_half_past_eleven_at_night_is_that_clinic_day(
    clinic, patient, enrollment
):
    # 23:30 in Chicago on Friday is 05:30 UTC on Saturday; recorded at 23:45, also Friday there.
    collected = local(clinic, FRI, 23, 30)
    assert collected.astimezone(UTC).date() == FRI + timedelta(days=1)
    result(patient, collected, local(clinic, FRI, 23, 45))

    (test,) = read(clinic)[0].tests
    assert test.day == FRI
    assert (test.reward_posted_at, test.reward_posted_day) == (local(clinic, FRI, 23, 45), FRI)


def test_a_session_late_at_night_is_that_clinic_day(clinic, patient, enrollment):
    session(patient, local(clinic, TUE2, 23, 30))

    assert read(clinic)[0].sessions == (Session(TUE2, "attended"),)


def test_a_clinic_sees_only_its_own_enrollments(clinic, history, higgins):
    elsewhere = ClinicFactory(name="Lakeside", slug="lakeside", time_zone="America/New_York")
    other = PatientFactory(clinic=elsewhere)
    EnrollmentFactory(patient=other, protocol=higgins, start_date=MON)
    result(other, at(elsewhere, MON), at(elsewhere, MON, 11), outcome="positive")

    mine = clinic_measures(clinic=clinic, first=MON, last=date(2026, 3, 29))
    theirs = clinic_measures(clinic=elsewhere, first=MON, last=date(2026, 3, 29))

    assert (mine.enrollments, mine.negative_samples) == (1, Ratio(3, 5))
    assert (theirs.enrollments, theirs.negative_samples) == (1, Ratio(0, 1))


def test_the_range_chooses_the_enrollments_that_overlap_it(clinic, higgins):
    ended = EnrollmentFactory(
        patient=PatientFactory(clinic=clinic), protocol=higgins, start_date=date(2025, 6, 2)
    )
    ended.end_date, ended.status = date(2025, 8, 22), "completed"
    ended.save()
    later = EnrollmentFactory(
        patient=PatientFactory(clinic=clinic), protocol=higgins, start_date=date(2026, 3, 2)
    )
    current = EnrollmentFactory(
        patient=PatientFactory(clinic=clinic), protocol=higgins, start_date=MON
    )

    chosen = clinic_enrollments(clinic=clinic, first=MON, last=date(2026, 2, 28))

    assert set(chosen) == {current}
    assert set(clinic_enrollments(clinic=clinic)) == {ended, later, current}


def test_a_caseload_is_a_filter_on_the_clinic_s_enrollments(clinic, history, counselor, higgins):
    colleague = UserFactory(username="robin")
    theirs = PatientFactory(clinic=clinic, primary_counselor=colleague)
    EnrollmentFactory(patient=theirs, protocol=higgins, start_date=MON)
    result(theirs, at(clinic, MON), at(clinic, MON, 11), outcome="positive")

    caseload = clinic_enrollments(clinic=clinic).filter(patient__primary_counselor=counselor)
    (record,) = report_enrollments(enrollments=caseload)

    assert record.tests[0].outcome == NEGATIVE
    # A partition's counts add up to the whole's.
    everyone = read(clinic)
    rest = report_enrollments(
        enrollments=clinic_enrollments(clinic=clinic).exclude(patient__primary_counselor=counselor)
    )
    mine, others = measures.negative_samples([record]), measures.negative_samples(rest)
    assert mine + others == measures.negative_samples(everyone) == Ratio(3, 6)


def test_the_first_credit_is_when_the_reward_was_posted(clinic, patient, enrollment, counselor):
    # Recorded as positive, corrected to negative two days later: the reward reached the patient
    # with the correction.
    recorded = result(patient, at(clinic, MON), local(clinic, MON, 10, 5), outcome="positive")
    corrected_at = local(clinic, WED, 9)
    with time_machine.travel(corrected_at, tick=False):
        recording.specimen_correct(
            specimen=recorded.specimen,
            changed_by=counselor,
            reason="Read the wrong panel",
            results={"cocaine": "negative"},
        )

    (test,) = read(clinic)[0].tests
    assert test.outcome == NEGATIVE
    assert (test.reward_posted_at, test.reward_posted_day) == (corrected_at, WED)


def test_a_prize_protocol_s_reward_is_posted_with_its_first_draws(clinic, patient):
    fishbowl = preset_protocol("petry-fishbowl")
    EnrollmentFactory(patient=patient, protocol=fishbowl, start_date=MON)
    with time_machine.travel(local(clinic, MON, 10, 5), tick=False):
        recording.specimen_record(
            patient=patient,
            collected_at=at(clinic, MON),
            results={substance: "negative" for substance in fishbowl.target_substances},
        )

    (test,) = read(clinic)[0].tests
    assert (test.outcome, test.reward_posted_at) == (NEGATIVE, local(clinic, MON, 10, 5))


def test_a_mark_staff_corrected_into_a_result_was_kept(clinic, patient, enrollment, counselor):
    round_at_closing(clinic, MON)
    mark = Specimen.objects.get(enrollment=enrollment, missed_day=MON)
    # The sample had been collected; it was keyed into the mark itself the next morning.
    with time_machine.travel(local(clinic, TUE, 9), tick=False):
        recording.specimen_correct(
            specimen=mark,
            changed_by=counselor,
            reason="The sample was collected; typed in late",
            status="tested",
            results={"cocaine": "negative"},
        )

    (test,) = read(clinic)[0].tests
    assert (test.outcome, test.auto_missed) == (NEGATIVE, False)


def test_an_open_ended_protocol_has_no_weeks_and_the_curve_ends_at_the_furthest_week(
    clinic, patient
):
    EnrollmentFactory(patient=patient, protocol=open_ended(), start_date=MON)
    result(patient, at(clinic, MON), local(clinic, MON, 11))
    result(patient, at(clinic, WED2), local(clinic, WED2, 11))

    (record,) = read(clinic)
    got = clinic_measures(clinic=clinic, first=MON, last=date(2026, 3, 29))

    assert record.weeks is None
    assert got.retention_curve == [(1, Ratio(1, 1)), (2, Ratio(1, 1))]
    assert got.completion == Ratio(0, 0)  # open-ended protocols are in neither count


# --- the query budget -------------------------------------------------------------------------


def open_ended():
    """A flat $1 a negative for as long as the clinic keeps the patient: one open-ended phase."""
    protocol, made = Protocol.objects.get_or_create(
        slug="open-ended",
        defaults={"name": "Open-ended", "kind": "voucher", "target_substances": ["cocaine"]},
    )
    if made:
        ProtocolPhase.objects.create(protocol=protocol, last_week=None, start_cents=100)
    return protocol


def enrolled(clinic, higgins, count: int) -> None:
    """`count` more patients, each with a negative and a positive test and a session, under three
    protocols in turn (one open-ended)."""
    protocols = [higgins, preset_protocol("silverman-1996"), open_ended()]
    for i in range(count):
        patient = PatientFactory(clinic=clinic)
        EnrollmentFactory(patient=patient, protocol=protocols[i % 3], start_date=MON)
        result(patient, at(clinic, MON), local(clinic, MON, 11))
        result(patient, at(clinic, WED), local(clinic, WED, 11), outcome="positive")
        session(patient, local(clinic, TUE2, 14))


def queries_for(clinic) -> tuple[int, list[measures.Enrollment]]:
    with CaptureQueriesContext(connection) as queries:
        records = read(clinic, first=MON, last=FRI2)
    return len(queries), records


def test_the_reads_cost_the_same_queries_for_2_and_20_enrollments(clinic, higgins):
    enrolled(clinic, higgins, 2)
    few, records = queries_for(clinic)
    assert len(records) == 2

    enrolled(clinic, higgins, 18)
    many, records = queries_for(clinic)
    assert len(records) == 20
    assert all(len(r.tests) == 2 and len(r.sessions) == 1 for r in records)
    assert all(r.tests[0].reward_posted_at is not None for r in records)

    # Enrollments with patients and clinics, protocols with phases (however many protocols),
    # specimens, first rewards, sessions.
    assert few == many == 5
