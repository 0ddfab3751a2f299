"""Rewards and cost, equal opportunity and redemption immediacy (vouchers/reports/costs.py) on a
history written through the services a clinic uses, at pinned times.

Riverside (America/Chicago, UTC-6 in January). Week 1 is Mon 2026-01-05 .. Sun 01-11, week 2
Mon 01-12 .. Sun 01-18. Three patients:

- Ana, on a clinic protocol "steps": $3.00 a first negative, +$1.00 each, a $5.00 bonus every
  2nd consecutive negative, $2.00 an attended session, at most $20.00 an enrollment.
  Mon N $3.00 · Tue session $2.00 · Wed N $4.00 + $5.00 bonus · Fri N $5.00 (earned $19.00) ·
  Mon 2 N: $6.00 + $5.00 wanted, $1.00 room left, so $1.00 paid and $10.00 clipped ·
  Wed 2 P. Staff credit her $10.00 on Thursday ("Bus fare to court").
- Ben, Higgins 1994 ($2.50, +$1.25, bonus every 3rd). Mon P · Wed N $2.50 · Fri N $3.75.
  Fri 12:00 he asks for a $5.00 item (handed over Mon 2 09:00), at 13:00 for a $1.00 item that
  he cancels at 14:00 (refunded). Sat 09:00 staff correct Friday's test to positive: $3.75
  reversed, $1.25 from his balance and $2.50 left owed, which staff waive at 10:00.
- Cleo, VA prize from Monday: Mon N (1 draw: a $20 prize, at 11:00), Wed N (2 draws: $1 and
  good job), the $20 prize claimed Thursday.
"""

from datetime import date, datetime, time, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patients.models import Specimen
from rewards import catalog, prizes
from rewards.redemptions import (
    redemption_approve,
    redemption_cancel,
    redemption_handover,
    redemption_request,
)
from tests.conftest import at
from tests.factories import EnrollmentFactory, PatientFactory, UserFactory, preset_protocol
from vouchers import adjustments, recording
from vouchers.ledger import EARNING_COMPONENTS
from vouchers.models import LedgerEntry, Protocol, ProtocolPhase
from vouchers.reports import costs
from vouchers.reports.cost_measures import range_bounds
from vouchers.reports.measures import Immediacy, Ratio, Summary

pytestmark = pytest.mark.django_db

MON, TUE, WED, THU, FRI, SAT, SUN = (date(2026, 1, 5 + i) for i in range(7))
MON2, WED2, SUN2 = date(2026, 1, 12), date(2026, 1, 14), date(2026, 1, 18)
STIMULANTS = ("cocaine", "amphetamine", "methamphetamine")
LARGE, SMALL, GOOD_JOB = 459, 250, 0


class Slips:
    def __init__(self, *slips):
        self.slips = list(slips)

    def randrange(self, n):
        return self.slips.pop(0)


def local(clinic, day, hour, minute=0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=clinic.tz)


def steps_protocol() -> Protocol:
    protocol = Protocol.objects.create(
        slug="steps",
        name="Steps",
        kind="voucher",
        target_substances=["cocaine"],
        attendance_cents=200,
        enrollment_cap_cents=2000,
    )
    ProtocolPhase.objects.create(
        protocol=protocol,
        last_week=12,
        start_cents=300,
        increment_cents=100,
        bonus_every=2,
        bonus_cents=500,
    )
    return protocol


def sample(patient, day, outcome="negative", substances=("cocaine",), actor=None):
    clinic = patient.clinic
    with time_machine.travel(local(clinic, day, 10, 5), tick=False):
        return recording.specimen_record(
            patient=patient,
            collected_at=at(clinic, day),
            results=dict.fromkeys(substances, outcome),
            recorded_by=actor,
        ).specimen


