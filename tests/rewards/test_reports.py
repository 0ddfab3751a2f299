"""rewards.reports.rewards_given: what the prize cabinet and the redemptions gave out over a range
of clinic days, as vouchers' reports read it through vouchers.extensions.

Riverside (America/Chicago, UTC-6 in January). The week of Monday 2026-01-05 to Sunday 01-11:
- Fishbowl (VA prize) from Mon 01-05: a negative Mon (1 draw, drawn at 11:00: a large prize,
  $20) and Wed (2 draws, at 11:00: small $1 and good job $0); the large prize claimed Thu 09:00;
  a negative the next Monday 01-12, its draw (a small prize) outside the range.
- Otto (another patient, credited $100 by staff) redeems a $15 bus pass four times:
  requested Mon 16:30, handed over Tue 09:30 (17 hours, the next clinic day);
  requested Wed 10:00, handed over Wed 10:20 (20 minutes);
  requested Sun 23:00, handed over Sun 23:30 (30 minutes; Monday 05:30 in UTC, still Sunday at
  the clinic, so in the range);
  requested Fri 10:00, handed over Mon 01-12 10:00 (outside the range).
"""

from datetime import date, datetime, time, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rewards import catalog, prizes
from rewards.models import CatalogItem
from rewards.redemptions import redemption_approve, redemption_handover, redemption_request
from tests.conftest import at
from tests.factories import EnrollmentFactory, preset_protocol
from vouchers import adjustments, extensions, recording
from vouchers.extensions import RewardsGiven
from vouchers.reports.cost_measures import redemption_immediacy
from vouchers.reports.measures import Immediacy, Ratio
from vouchers.reports.selectors import clinic_enrollments

pytestmark = pytest.mark.django_db

MON, TUE, WED, THU, FRI, SUN = (date(2026, 1, 5 + i) for i in (0, 1, 2, 3, 4, 6))
MON2 = date(2026, 1, 12)
NEGATIVE = dict.fromkeys(["cocaine", "amphetamine", "methamphetamine"], "negative")
GOOD_JOB, SMALL, LARGE = 0, 250, 459  # slip numbers in the standard 500-slip bowl


class Slips:
    def __init__(self, *slips):
        self.slips = list(slips)

    def randrange(self, n):
        return self.slips.pop(0)


def local(clinic, day, hour, minute=0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=clinic.tz)


@pytest.fixture
def fishbowl(patient):
    return EnrollmentFactory(patient=patient, protocol=preset_protocol("va-prize"), start_date=MON)


def negative_and_draw(clinic, patient, counselor, day, *slips):
    with time_machine.travel(at(clinic, day), tick=False):
        recording.specimen_record(
            patient=patient, collected_at=at(clinic, day), results=NEGATIVE, recorded_by=counselor
        )
    with time_machine.travel(local(clinic, day, 11), tick=False):
        return prizes.draws_run(patient=patient, drawn_by=counselor, rng=Slips(*slips))


def handed_over(clinic, patient, item, counselor, requested_at, handed_at):
    with time_machine.travel(requested_at, tick=False):
        redemption = redemption_request(patient=patient, items=[(item, 1)], requested_by=counselor)
        redemption_approve(redemption=redemption, actor=counselor)
    with time_machine.travel(handed_at, tick=False):
        return redemption_handover(redemption=redemption, actor=counselor)


@pytest.fixture
def history(clinic, patient, other_patient, fishbowl, counselor, clinic_admin):
    large = catalog.catalog_item_create(
        clinic=clinic, name="Headphones", price_cents=2000, stock=2, prize_tier="large",
        actor=clinic_admin,
    )  # fmt: skip
    (first,) = negative_and_draw(clinic, patient, counselor, MON, LARGE)
    negative_and_draw(clinic, patient, counselor, WED, SMALL, GOOD_JOB)
    with time_machine.travel(local(clinic, THU, 9), tick=False):
        prizes.prize_claim(draw=first, item=large, claimed_by=counselor)
    negative_and_draw(clinic, patient, counselor, MON2, *[SMALL] * 3)

    EnrollmentFactory(patient=other_patient, start_date=MON)
    with time_machine.travel(local(clinic, MON, 9), tick=False):
        adjustments.ledger_adjust(
            patient=other_patient, amount_cents=10000, reason="Opening credit", actor=clinic_admin
        )
    bus_pass = catalog.catalog_item_create(
        clinic=clinic, name="Bus pass", price_cents=1500, stock=10,
        category=CatalogItem.Category.TRANSPORT, actor=clinic_admin,
    )  # fmt: skip
    for requested, handed in (
        (local(clinic, MON, 16, 30), local(clinic, TUE, 9, 30)),
        (local(clinic, WED, 10), local(clinic, WED, 10, 20)),
        (local(clinic, SUN, 23), local(clinic, SUN, 23, 30)),
        (local(clinic, FRI, 10), local(clinic, MON2, 10)),
    ):
        handed_over(clinic, other_patient, bus_pass, counselor, requested, handed)


