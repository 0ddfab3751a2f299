"""Fidelity per counselor on a history written by the services a clinic uses (recording,
corrections, the missed-test round, excusing, staff adjustments and waivers), every write at a
pinned instant, and the report read at a pinned "now".

Riverside (America/Chicago) tests Mondays, Wednesdays and Fridays and closes at 17:00. Higgins
1994 from Monday 2026-01-05 (3 tests a week for 12 weeks): $2.50 for a first negative, +$1.25 a
negative after that, a $10 bonus every third negative in a row; a positive or a miss resets.
"""

from collections import Counter
from datetime import date, datetime, time, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.models import Specimen
from tests.factories import EnrollmentFactory, MembershipFactory, PatientFactory, UserFactory
from vouchers import recording
from vouchers.adjustments import ledger_adjust, overpayment_waive
from vouchers.missed import missed_test_excuse, missed_tests_mark
from vouchers.reports.fidelity import counselor_fidelity
from vouchers.reports.measures import Immediacy, Ratio

MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)
MON, WED, THU, FRI, SAT = (date(2026, 1, d) for d in (5, 7, 8, 9, 10))
MON2, WED2, THU2, FRI2 = (date(2026, 1, d) for d in (12, 14, 15, 16))
TODAY = date(2026, 1, 23)  # Friday of week 3: weeks 1 and 2 are over, week 3 is not


def local(clinic, day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=clinic.tz)


def result(patient, day, recorded_at, outcome="negative", actor=None):
    with time_machine.travel(recorded_at, tick=False):
        return recording.specimen_record(
            patient=patient,
            collected_at=local(patient.clinic, day, 10),
            results={"cocaine": outcome},
            recorded_by=actor,
        )


def on_time(patient, day, outcome="negative", actor=None):
    """Collected at 10:00, recorded (and its reward posted) at 10:05."""
    return result(patient, day, local(patient.clinic, day, 10, 5), outcome, actor)


def round_at_closing(clinic, day):
    closing = local(clinic, day, 17)
    with time_machine.travel(closing, tick=False):
        missed_tests_mark(now=closing)


def correct(specimen, actor, when, reason, outcome):
    with time_machine.travel(when, tick=False):
        recording.specimen_correct(
            specimen=specimen, changed_by=actor, reason=reason, results={"cocaine": outcome}
        )


@pytest.fixture
def robin(clinic):
    user = UserFactory(username="robin")
    MembershipFactory(user=user, clinic=clinic, role="counselor")
    return user