@pytest.fixture
def history(clinic, counselor, clinic_admin):
    ana = PatientFactory(clinic=clinic, primary_counselor=counselor, first_name="Ana")
    ana_enrollment = EnrollmentFactory(patient=ana, protocol=steps_protocol(), start_date=MON)
    sample(ana, MON)
    with time_machine.travel(local(clinic, TUE, 14, 1), tick=False):
        recording.attendance_record(
            patient=ana, occurred_at=local(clinic, TUE, 14), session_kind="cbt", status="attended"
        )
    sample(ana, WED)
    sample(ana, FRI)
    sample(ana, MON2)
    sample(ana, WED2, "positive")
    with time_machine.travel(local(clinic, THU, 15), tick=False):
        adjustments.ledger_adjust(
            patient=ana, amount_cents=1000, reason="Bus fare to court", actor=clinic_admin
        )

    ben_counselor = UserFactory(username="bea", first_name="Bea", last_name="Ortiz")
    ben = PatientFactory(clinic=clinic, primary_counselor=ben_counselor, first_name="Ben")
    ben_enrollment = EnrollmentFactory(patient=ben, start_date=MON)  # Higgins 1994
    sample(ben, MON, "positive")
    sample(ben, WED)
    friday = sample(ben, FRI)
    item = catalog.catalog_item_create(
        clinic=clinic, name="Phone card", price_cents=500, stock=5, actor=clinic_admin
    )
    small = catalog.catalog_item_create(
        clinic=clinic, name="Snack", price_cents=100, stock=5, actor=clinic_admin
    )
    with time_machine.travel(local(clinic, FRI, 12), tick=False):
        handed = redemption_request(patient=ben, items=[(item, 1)], requested_by=counselor)
        redemption_approve(redemption=handed, actor=counselor)
    with time_machine.travel(local(clinic, FRI, 13), tick=False):
        cancelled = redemption_request(patient=ben, items=[(small, 1)], requested_by=counselor)
    with time_machine.travel(local(clinic, FRI, 14), tick=False):
        redemption_cancel(redemption=cancelled, actor=counselor)
    with time_machine.travel(local(clinic, SAT, 9), tick=False):
        recording.specimen_correct(
            specimen=friday,
            changed_by=counselor,
            reason="Lab corrected the result",
            results={"cocaine": "positive"},
        )
    with time_machine.travel(local(clinic, SAT, 10), tick=False):
        adjustments.overpayment_waive(patient=ben, reason="Hardship", actor=clinic_admin)
    with time_machine.travel(local(clinic, MON2, 9), tick=False):
        redemption_handover(redemption=handed, actor=counselor)

    cleo = PatientFactory(clinic=clinic, primary_counselor=counselor, first_name="Cleo")
    cleo_enrollment = EnrollmentFactory(
        patient=cleo, protocol=preset_protocol("va-prize"), start_date=MON
    )
    prize = catalog.catalog_item_create(
        clinic=clinic, name="Headphones", price_cents=2000, stock=2, prize_tier="large",
        actor=clinic_admin,
    )  # fmt: skip
    sample(cleo, MON, substances=STIMULANTS)
    with time_machine.travel(local(clinic, MON, 11), tick=False):
        (won,) = prizes.draws_run(patient=cleo, drawn_by=counselor, rng=Slips(LARGE))
    sample(cleo, WED, substances=STIMULANTS)
    with time_machine.travel(local(clinic, WED, 11), tick=False):
        prizes.draws_run(patient=cleo, drawn_by=counselor, rng=Slips(SMALL, GOOD_JOB))
    with time_machine.travel(local(clinic, THU, 9), tick=False):
        prizes.prize_claim(draw=won, item=prize, claimed_by=counselor)
    return ana_enrollment, ben_enrollment, cleo_enrollment


@pytest.fixture(autouse=True)
def _today(clinic):
    with time_machine.travel(local(clinic, date(2026, 2, 2), 12), tick=False):
        yield


def test_the_first_week_costs_what_the_history_says(clinic, clinic_admin, history):
    ana, ben, cleo = history

    got = costs.clinic_costs(clinic=clinic, first=MON, last=SUN)

    assert got.enrollments == 3
    # Ana $3 + $4 + $5, Ben $2.50 + $3.75 - $3.75 (reversed Saturday).
    assert got.vouchers_cents == 1200 + 250
    assert got.bonuses_cents == 500
    assert got.attendance_cents == 200
    # Cleo's $20 and $1 (and a good job).
    assert got.prizes_won_cents == 2100
    assert got.earned_cents == 1450 + 500 + 200 + 2100 == 4250
    assert got.draws == 3
    # Ben's $5 and $1, the $1 refunded.
    assert got.redeemed_cents == 500
    # The phone card is handed over in week 2; the headphones were claimed Thursday.
    assert (got.redemptions_handed_over_cents, got.prizes_claimed_cents) == (0, 2000)
    assert got.handed_over_cents == 2000
    # Per enrollment: Ana 1900, Ben 250, Cleo 2100. Median of 3 is the 2nd: 1900.
    assert got.per_enrollment == Summary(mean=Ratio(4250, 3), median=1900)
    # Negatives collected in the week: Ana 3, Ben 1 (Friday's is positive now), Cleo 2.
    assert got.negatives == 6
    assert got.per_negative == Ratio(4250, 6)
    # Weeks all negative: Ana's week 1, Cleo's week 1 (Ben's had positives).
    assert got.abstinent_weeks == 2
    assert got.per_abstinent_week == Ratio(4250, 2)
    assert got.clipped_cents == 0  # Ana's clip is on Monday 2
    assert [(a.patient_id, a.amount_cents, a.reason, a.by) for a in got.adjustments] == [
        (ana.patient_id, 1000, "Bus fare to court", "ada")
    ]
    assert got.adjustments[0].at == local(clinic, THU, 15)
    assert [(w.patient_id, w.amount_cents, w.reason, w.by_id) for w in got.waivers] == [
        (ben.patient_id, 250, "Hardship", clinic_admin.pk)
    ]
    assert (got.adjustments_cents, got.waived_cents) == (1000, 250)
    assert got.redemption_immediacy == Immediacy(None, None, Ratio(0, 0))


