"""Prize draws on the counselor's screen and the prize cabinet: a negative earns draws, each draw
is stored once with its result, a tier won is exchanged for an in-stock item of that tier, and
no prize pushes a patient past the protocol's caps."""

from datetime import date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.utils import timezone

from cmtracker.exceptions import Conflict
from patients.models import Enrollment
from rewards import catalog, prizes, selectors
from rewards.models import PrizeDraw, StockMovement
from tests.conftest import at
from tests.factories import EnrollmentFactory, PatientFactory, preset_protocol
from vouchers import protocols, recording
from vouchers.models import LedgerEntry, Wallet, protocols_attach
from vouchers.selectors import ledger_verify
from vouchers.settlement import enrollment_settle

MONDAY = date(2026, 1, 5)
NEGATIVE = dict.fromkeys(["cocaine", "amphetamine", "methamphetamine"], "negative")
POSITIVE = {**NEGATIVE, "cocaine": "positive"}
# Slip numbers in the standard 500-slip bowl.
GOOD_JOB, SMALL, LARGE, JUMBO = 0, 250, 459, 499


class Slips:
    """An rng that draws the given slip numbers in turn."""

    def __init__(self, *slips):
        self.slips = list(slips)

    def randrange(self, n):
        assert n == 500
        return self.slips.pop(0)


@pytest.fixture
def fishbowl(patient):
    return EnrollmentFactory(
        patient=patient, protocol=preset_protocol("va-prize"), start_date=MONDAY
    )


def negative(patient, counselor, day, results=NEGATIVE):
    return recording.specimen_record(
        patient=patient,
        collected_at=at(patient.clinic, day),
        results=results,
        recorded_by=counselor,
    )


def wallet(patient) -> Wallet:
    return Wallet.objects.get(patient=patient)


def prize_item(clinic, admin, tier="small", stock=3, **fields):
    return catalog.catalog_item_create(
        clinic=clinic,
        name=fields.pop("name", f"{tier} prize"),
        price_cents=fields.pop("price_cents", 100),
        stock=stock,
        prize_tier=tier,
        actor=admin,
        **fields,
    )


def stock_ledger(item) -> int:
    return item.movements.aggregate(total=Sum("quantity"))["total"] or 0


def won(patient, counselor, *slips):
    """Draws made from the given slips (a negative first earns as many as needed)."""
    day = MONDAY
    while (Wallet.objects.filter(patient=patient).first() or Wallet()).draws_available < len(slips):
        negative(patient, counselor, day)
        day += timedelta(days=3)
    return prizes.draws_run(
        patient=patient, count=len(slips), drawn_by=counselor, rng=Slips(*slips)
    )


# --- drawing ---------------------------------------------------------------------------------


def test_a_negative_earns_draws_and_running_them_uses_them_all(fishbowl, patient, counselor):
    negative(patient, counselor, MONDAY)
    assert wallet(patient).draws_available == 1

    first = prizes.draws_run(patient=patient, drawn_by=counselor)
    assert len(first) == 1 and wallet(patient).draws_available == 0

    negative(patient, counselor, MONDAY + timedelta(days=3))
    assert wallet(patient).draws_available == 2
    second = prizes.draws_run(patient=patient, drawn_by=counselor)

    assert len(second) == 2
    assert wallet(patient).draws_available == 0
    assert PrizeDraw.objects.filter(patient=patient).count() == 3
    drawn = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.DRAWN)
    assert sorted(e.prize_draw_id for e in drawn) == sorted(d.id for d in first + second)
    assert {(e.draws, e.amount_cents, e.enrollment_id) for e in drawn} == {(-1, 0, fishbowl.id)}
    assert ledger_verify() == []
    # Draws made are not earnings: settling again changes nothing.
    assert enrollment_settle(enrollment=fishbowl).posted == []