@pytest.fixture
def history(clinic, counselor, robin, clinic_admin, higgins):
    """Three patients from Monday 2026-01-05.

    Avery (Casey's):
    - Mon N recorded 10:05 ($2.50 posted then); Wed N recorded Thursday 11:00 (25 hours: late;
      $3.75 posted then); Fri P recorded 10:10.
    - Sat: Ada debits the $6.25 balance to 0 ("Spent on bus passes").
    - Mon 2 and Wed 2: nobody came, the round marks both missed; Thu 2 09:00 Casey excuses Wed 2
      ("In hospital").
    - Thu 2 10:00: Casey corrects Wed to positive ("Lab confirmed positive"): the $3.75 cannot come
      out of a balance of 0, so it is owed; Thu 2 12:00 Ada waives the $3.75 ("Our lab error").
    - Fri 2 N recorded 10:30: $2.50 (the streak was reset), 30 minutes after collection.
    Blake (Robin's): N every test day of weeks 1 and 2, recorded 10:05, but Wed 2 was first
    recorded positive; Thu 2 15:00 Ada corrects it to negative ("Read the wrong panel"), so its
    reward is posted 29 hours after collection.
    Cody (no counselor): Mon recorded as excused by Robin ("Court date"), then N on Wed, Fri,
    Mon 2 and Wed 2, recorded 10:05.
    """
    avery = PatientFactory(clinic=clinic, primary_counselor=counselor, first_name="Avery")
    blake = PatientFactory(clinic=clinic, primary_counselor=robin, first_name="Blake")
    cody = PatientFactory(clinic=clinic, primary_counselor=None, first_name="Cody")
    for patient in (avery, blake, cody):
        EnrollmentFactory(patient=patient, protocol=higgins, start_date=MON)

    on_time(avery, MON, actor=counselor)
    wednesday = result(avery, WED, local(clinic, THU, 11), actor=counselor).specimen
    result(avery, FRI, local(clinic, FRI, 10, 10), outcome="positive", actor=counselor)
    with time_machine.travel(local(clinic, SAT, 12), tick=False):
        ledger_adjust(
            patient=avery, amount_cents=-625, reason="Spent on bus passes", actor=clinic_admin
        )

    for day in (MON, WED, FRI, MON2):
        on_time(blake, day, actor=robin)
    blake_wed2 = on_time(blake, WED2, outcome="positive", actor=robin).specimen
    with time_machine.travel(local(clinic, MON, 10), tick=False):
        recording.specimen_record(
            patient=cody,
            collected_at=local(clinic, MON, 9),
            status="excused",
            notes="Court date",
            recorded_by=robin,
        )
    for day in (WED, FRI, MON2, WED2):
        on_time(cody, day, actor=robin)

    round_at_closing(clinic, MON2)
    round_at_closing(clinic, WED2)
    mark = Specimen.objects.get(enrollment__patient=avery, missed_day=WED2)
    with time_machine.travel(local(clinic, THU2, 9), tick=False):
        missed_test_excuse(specimen=mark, reason="In hospital", actor=counselor)
    correct(wednesday, counselor, local(clinic, THU2, 10), "Lab confirmed positive", "positive")
    with time_machine.travel(local(clinic, THU2, 12), tick=False):
        waiver = overpayment_waive(patient=avery, reason="Our lab error", actor=clinic_admin)
    assert waiver.overpayment_cents == -375
    correct(blake_wed2, clinic_admin, local(clinic, THU2, 15), "Read the wrong panel", "negative")
    on_time(blake, FRI2, actor=robin)
    result(avery, FRI2, local(clinic, FRI2, 10, 30), actor=counselor)
    return avery, blake, cody


def report(clinic, first=MON, last=TODAY):
    with time_machine.travel(local(clinic, TODAY, 12), tick=False):
        return counselor_fidelity(clinic=clinic, first=first, last=last)


def by_name(rows):
    return {("TOTAL" if r.is_total else r.name or None): r for r in rows}