def test_two_weeks_add_the_clip_and_the_hand_over(clinic, history):
    got = costs.clinic_costs(clinic=clinic, first=MON, last=SUN2)

    # Ana's Monday 2: $1 of the $6 voucher paid, the rest and the $5 bonus clipped.
    assert got.vouchers_cents == 1450 + 100
    assert got.bonuses_cents == 500
    assert got.clipped_cents == 500 + 500
    # Ben's phone card: asked Friday 12:00, handed over Monday 2 09:00, 69 hours later.
    assert got.redemptions_handed_over_cents == 500
    assert got.redemption_immediacy == Immediacy(
        median=timedelta(hours=69), p90=timedelta(hours=69), same_day=Ratio(0, 1)
    )
    assert costs.redemption_immediacy(clinic=clinic, first=MON, last=SUN2) == (
        got.redemption_immediacy
    )


def test_the_weekly_cost_has_every_week_of_the_range(clinic, history):
    got = costs.weekly_cost(clinic=clinic, first=date(2026, 1, 1), last=date(2026, 1, 20))

    # Thursday 01-01 is in the week of Monday 2025-12-29; 01-20 in the week of 01-19.
    assert got == [
        (date(2025, 12, 29), 0),
        (MON, 4250),
        (MON2, 100),  # Ana's clipped $1; Wednesday 2's positive earns nothing
        (date(2026, 1, 19), 0),
    ]


def test_an_entry_counts_on_the_clinic_day_it_was_posted(clinic):
    patient = PatientFactory(clinic=clinic)
    EnrollmentFactory(patient=patient, start_date=MON)  # Higgins: $2.50 a first negative
    # Collected Sunday 22:00 and posted 23:30 in Chicago: Monday 05:30 UTC, still Sunday here.
    with time_machine.travel(local(clinic, SUN, 23, 30), tick=False):
        recording.specimen_record(
            patient=patient, collected_at=local(clinic, SUN, 22), results={"cocaine": "negative"}
        )

    assert costs.clinic_costs(clinic=clinic, first=MON, last=SUN).vouchers_cents == 250
    assert costs.clinic_costs(clinic=clinic, first=MON2, last=SUN2).vouchers_cents == 0


def test_a_result_posted_after_its_enrollment_ended_costs_the_day_it_was_posted(clinic):
    patient = PatientFactory(clinic=clinic)
    ended = EnrollmentFactory(patient=patient, start_date=MON, end_date=FRI, status="completed")
    feb_1, feb_2 = date(2026, 2, 1), date(2026, 2, 2)
    # Wednesday's sample, back from the lab on 02-02: it belongs to the ended enrollment.
    recording.specimen_record(
        patient=patient, collected_at=at(clinic, WED), results={"cocaine": "negative"}
    )

    got = costs.clinic_costs(clinic=clinic, first=feb_1, last=feb_2)

    assert (got.enrollments, got.vouchers_cents) == (1, 250)
    assert list(costs.cost_enrollments(clinic=clinic, first=feb_1, last=feb_2)) == [ended]
    # Counted in the range it was posted in, not the week it was collected.
    assert costs.clinic_costs(clinic=clinic, first=MON, last=SUN).vouchers_cents == 0