def test_each_draw_is_stored_with_the_tier_drawn(fishbowl, patient, counselor):
    draws = won(patient, counselor, GOOD_JOB, SMALL, LARGE)

    stored = PrizeDraw.objects.order_by("id")
    assert [(d.tier, d.value_cents, d.capped) for d in stored] == [
        ("good job", 0, False),
        ("small", 100, False),
        ("large", 2000, False),
    ]
    assert [d.id for d in draws] == [d.id for d in stored]
    assert {(d.drawn_by, d.enrollment, d.patient) for d in stored} == {
        (counselor, fishbowl, patient)
    }


def test_a_counselor_can_run_some_of_the_draws_now_and_the_rest_later(fishbowl, patient, counselor):
    negative(patient, counselor, MONDAY)
    negative(patient, counselor, MONDAY + timedelta(days=3))
    assert wallet(patient).draws_available == 3

    assert len(prizes.draws_run(patient=patient, count=2, drawn_by=counselor)) == 2
    assert wallet(patient).draws_available == 1
    assert ledger_verify() == []


def test_asking_for_more_draws_than_available_is_refused_and_draws_nothing(
    fishbowl, patient, counselor
):
    negative(patient, counselor, MONDAY)

    with pytest.raises(Conflict) as refused:
        prizes.draws_run(patient=patient, count=2, drawn_by=counselor)

    assert "count" in refused.value.message_dict
    assert PrizeDraw.objects.count() == 0
    assert wallet(patient).draws_available == 1


@pytest.mark.parametrize("count", [0, -1, 1.5, "2", True])
def test_a_count_that_is_not_a_positive_whole_number_is_refused(
    fishbowl, patient, counselor, count
):
    negative(patient, counselor, MONDAY)
    with pytest.raises(ValidationError) as refused:
        prizes.draws_run(patient=patient, count=count, drawn_by=counselor)
    assert "count" in refused.value.message_dict
    assert PrizeDraw.objects.count() == 0


def test_a_patient_with_no_draws_left_cannot_draw(fishbowl, patient, counselor):
    with pytest.raises(Conflict) as refused:
        prizes.draws_run(patient=patient, drawn_by=counselor)
    assert "count" in refused.value.message_dict


def test_a_patient_on_a_voucher_protocol_cannot_draw(enrollment, patient, counselor):
    negative(patient, counselor, MONDAY)

    with pytest.raises(ValidationError) as refused:
        prizes.draws_run(patient=patient, drawn_by=counselor)

    assert "patient" in refused.value.message_dict
    assert PrizeDraw.objects.count() == 0


def test_a_patient_with_no_open_enrollment_cannot_draw(patient, counselor):
    with pytest.raises(ValidationError) as refused:
        prizes.draws_run(patient=patient, drawn_by=counselor)
    assert "patient" in refused.value.message_dict


def test_a_retried_request_answers_the_same_draws_without_drawing_again(
    fishbowl, patient, counselor
):
    negative(patient, counselor, MONDAY)
    negative(patient, counselor, MONDAY + timedelta(days=3))
    first = prizes.draws_run(
        patient=patient, count=2, drawn_by=counselor, rng=Slips(SMALL, LARGE), idempotency_key="k1"
    )

    again = prizes.draws_run(
        patient=patient, count=2, drawn_by=counselor, rng=Slips(), idempotency_key="k1"
    )

    assert [d.id for d in again] == [d.id for d in first]
    assert [d.tier for d in again] == ["small", "large"]
    assert [d.idempotency_key for d in again] == ["k1:1", "k1:2"]
    assert PrizeDraw.objects.count() == 2
    assert wallet(patient).draws_available == 1
    assert ledger_verify() == []


def test_a_key_used_for_another_patient_is_refused(fishbowl, patient, counselor, clinic):
    negative(patient, counselor, MONDAY)
    prizes.draws_run(patient=patient, drawn_by=counselor, idempotency_key="k2")
    other = PatientFactory(clinic=clinic)
    EnrollmentFactory(patient=other, protocol=preset_protocol("va-prize"), start_date=MONDAY)
    negative(other, counselor, MONDAY)

    with pytest.raises(ValidationError) as refused:
        prizes.draws_run(patient=other, drawn_by=counselor, idempotency_key="k2")

    assert "idempotency_key" in refused.value.message_dict
    assert wallet(other).draws_available == 1