def test_the_week_gave_what_the_history_says(clinic, fishbowl, history):
    given = extensions.rewards_given(clinic=clinic, first=MON, last=SUN)

    # Drawn in the range: $20 on Monday, $1 + $0 on Wednesday; Monday 2's draws are outside.
    assert given.prizes_won_by_enrollment == {fishbowl.pk: 2100}
    assert given.prizes_won_by_day == {MON: 2000, WED: 100}
    assert given.prizes_won_cents == 2100
    # The large prize claimed on Thursday.
    assert (given.prizes_claimed, given.prizes_claimed_cents) == (1, 2000)
    # Three bus passes handed over in the range (the fourth on Monday 2): 3 × $15.
    assert [h.handed_over_day for h in given.handovers] == [TUE, WED, SUN]
    assert [h.handed_over_at - h.requested_at for h in given.handovers] == [
        timedelta(hours=17),
        timedelta(minutes=20),
        timedelta(minutes=30),
    ]
    assert given.redemptions_handed_over_cents == 4500
    # What reached patients' hands: the passes and the headphones.
    assert given.handed_over_cents == 4500 + 2000


def test_the_handovers_give_the_redemption_immediacy(clinic, history):
    given = extensions.rewards_given(clinic=clinic, first=MON, last=SUN)

    got = redemption_immediacy(
        (h.requested_at, h.requested_day, h.handed_over_at, h.handed_over_day)
        for h in given.handovers
    )

    # Sorted delays 20 min, 30 min, 17 h: the median is rank ceil(1.5) = 2, the 90th
    # percentile rank ceil(2.7) = 3; Tuesday's was handed over the day after its request.
    assert got == Immediacy(
        median=timedelta(minutes=30), p90=timedelta(hours=17), same_day=Ratio(2, 3)
    )


def test_a_narrower_set_gives_only_its_draws_and_its_patients_redemptions(
    clinic, patient, fishbowl, history
):
    only_fishbowl = clinic_enrollments(clinic=clinic).filter(pk=fishbowl.pk)

    given = extensions.rewards_given(clinic=clinic, first=MON, last=SUN, enrollments=only_fishbowl)

    assert given.prizes_won_cents == 2100
    assert given.prizes_claimed_cents == 2000
    assert given.handovers == ()  # Otto's redemptions are not this patient's


def test_another_clinic_gave_nothing(other_clinic, history):
    assert extensions.rewards_given(clinic=other_clinic, first=MON, last=SUN) == RewardsGiven()


def test_without_rewards_vouchers_hears_that_nothing_was_given(monkeypatch, clinic, history):
    monkeypatch.setattr(extensions, "_providers", {})

    given = extensions.rewards_given(clinic=clinic, first=MON, last=SUN)

    assert given == RewardsGiven()
    assert (given.prizes_won_cents, given.handed_over_cents) == (0, 0)


@pytest.mark.parametrize("patients", [2, 30])
def test_it_reads_in_three_queries_however_many_patients(clinic, counselor, patients):
    protocol = preset_protocol("va-prize")
    for _ in range(patients):
        enrollment = EnrollmentFactory(patient__clinic=clinic, protocol=protocol, start_date=MON)
        negative_and_draw(clinic, enrollment.patient, counselor, MON, SMALL)

    with CaptureQueriesContext(connection) as queries:
        given = extensions.rewards_given(
            clinic=clinic, first=MON, last=SUN, enrollments=clinic_enrollments(clinic=clinic)
        )

    assert len(queries) == 3
    assert given.prizes_won_cents == 100 * patients