def test_each_counselors_caseload_and_the_clinic_total(clinic, history):
    rows = report(clinic)

    assert [("TOTAL" if r.is_total else r.name) for r in rows] == [
        "ada",
        "casey",
        "robin",
        "",
        "TOTAL",
    ]
    ada, casey, robin, nobody, total = rows
    assert (ada.enrollments, casey.enrollments, robin.enrollments, nobody.enrollments) == (
        0,
        1,
        1,
        1,
    )
    assert nobody.counselor_id is None and not nobody.is_total

    # Avery, counted (Wed 2 excused): N P P M N, 2 negatives of 5. The round marked Mon 2: 4 of 5
    # kept. Submitted and timed N P P N; Wed was recorded 25 hours after collection: 1 of 4 late.
    assert casey.negative_samples == Ratio(2, 5)
    assert casey.schedule_kept == Ratio(4, 5)
    assert casey.late_results == Ratio(1, 4)
    # Rewards posted for Mon (5 min), Wed (25 hours, the next day; the reversal keeps its first
    # posting) and Fri 2 (30 min): nearest-rank median the 2nd of 3, 90th percentile the 3rd.
    assert casey.immediacy == Immediacy(median=30 * MINUTE, p90=25 * HOUR, same_day=Ratio(2, 3))
    # Week 1: Mon, Wed, Fri (3 of 3). Week 2: Mon 2 (missed, offered) and Fri 2; Wed 2 was
    # excused: 2 test days of 3. Week 3 is not over on Friday of week 3. 1 of 2 weeks.
    assert casey.protocol_weeks == Ratio(1, 2)

    # Blake: six negatives; rewards 5 at 5 minutes and Wed 2's at 29 hours (the next day):
    # median the 3rd of 6 (5 min), 90th percentile the 6th (29 hours); nothing late (the
    # correction does not move when the result was recorded); both weeks had their 3 tests.
    assert robin.negative_samples == Ratio(6, 6)
    assert robin.immediacy == Immediacy(median=5 * MINUTE, p90=29 * HOUR, same_day=Ratio(5, 6))
    assert (robin.late_results, robin.schedule_kept) == (Ratio(0, 6), Ratio(6, 6))
    assert robin.protocol_weeks == Ratio(2, 2)

    # Cody: Mon excused, then 4 negatives; week 1 has Wed and Fri, week 2 Mon 2 and Wed 2.
    assert nobody.negative_samples == Ratio(4, 4)
    assert nobody.protocol_weeks == Ratio(0, 2)
    assert nobody.immediacy.same_day == Ratio(4, 4)

    # The clinic: 2 + 6 + 4 negatives of 5 + 6 + 4; 13 rewards, sorted 10 at 5 minutes, 30
    # minutes, 25 hours, 29 hours: the median is the 7th (5 min), the 90th percentile the 12th.
    assert total.enrollments == 3
    assert total.negative_samples == Ratio(12, 15)
    assert total.immediacy == Immediacy(median=5 * MINUTE, p90=25 * HOUR, same_day=Ratio(11, 13))
    assert total.late_results == Ratio(1, 14)
    assert total.schedule_kept == Ratio(14, 15)
    assert total.protocol_weeks == Ratio(3, 6)


def test_each_action_is_the_staff_member_s_who_did_it(clinic, history):
    avery, blake, cody = history
    ada, casey, robin, nobody, total = report(clinic)

    # Ada is an administrator with no caseload, in the table for what she did.
    assert [(a.patient_id, a.reason) for a in ada.corrections] == [
        (blake.pk, "Read the wrong panel")
    ]
    assert [(a.amount_cents, a.reason) for a in ada.adjustments] == [(-625, "Spent on bus passes")]
    assert [(a.amount_cents, a.reason) for a in ada.waivers] == [(375, "Our lab error")]
    assert ada.excused == ()
    # Casey corrected Avery's Wednesday and excused Wed 2.
    assert [(a.patient_id, a.reason) for a in casey.corrections] == [
        (avery.pk, "Lab confirmed positive")
    ]
    assert [(a.patient_id, a.reason, a.at) for a in casey.excused] == [
        (avery.pk, "In hospital", local(clinic, THU2, 9))
    ]
    # Robin excused Cody's Monday when recording it, though Cody is nobody's patient.
    assert [(a.patient_id, a.reason) for a in robin.excused] == [(cody.pk, "Court date")]
    assert robin.corrections == robin.adjustments == robin.waivers == ()
    assert nobody.corrections == nobody.excused == nobody.adjustments == ()
    assert (len(total.corrections), len(total.excused)) == (2, 2)
    assert (len(total.adjustments), len(total.waivers)) == (1, 1)
    assert_rows_add_up(report(clinic))


def test_a_range_counts_the_actions_of_its_clinic_days(clinic, history):
    # Week 2 only: Saturday's adjustment is out; the excuse at recording on Monday of week 1 too.
    ada, casey, robin, _nobody, total = report(clinic, first=MON2, last=date(2026, 1, 18))

    assert ada.adjustments == () and len(ada.waivers) == 1
    assert robin.excused == ()
    assert len(casey.excused) == 1
    # Avery's week 2: M E N: 1 of 2; only week 2 is whole in the range.
    assert casey.negative_samples == Ratio(1, 2)
    assert total.protocol_weeks == Ratio(1, 3)  # Blake's week 2 had its 3 tests