def test_a_correction_that_takes_away_draws_already_made_leaves_them_for_review(
    fishbowl, patient, counselor
):
    negative(patient, counselor, MONDAY)
    thursday = negative(patient, counselor, MONDAY + timedelta(days=3)).specimen
    draws = prizes.draws_run(patient=patient, drawn_by=counselor, rng=Slips(SMALL, LARGE, JUMBO))

    recording.specimen_correct(
        specimen=thursday, changed_by=counselor, reason="lab re-read", results=POSITIVE
    )

    # The positive earns nothing: its 2 draws are owed back, but they were already made.
    assert [(d.id, d.tier) for d in PrizeDraw.objects.order_by("id")] == [
        (d.id, d.tier) for d in draws
    ]
    assert (wallet(patient).draws_available, wallet(patient).draws_under_review) == (0, 2)
    assert ledger_verify() == []


# --- caps ------------------------------------------------------------------------------------


def capped_fishbowl(patient, **caps):
    protocol = protocols.protocol_new_version(protocol=preset_protocol("va-prize"))
    for field, value in caps.items():
        setattr(protocol, field, value)
    protocol.save()
    return EnrollmentFactory(patient=patient, protocol=protocol, start_date=MONDAY)


def test_a_large_prize_past_the_year_cap_is_recorded_as_the_best_tier_that_fits(patient, counselor):
    capped_fishbowl(patient, year_cap_cents=1000)  # $10 left this year

    [draw] = won(patient, counselor, LARGE)

    assert (draw.tier, draw.value_cents, draw.capped) == ("small", 100, True)
    assert PrizeDraw.objects.get().capped


def test_prizes_already_won_count_toward_the_cap(patient, counselor):
    enrollment = capped_fishbowl(patient, year_cap_cents=2050)

    draws = won(patient, counselor, LARGE, LARGE, SMALL)

    assert [(d.tier, d.capped) for d in draws] == [
        ("large", False),
        ("good job", True),  # $0.50 left: not even a small prize fits
        ("good job", True),
    ]
    assert (
        selectors.prize_cap_room(
            patient=patient, enrollment=enrollment, today=patient.clinic.local_date(timezone.now())
        )
        == 50
    )


def test_the_enrollment_cap_holds_too(patient, counselor):
    enrollment = capped_fishbowl(patient, enrollment_cap_cents=10000)

    draws = won(patient, counselor, JUMBO, SMALL)

    assert [(d.tier, d.capped) for d in draws] == [("jumbo", False), ("good job", True)]
    assert selectors.prize_cap_room(patient=patient, enrollment=enrollment, today=MONDAY) == 0


def test_without_caps_nothing_is_capped(fishbowl, patient, counselor):
    draws = won(patient, counselor, JUMBO, JUMBO, JUMBO)

    assert [(d.tier, d.capped) for d in draws] == [("jumbo", False)] * 3
    assert selectors.prize_cap_room(patient=patient, enrollment=fishbowl, today=MONDAY) is None


def test_cents_earned_this_year_count_toward_the_prize_year_cap(patient, counselor):
    enrollment = capped_fishbowl(patient, year_cap_cents=5000)
    LedgerEntry.objects.create(
        patient=patient,
        kind=LedgerEntry.Kind.EARN,
        component=LedgerEntry.Component.VOUCHER,
        amount_cents=4000,
        event_year=2026,
    )

    assert selectors.prize_cap_room(patient=patient, enrollment=enrollment, today=MONDAY) == 1000