def test_a_counselors_caseload_is_a_filter(clinic, counselor, history):
    ana, _ben, cleo = history
    caseload = costs.cost_enrollments(clinic=clinic, first=MON, last=SUN).filter(
        patient__primary_counselor=counselor
    )

    got = costs.clinic_costs(clinic=clinic, first=MON, last=SUN, enrollments=caseload)

    assert got.enrollments == 2
    assert got.earned_cents == 1900 + 2100
    assert got.redeemed_cents == 0  # Ben is not Casey's
    assert got.waivers == ()


def test_paid_exactly_every_enrollment_is_no_exception(clinic, history):
    got = costs.equal_opportunity_exceptions(clinic=clinic, first=MON, last=SUN2)

    assert got.enrollments == 3
    assert got.mismatches == ()
    # The rewards outside the schedule: Ana's credit and Ben's waiver.
    assert [(s.kind, s.amount_cents, s.reason) for s in got.outside_schedule] == [
        ("adjustment", 1000, "Bus fare to court"),
        ("waiver", 250, "Hardship"),
    ]


def test_a_hand_made_award_is_an_exception(clinic, history):
    ana, _ben, _cleo = history
    monday = Specimen.objects.get(enrollment=ana, collected_at=at(clinic, MON))
    LedgerEntry.objects.create(
        patient=ana.patient,
        enrollment=ana,
        kind=LedgerEntry.Kind.EARN,
        component=LedgerEntry.Component.VOUCHER,
        amount_cents=50,
        specimen=monday,
        event_year=2026,
    )

    got = costs.equal_opportunity_exceptions(clinic=clinic, first=MON, last=SUN)

    (exception,) = got.mismatches
    assert (exception.enrollment_id, exception.patient_id) == (ana.pk, ana.patient_id)
    assert exception.awards == (
        costs.AwardDifference(
            source="specimen",
            source_id=monday.pk,
            day=MON,
            component="voucher",
            event_year=2026,
            expected=300,
            posted=350,
        ),
    )


def test_the_dashboards_one_read_gives_what_the_two_reads_give(clinic, history):
    """costs_and_exceptions replays each enrollment once for both; the figures are the same."""
    ana, _ben, _cleo = history
    monday = Specimen.objects.get(enrollment=ana, collected_at=at(clinic, MON))
    LedgerEntry.objects.create(
        patient=ana.patient,
        enrollment=ana,
        kind=LedgerEntry.Kind.EARN,
        component=LedgerEntry.Component.VOUCHER,
        amount_cents=50,
        specimen=monday,
        event_year=2026,
    )

    both = costs.costs_and_exceptions(clinic=clinic, first=MON, last=SUN2)

    assert both == (
        costs.clinic_costs(clinic=clinic, first=MON, last=SUN2),
        costs.equal_opportunity_exceptions(clinic=clinic, first=MON, last=SUN2),
    )
    assert len(both[1].mismatches) == 1


def test_another_clinic_has_nothing(other_clinic, history):
    got = costs.clinic_costs(clinic=other_clinic, first=MON, last=SUN)

    assert (got.enrollments, got.earned_cents, got.redeemed_cents) == (0, 0, 0)
    assert got.per_enrollment == Summary(mean=Ratio(0, 0), median=None)
    assert got.per_negative.value is None
    exceptions = costs.equal_opportunity_exceptions(clinic=other_clinic, first=MON, last=SUN)
    assert exceptions == costs.EqualOpportunity(0, (), ())


# --- the query budget -------------------------------------------------------------------------


def enrolled(clinic, counselor, count):
    protocols = [preset_protocol("higgins-1994"), preset_protocol("ca-rip")]
    for i in range(count):
        patient = PatientFactory(clinic=clinic, primary_counselor=counselor)
        EnrollmentFactory(patient=patient, protocol=protocols[i % 2], start_date=MON)
        sample(patient, MON, substances=STIMULANTS)
        sample(patient, WED, "positive", substances=STIMULANTS)
        with time_machine.travel(local(clinic, TUE, 12), tick=False):
            adjustments.ledger_adjust(
                patient=patient, amount_cents=100, reason="Fare", actor=counselor
            )


@pytest.mark.parametrize("count", [2, 30])
def test_each_read_makes_a_fixed_number_of_queries(clinic, counselor, count):
    enrolled(clinic, counselor, count)

    with CaptureQueriesContext(connection) as read_costs:
        got = costs.clinic_costs(clinic=clinic, first=MON, last=SUN)
    with CaptureQueriesContext(connection) as read_exceptions:
        exceptions = costs.equal_opportunity_exceptions(clinic=clinic, first=MON, last=SUN)
    with CaptureQueriesContext(connection) as read_weekly:
        costs.weekly_cost(clinic=clinic, first=MON, last=SUN)

    assert got.enrollments == exceptions.enrollments == count
    assert len(got.adjustments) == count
    assert (len(read_costs), len(read_exceptions), len(read_weekly)) == (COSTS, EXCEPTIONS, WEEKLY)