def test_a_withdrawn_missed_mark_is_not_a_staff_action(clinic, counselor, patient, higgins):
    EnrollmentFactory(patient=patient, protocol=higgins, start_date=MON)
    round_at_closing(clinic, MON)
    # The lab's result for Monday arrives on Tuesday: the mark is withdrawn (excused) for it.
    result(patient, MON, local(clinic, MON + timedelta(days=1), 9), actor=counselor)

    casey, total = report(clinic)

    assert casey.corrections == casey.excused == ()
    assert total.negative_samples == Ratio(1, 1)


def test_another_clinic_is_not_in_the_report(
    clinic, history, other_clinic, other_counselor, higgins
):
    theirs = PatientFactory(clinic=other_clinic, primary_counselor=other_counselor)
    EnrollmentFactory(patient=theirs, protocol=higgins, start_date=MON)
    on_time(theirs, MON, outcome="positive", actor=other_counselor)
    with time_machine.travel(local(other_clinic, WED, 12), tick=False):
        ledger_adjust(patient=theirs, amount_cents=100, reason="Welcome", actor=other_counselor)

    rows = report(clinic)

    assert "olive" not in [r.name for r in rows]
    assert rows[-1].negative_samples == Ratio(12, 15)
    assert len(rows[-1].adjustments) == 1


def test_a_clinic_with_no_enrollments_has_its_counselors_and_an_empty_total(clinic, counselor):
    casey, total = report(clinic)

    assert (casey.name, casey.enrollments, casey.negative_samples) == ("casey", 0, Ratio(0, 0))
    assert total.is_total and total.immediacy == Immediacy(None, None, Ratio(0, 0))


# --- the rows add up, in a fixed number of queries ----------------------------------------------


def assert_rows_add_up(rows):
    *parts, total = rows
    assert total.is_total and not any(r.is_total for r in parts)
    for name in ("negative_samples", "late_results", "schedule_kept", "protocol_weeks"):
        assert sum((getattr(r, name) for r in parts), Ratio(0, 0)) == getattr(total, name), name
    same_day = sum((r.immediacy.same_day for r in parts), Ratio(0, 0))
    assert same_day == total.immediacy.same_day
    assert sum(r.enrollments for r in parts) == total.enrollments
    for name in ("corrections", "excused", "adjustments", "waivers"):
        assert Counter(a for r in parts for a in getattr(r, name)) == Counter(getattr(total, name))


def caseloads(clinic, higgins, count: int, staff) -> None:
    """`count` more patients with their counselor in turn (or none), each with a negative and a
    positive recorded, the positive corrected to negative by another staff member, and a credit."""
    for i in range(count):
        counselor = staff[i % len(staff)]
        patient = PatientFactory(clinic=clinic, primary_counselor=counselor)
        EnrollmentFactory(patient=patient, protocol=higgins, start_date=MON)
        on_time(patient, MON, actor=counselor)
        positive = on_time(patient, WED, outcome="positive", actor=counselor).specimen
        actor = staff[(i + 1) % len(staff)]
        correct(positive, actor, local(clinic, THU, 9), "Misread", "negative")
        with time_machine.travel(local(clinic, THU, 10), tick=False):
            ledger_adjust(patient=patient, amount_cents=100, reason="Welcome", actor=actor)


def queries_for(clinic):
    with CaptureQueriesContext(connection) as queries:
        rows = report(clinic)
    return len(queries), rows


def test_the_report_costs_the_same_queries_for_2_and_30_enrollments(
    clinic, counselor, robin, clinic_admin, higgins
):
    staff = [counselor, robin, None]
    caseloads(clinic, higgins, 2, staff)
    few, rows = queries_for(clinic)
    assert rows[-1].enrollments == 2
    assert_rows_add_up(rows)

    caseloads(clinic, higgins, 28, staff)
    many, rows = queries_for(clinic)
    assert rows[-1].enrollments == 30
    assert_rows_add_up(rows)
    assert rows[-1].negative_samples == Ratio(60, 60)
    assert len(rows[-1].corrections) == len(rows[-1].adjustments) == 30

    # The record's five (selectors.report_enrollments), the counselors, the corrections, the
    # tests excused when recorded, the ledger's staff entries, the staff's names.
    assert few == many == 10