def test_a_prize_counts_in_the_year_of_the_clinics_calendar(patient, counselor, fishbowl):
    [draw] = won(patient, counselor, LARGE)
    # 23:30 on New Year's Eve in Chicago is already 2027 in UTC.
    new_years_eve = datetime(2026, 12, 31, 23, 30, tzinfo=patient.clinic.tz)
    PrizeDraw.objects.filter(pk=draw.pk).update(drawn_at=new_years_eve)

    assert selectors.prizes_this_year_cents(patient=patient, year=2026) == 2000
    assert selectors.prizes_this_year_cents(patient=patient, year=2027) == 0


# --- claiming a prize ------------------------------------------------------------------------


def test_claiming_an_in_stock_item_of_the_tier_won_takes_it_from_the_cabinet(
    fishbowl, patient, counselor, clinic, clinic_admin
):
    [draw] = won(patient, counselor, SMALL)
    item = prize_item(clinic, clinic_admin, "small", stock=3)

    claimed = prizes.prize_claim(draw=draw, item=item, claimed_by=counselor)

    item.refresh_from_db()
    assert item.stock == 2 == stock_ledger(item)
    issued = StockMovement.objects.get(kind=StockMovement.Kind.ISSUED)
    assert (issued.item, issued.quantity, issued.prize_draw, issued.by) == (
        item,
        -1,
        draw,
        counselor,
    )
    claimed.refresh_from_db()
    assert (claimed.claimed_item, claimed.claimed_by) == (item, counselor)
    assert claimed.claimed_at is not None
    assert ledger_verify() == []


def test_an_item_with_unlimited_stock_can_be_claimed(
    fishbowl, patient, counselor, clinic, clinic_admin
):
    [draw] = won(patient, counselor, LARGE)
    item = prize_item(clinic, clinic_admin, "large", stock=None)

    prizes.prize_claim(draw=draw, item=item, claimed_by=counselor)

    item.refresh_from_db()
    assert item.stock is None
    assert PrizeDraw.objects.get().claimed_item == item


def test_a_good_job_slip_is_stored_as_such_and_wins_nothing_to_claim(
    fishbowl, patient, counselor, clinic, clinic_admin
):
    [draw] = won(patient, counselor, GOOD_JOB)
    item = prize_item(clinic, clinic_admin, "small")

    with pytest.raises(ValidationError) as refused:
        prizes.prize_claim(draw=draw, item=item, claimed_by=counselor)

    assert (draw.tier, draw.value_cents) == ("good job", 0)
    assert "draw" in refused.value.message_dict
    assert_nothing_issued(item, stock=3)


def assert_nothing_issued(item, *, stock):
    item.refresh_from_db()
    assert item.stock == stock == stock_ledger(item)
    assert not StockMovement.objects.filter(kind=StockMovement.Kind.ISSUED).exists()
    assert not PrizeDraw.objects.filter(claimed_item__isnull=False).exists()


def test_an_item_of_another_tier_cannot_be_claimed(
    fishbowl, patient, counselor, clinic, clinic_admin
):
    [draw] = won(patient, counselor, SMALL)
    item = prize_item(clinic, clinic_admin, "large")

    with pytest.raises(ValidationError) as refused:
        prizes.prize_claim(draw=draw, item=item, claimed_by=counselor)

    assert "item" in refused.value.message_dict
    assert_nothing_issued(item, stock=3)


def test_an_item_that_is_not_a_prize_cannot_be_claimed(
    fishbowl, patient, counselor, clinic, clinic_admin
):
    [draw] = won(patient, counselor, SMALL)
    item = prize_item(clinic, clinic_admin, "")

    with pytest.raises(ValidationError) as refused:
        prizes.prize_claim(draw=draw, item=item, claimed_by=counselor)

    assert "item" in refused.value.message_dict
    assert_nothing_issued(item, stock=3)


