"""Real concurrent connections on PostgreSQL: a counselor double-taps "draw", two desks run one
patient's draws, several patients reach for the last prize in the cabinet. Draws are made once
and never more than earned; the last item goes to one patient; nothing goes negative."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum

from cmtracker.exceptions import Conflict
from rewards import catalog, prizes
from rewards.models import PrizeDraw, StockMovement
from tests.conftest import at
from tests.factories import EnrollmentFactory, PatientFactory, preset_protocol
from tests.vouchers.test_concurrency import THREADS, concurrently, errors_in
from vouchers import recording
from vouchers.models import Wallet
from vouchers.selectors import ledger_verify

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

NEGATIVE = dict.fromkeys(["cocaine", "amphetamine", "methamphetamine"], "negative")
SMALL_SLIP = 250


class AlwaysSmall:
    def randrange(self, n):
        return SMALL_SLIP


def with_draws(patient, counselor, wanted: int) -> Wallet:
    """Enrol on the fishbowl and record negatives until `wanted` draws are available."""
    enrollment = EnrollmentFactory(patient=patient, protocol=preset_protocol("va-prize"))
    day = enrollment.start_date
    while (Wallet.objects.filter(patient=patient).first() or Wallet()).draws_available < wanted:
        recording.specimen_record(
            patient=patient,
            collected_at=at(patient.clinic, day),
            results=NEGATIVE,
            recorded_by=counselor,
        )
        day += timedelta(days=3)
    return Wallet.objects.get(patient=patient)


def test_twenty_simultaneous_single_draws_with_five_available_make_exactly_five(patient, counselor):
    # Monday, Thursday, Monday: 1 + 2 + 3 = 6 draws; use one so 5 are left.
    assert with_draws(patient, counselor, 5).draws_available == 6
    prizes.draws_run(patient=patient, count=1, drawn_by=counselor)

    outcomes = concurrently(
        lambda n: prizes.draws_run(patient=patient, count=1, drawn_by=counselor),
        hold_wallet_of=patient,
    )

    refused = errors_in(outcomes)
    assert all(isinstance(e, Conflict) and "count" in e.message_dict for e in refused), refused
    assert len(refused) == THREADS - 5
    assert PrizeDraw.objects.count() == 1 + 5
    assert Wallet.objects.get(patient=patient).draws_available == 0
    assert ledger_verify() == []


def test_one_key_sent_by_twenty_requests_at_once_draws_once(patient, counselor):
    with_draws(patient, counselor, 1)
    left = Wallet.objects.get(patient=patient).draws_available

    outcomes = concurrently(
        lambda n: prizes.draws_run(patient=patient, drawn_by=counselor, idempotency_key="tap-1")
    )

    assert errors_in(outcomes) == []
    first = [d.id for d in outcomes[0]]
    assert len(first) == left
    assert all([d.id for d in o] == first for o in outcomes)
    assert PrizeDraw.objects.count() == left
    assert Wallet.objects.get(patient=patient).draws_available == 0
    assert ledger_verify() == []


def test_twenty_winners_reaching_for_the_last_prize_at_once_one_gets_it(
    clinic, counselor, clinic_admin
):
    item = catalog.catalog_item_create(
        clinic=clinic,
        name="Movie tickets",
        price_cents=100,
        stock=1,
        prize_tier="small",
        actor=clinic_admin,
    )
    winners = []
    for _ in range(THREADS):
        patient = PatientFactory(clinic=clinic)
        with_draws(patient, counselor, 1)
        winners.append(
            prizes.draws_run(patient=patient, count=1, drawn_by=counselor, rng=AlwaysSmall())[0]
        )

    outcomes = concurrently(
        lambda n: prizes.prize_claim(draw=winners[n], item=item, claimed_by=counselor)
    )

    refused = errors_in(outcomes)
    assert all(isinstance(e, ValidationError) for e in refused), refused
    assert all("item" in e.message_dict for e in refused)
    assert len(refused) == THREADS - 1
    item.refresh_from_db()
    assert item.stock == 0
    assert item.movements.aggregate(total=Sum("quantity"))["total"] == 0
    assert StockMovement.objects.filter(kind=StockMovement.Kind.ISSUED).count() == 1
    assert PrizeDraw.objects.filter(claimed_item=item).count() == 1


def test_one_winning_draw_claimed_from_twenty_screens_at_once_takes_one_item(
    patient, counselor, clinic, clinic_admin
):
    item = catalog.catalog_item_create(
        clinic=clinic,
        name="Bus pass",
        price_cents=100,
        stock=10,
        prize_tier="small",
        actor=clinic_admin,
    )
    with_draws(patient, counselor, 1)
    [draw] = prizes.draws_run(patient=patient, count=1, drawn_by=counselor, rng=AlwaysSmall())

    outcomes = concurrently(
        lambda n: prizes.prize_claim(draw=draw, item=item, claimed_by=counselor)
    )

    refused = errors_in(outcomes)
    assert len(refused) == THREADS - 1
    assert all(isinstance(e, Conflict) and "draw" in e.message_dict for e in refused), refused
    item.refresh_from_db()
    assert item.stock == 9
    assert StockMovement.objects.filter(kind=StockMovement.Kind.ISSUED).count() == 1