COSTS, EXCEPTIONS, WEEKLY = 16, 7, 4


# --- properties -------------------------------------------------------------------------------

OUTCOMES = st.sampled_from(["negative", "negative", "positive"])


def ledger_sum(clinic, first, last, enrollments) -> int:
    start, end = range_bounds(clinic.tz, first, last)
    return sum(
        e.entitlement_cents
        for e in LedgerEntry.objects.filter(
            enrollment__in=enrollments,
            component__in=EARNING_COMPONENTS,
            created_at__gte=start,
            created_at__lt=end,
        )
    )


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    histories=st.lists(
        st.tuples(st.integers(0, 2), st.lists(st.tuples(st.integers(0, 20), OUTCOMES), max_size=5)),
        min_size=1,
        max_size=4,
    ),
    first=st.integers(0, 20),
    span=st.integers(0, 20),
)
def test_costs_equal_the_ledger_and_caseloads_add_up(clinic, histories, first, span):
    counselors = [UserFactory(username=f"c{i}") for i in range(3)]
    for who, tests in histories:
        patient = PatientFactory(clinic=clinic, primary_counselor=counselors[who])
        EnrollmentFactory(patient=patient, start_date=MON)
        for offset, outcome in sorted(tests):
            sample(patient, MON + timedelta(days=offset), outcome)
    first_day = MON + timedelta(days=first)
    last_day = first_day + timedelta(days=span)
    whole = costs.cost_enrollments(clinic=clinic, first=first_day, last=last_day)

    got = costs.clinic_costs(clinic=clinic, first=first_day, last=last_day)

    assert got.earned_cents == ledger_sum(clinic, first_day, last_day, whole)
    parts = [
        costs.clinic_costs(
            clinic=clinic,
            first=first_day,
            last=last_day,
            enrollments=whole.filter(patient__primary_counselor=c),
        )
        for c in counselors
    ]
    assert sum(p.earned_cents for p in parts) == got.earned_cents
    assert sum(p.negatives for p in parts) == got.negatives
    assert sum(p.enrollments for p in parts) == got.enrollments
    assert sum(p.abstinent_weeks for p in parts) == got.abstinent_weeks
    assert costs.equal_opportunity_exceptions(clinic=clinic, first=first_day, last=last_day) == (
        costs.EqualOpportunity(got.enrollments, (), ())
    )


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    amount=st.integers(-250, 10000).filter(bool),
    reason=st.text(st.characters(categories=["L", "N", "Zs"]), min_size=1, max_size=40).filter(
        str.strip
    ),
    hand_made=st.integers(-250, 1000),
)
def test_a_hand_made_ledger_entry_is_always_an_exception(
    clinic, clinic_admin, amount, reason, hand_made
):
    patient = PatientFactory(clinic=clinic)
    enrollment = EnrollmentFactory(patient=patient, start_date=MON)  # Higgins: $2.50
    specimen = sample(patient, MON)
    only = costs.cost_enrollments(clinic=clinic, first=MON, last=SUN).filter(pk=enrollment.pk)
    assert costs.equal_opportunity_exceptions(
        clinic=clinic, first=MON, last=SUN, enrollments=only
    ) == costs.EqualOpportunity(1, (), ())

    with time_machine.travel(local(clinic, TUE, 9), tick=False):
        entry = adjustments.ledger_adjust(
            patient=patient, amount_cents=amount, reason=reason, actor=clinic_admin
        )
        if hand_made:
            LedgerEntry.objects.create(
                patient=patient,
                enrollment=enrollment,
                kind=LedgerEntry.Kind.EARN,
                component=LedgerEntry.Component.VOUCHER,
                amount_cents=hand_made,
                specimen=specimen,
                event_year=2026,
            )

    got = costs.equal_opportunity_exceptions(clinic=clinic, first=MON, last=SUN, enrollments=only)

    assert [(s.amount_cents, s.reason, s.at) for s in got.outside_schedule] == [
        (amount, entry.reason, local(clinic, TUE, 9))
    ]
    if hand_made:
        ((award,),) = [m.awards for m in got.mismatches]
        assert (award.expected, award.posted) == (250, 250 + hand_made)
    else:
        assert got.mismatches == ()