def test_another_clinics_item_cannot_be_claimed(
    fishbowl, patient, counselor, other_clinic, other_counselor
):
    [draw] = won(patient, counselor, SMALL)
    item = prize_item(other_clinic, other_counselor, "small")

    with pytest.raises(ValidationError) as refused:
        prizes.prize_claim(draw=draw, item=item, claimed_by=counselor)

    assert "item" in refused.value.message_dict
    assert_nothing_issued(item, stock=3)


def test_a_retired_item_cannot_be_claimed(fishbowl, patient, counselor, clinic, clinic_admin):
    [draw] = won(patient, counselor, SMALL)
    item = prize_item(clinic, clinic_admin, "small")
    catalog.catalog_item_update(item=item, actor=clinic_admin, is_active=False)

    with pytest.raises(ValidationError) as refused:
        prizes.prize_claim(draw=draw, item=item, claimed_by=counselor)

    assert "item" in refused.value.message_dict
    assert_nothing_issued(item, stock=3)


def test_an_out_of_stock_item_cannot_be_claimed(fishbowl, patient, counselor, clinic, clinic_admin):
    [draw] = won(patient, counselor, SMALL)
    item = prize_item(clinic, clinic_admin, "small", stock=0)

    with pytest.raises(Conflict) as refused:
        prizes.prize_claim(draw=draw, item=item, claimed_by=counselor)

    assert "item" in refused.value.message_dict
    assert_nothing_issued(item, stock=0)


def test_a_prize_is_claimed_once(fishbowl, patient, counselor, clinic, clinic_admin):
    [draw] = won(patient, counselor, SMALL)
    item = prize_item(clinic, clinic_admin, "small", stock=3)
    prizes.prize_claim(draw=draw, item=item, claimed_by=counselor)

    with pytest.raises(Conflict) as refused:
        prizes.prize_claim(draw=draw, item=item, claimed_by=counselor)

    assert "draw" in refused.value.message_dict
    item.refresh_from_db()
    assert item.stock == 2 == stock_ledger(item)
    assert StockMovement.objects.filter(kind=StockMovement.Kind.ISSUED).count() == 1


def test_the_patients_history_sums_up_a_days_draws_in_one_line(fishbowl, patient, counselor):
    from vouchers.templatetags.money import dollars
    from vouchers.views.portal import ledger_lines

    for day in (MONDAY, MONDAY + timedelta(days=3), MONDAY + timedelta(days=7)):
        negative(patient, counselor, day)
    made = prizes.draws_run(patient=patient, drawn_by=counselor)
    won = sum(d.value_cents for d in made)

    lines = [line.text for line in ledger_lines(patient)]

    drawn = [text for text in lines if text.startswith("You made")]
    assert len(drawn) == 1
    assert f"You made {len(made)} prize draws on" in drawn[0]
    assert (f"won {dollars(won)} in prizes" in drawn[0]) == bool(won)
    assert not any("$0.00 on" in text for text in lines)
    assert sum(text.startswith("You earned") for text in lines) == 3  # the earnings still there


def test_the_cap_room_of_many_enrollments_is_each_ones_in_a_fixed_number_of_queries(
    patient, counselor, django_assert_max_num_queries
):
    uncapped = EnrollmentFactory(
        patient=PatientFactory(clinic=patient.clinic),
        protocol=preset_protocol("va-prize"),
        start_date=MONDAY,
    )
    capped = capped_fishbowl(patient, year_cap_cents=2050, enrollment_cap_cents=10000)
    won(patient, counselor, LARGE)
    enrollments = protocols_attach(
        Enrollment.objects.filter(pk__in=[capped.pk, uncapped.pk]).select_related("patient__clinic")
    )
    today = patient.clinic.local_date(timezone.now())  # the draws' year
    with django_assert_max_num_queries(4):
        rooms = selectors.prize_cap_room_many(enrollments=enrollments, today=today)

    assert rooms == {
        capped.pk: selectors.prize_cap_room(patient=patient, enrollment=capped, today=today),
        uncapped.pk: None,
    }
    assert rooms[capped.pk] == 50
