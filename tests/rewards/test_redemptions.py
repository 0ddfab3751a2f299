"""The reward catalog, its stock ledger and redemptions: what a patient, a counselor and a clinic
administrator see happen to points and to the cabinet."""

from datetime import datetime
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Sum

from rewards.catalog import catalog_item_create, catalog_item_update, stock_adjust, stock_receive
from rewards.models import CatalogItem, Redemption, RedemptionLine, StockMovement
from rewards.redemptions import (
    Conflict,
    redemption_approve,
    redemption_cancel,
    redemption_decline,
    redemption_handover,
    redemption_request,
)
from rewards.selectors import low_stock_items, stock_reconciliation
from tests.factories import UserFactory
from vouchers import adjustments, selectors
from vouchers.models import LedgerEntry, Wallet

pytestmark = pytest.mark.django_db


def credit(patient, cents, actor):
    adjustments.ledger_adjust(
        patient=patient, amount_cents=cents, reason="test credit", actor=actor
    )


def balance(patient) -> int:
    return Wallet.objects.get(patient=patient).balance_cents


def stock(item) -> int | None:
    return CatalogItem.objects.get(pk=item.pk).stock


def snapshot(patient, *items):
    """Everything a refused request must leave untouched."""
    return (
        Redemption.objects.count(),
        RedemptionLine.objects.count(),
        LedgerEntry.objects.count(),
        StockMovement.objects.count(),
        balance(patient),
        [stock(i) for i in items],
    )


def assert_ledgers_agree():
    assert selectors.ledger_verify() == []
    for item in CatalogItem.objects.filter(stock__isnull=False):
        moved = item.movements.aggregate(s=Sum("quantity"))["s"] or 0
        assert item.stock == moved, item


@pytest.fixture
def bus_pass(clinic, clinic_admin):
    return catalog_item_create(
        clinic=clinic,
        name="Bus pass",
        price_cents=1500,
        category=CatalogItem.Category.TRANSPORT,
        stock=5,
        actor=clinic_admin,
    )


@pytest.fixture
def grocery_card(clinic, clinic_admin):
    """A gift card the clinic buys on demand: unlimited."""
    return catalog_item_create(
        clinic=clinic,
        name="Grocery card",
        price_cents=1000,
        category=CatalogItem.Category.GROCERIES,
        actor=clinic_admin,
    )


@pytest.fixture
def funded(patient, counselor):
    credit(patient, 10_000, counselor)
    return patient


# --- catalog and stock ------------------------------------------------------------------------


def test_a_new_item_with_stock_opens_its_stock_ledger(bus_pass, clinic_admin):
    (movement,) = bus_pass.movements.all()
    assert (movement.kind, movement.quantity, movement.by) == ("received", 5, clinic_admin)
    assert bus_pass.stock == 5
    assert_ledgers_agree()


def test_an_unlimited_item_has_no_stock_ledger(grocery_card):
    assert grocery_card.stock is None
    assert not grocery_card.movements.exists()


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"name": "  "}, "name"),
        ({"price_cents": -1}, "price_cents"),
        ({"price_cents": 2.5}, "price_cents"),
        ({"price_cents": "100"}, "price_cents"),
        ({"stock": -1}, "stock"),
        ({"stock": 1.5}, "stock"),
        ({"prize_tier": "huge"}, "prize_tier"),
        ({"category": "cars"}, "category"),
        ({"low_stock_at": -2}, "low_stock_at"),
    ],
)
def test_a_bad_item_is_refused_and_nothing_is_saved(clinic, clinic_admin, fields, field):
    given = {"clinic": clinic, "name": "Socks", "price_cents": 300, "actor": clinic_admin}
    with pytest.raises(ValidationError) as error:
        catalog_item_create(**{**given, **fields})
    assert field in error.value.message_dict
    assert not CatalogItem.objects.exists()


def test_an_item_is_edited_and_retired_but_its_stock_is_not_edited(bus_pass, clinic_admin):
    catalog_item_update(item=bus_pass, actor=clinic_admin, price_cents=1800, is_active=False)
    bus_pass.refresh_from_db()
    assert (bus_pass.price_cents, bus_pass.is_active) == (1800, False)
    with pytest.raises(ValidationError) as error:
        catalog_item_update(item=bus_pass, actor=clinic_admin, stock=50)
    assert "stock" in error.value.message_dict
    assert stock(bus_pass) == 5


def test_restocking_records_who_received_it(bus_pass, clinic_admin):
    assert stock_receive(item=bus_pass, quantity=10, actor=clinic_admin, reason="March order") == 15
    last = bus_pass.movements.last()
    assert (last.kind, last.quantity, last.by, last.reason) == (
        "received",
        10,
        clinic_admin,
        "March order",
    )
    assert_ledgers_agree()


@pytest.mark.parametrize("quantity", [0, -3, 1.5])
def test_restocking_needs_a_positive_quantity(bus_pass, clinic_admin, quantity):
    with pytest.raises(ValidationError) as error:
        stock_receive(item=bus_pass, quantity=quantity, actor=clinic_admin)
    assert "quantity" in error.value.message_dict
    assert stock(bus_pass) == 5


def test_an_unlimited_item_cannot_be_restocked(grocery_card, clinic_admin):
    with pytest.raises(ValidationError) as error:
        stock_receive(item=grocery_card, quantity=3, actor=clinic_admin)
    assert "stock" in error.value.message_dict
    assert not StockMovement.objects.filter(item=grocery_card).exists()


def test_a_stock_adjustment_needs_a_reason(bus_pass, clinic_admin):
    with pytest.raises(ValidationError) as error:
        stock_adjust(item=bus_pass, quantity=-1, reason=" ", actor=clinic_admin)
    assert "reason" in error.value.message_dict
    assert bus_pass.movements.count() == 1


def test_a_stock_adjustment_never_takes_stock_below_zero(bus_pass, clinic_admin):
    with pytest.raises(Conflict) as error:
        stock_adjust(item=bus_pass, quantity=-6, reason="count", actor=clinic_admin)
    assert "stock" in error.value.message_dict
    assert stock_adjust(item=bus_pass, quantity=-5, reason="water damage", actor=clinic_admin) == 0
    assert stock_adjust(item=bus_pass, quantity=2, reason="found two", actor=clinic_admin) == 2
    assert_ledgers_agree()


# --- the life of a redemption --------------------------------------------------------------------


def test_a_request_holds_the_points_and_the_stock_at_once(funded, bus_pass, patient_user):
    redemption = redemption_request(
        patient=funded, items=[(bus_pass, 2)], requested_by=patient_user
    )
    assert (redemption.status, redemption.total_cents) == ("requested", 3000)
    assert balance(funded) == 7000
    (entry,) = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REDEEM)
    assert (entry.amount_cents, entry.redemption_id, entry.created_by) == (
        -3000,
        redemption.pk,
        patient_user,
    )
    assert stock(bus_pass) == 3
    issued = bus_pass.movements.get(kind="issued")
    assert (issued.quantity, issued.redemption) == (-2, redemption)
    line = redemption.lines.get()
    assert (line.item, line.quantity, line.price_cents) == (bus_pass, 2, 1500)
    assert_ledgers_agree()


def test_a_request_takes_items_by_id_and_adds_up_repeats(funded, bus_pass, grocery_card, counselor):
    redemption = redemption_request(
        patient=funded,
        items=[(bus_pass.pk, 1), (grocery_card, 2), (bus_pass, 1)],
        requested_by=counselor,
    )
    assert redemption.total_cents == 2 * 1500 + 2 * 1000
    assert {(li.item_id, li.quantity) for li in redemption.lines.all()} == {
        (bus_pass.pk, 2),
        (grocery_card.pk, 2),
    }
    assert stock(bus_pass) == 3


@pytest.mark.parametrize(
    "lines",
    [[(1, 100)], [(1, 50), (1, 50)], [(1, 2_147_483_647), (1, 2_147_483_647)]],
    ids=["one line of 100", "50 and 50", "two of the database's largest integer"],
)
def test_more_than_99_of_one_item_is_refused_counted_after_adding_up_lines(
    funded, grocery_card, counselor, lines
):
    items = [(grocery_card, quantity) for _item, quantity in lines]

    with pytest.raises(ValidationError) as error:
        redemption_request(patient=funded, items=items, requested_by=counselor)

    assert error.value.message_dict == {"items": ["At most 99 of one item in one request."]}
    assert not Redemption.objects.exists()
    assert balance(funded) == 10000


def test_approve_then_hand_over_records_who_and_when(funded, bus_pass, counselor, clinic_admin):
    redemption = redemption_request(patient=funded, items=[(bus_pass, 1)], requested_by=counselor)
    redemption_approve(redemption=redemption, actor=counselor)
    assert redemption.status == "approved"
    redemption_handover(redemption=redemption, actor=clinic_admin)
    redemption.refresh_from_db()
    assert redemption.status == "handed_over"
    assert (redemption.decided_by, redemption.handed_over_by) == (counselor, clinic_admin)
    assert redemption.requested_at <= redemption.decided_at <= redemption.handed_over_at
    # Handing over moves nothing more: points and stock were taken at request.
    assert (balance(funded), stock(bus_pass)) == (8500, 4)
    assert_ledgers_agree()


@pytest.mark.parametrize("approve_first", [False, True])
def test_a_decline_with_a_reason_refunds_exactly_and_returns_the_stock(
    funded, bus_pass, grocery_card, counselor, approve_first
):
    redemption = redemption_request(
        patient=funded, items=[(bus_pass, 3), (grocery_card, 1)], requested_by=counselor
    )
    if approve_first:
        redemption_approve(redemption=redemption, actor=counselor)
    redemption_decline(redemption=redemption, actor=counselor, reason=" Not a treatment goal ")
    redemption.refresh_from_db()
    assert (redemption.status, redemption.decision_reason) == ("declined", "Not a treatment goal")
    assert redemption.decided_by == counselor
    assert (balance(funded), stock(bus_pass)) == (10_000, 5)
    refund = LedgerEntry.objects.get(kind=LedgerEntry.Kind.REFUND)
    assert (refund.amount_cents, refund.redemption_id) == (5500, redemption.pk)
    returned = bus_pass.movements.get(kind="returned")
    assert (returned.quantity, returned.redemption, returned.by) == (3, redemption, counselor)
    assert not grocery_card.movements.exists()
    assert_ledgers_agree()


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_decline_without_a_reason_is_refused(funded, bus_pass, counselor, reason):
    redemption = redemption_request(patient=funded, items=[(bus_pass, 1)], requested_by=counselor)
    with pytest.raises(ValidationError) as error:
        redemption_decline(redemption=redemption, actor=counselor, reason=reason)
    assert "reason" in error.value.message_dict
    redemption.refresh_from_db()
    assert redemption.status == "requested"
    assert balance(funded) == 8500


def test_the_patient_cancels_their_own_request_and_gets_the_points_back(
    funded, bus_pass, patient_user
):
    redemption = redemption_request(
        patient=funded, items=[(bus_pass, 1)], requested_by=patient_user
    )
    redemption_cancel(redemption=redemption, actor=patient_user)
    assert redemption.status == "cancelled"
    assert redemption.decided_by == patient_user
    assert (balance(funded), stock(bus_pass)) == (10_000, 5)
    assert LedgerEntry.objects.get(kind="refund").amount_cents == 1500
    assert_ledgers_agree()


def test_staff_cancel_an_approved_request_but_the_patient_cannot(
    funded, bus_pass, patient_user, counselor
):
    redemption = redemption_request(
        patient=funded, items=[(bus_pass, 1)], requested_by=patient_user
    )
    redemption_approve(redemption=redemption, actor=counselor)
    with pytest.raises(Conflict) as error:
        redemption_cancel(redemption=redemption, actor=patient_user)
    assert "status" in error.value.message_dict
    redemption_cancel(redemption=redemption, actor=counselor)
    assert (redemption.status, balance(funded)) == ("cancelled", 10_000)


def test_a_patient_cannot_cancel_another_patients_request(
    funded, bus_pass, counselor, other_patient
):
    redemption = redemption_request(patient=funded, items=[(bus_pass, 1)], requested_by=counselor)
    with pytest.raises(PermissionDenied):
        redemption_cancel(redemption=redemption, actor=other_patient.user)
    redemption.refresh_from_db()
    assert redemption.status == "requested"


def test_a_counselor_of_another_clinic_cannot_cancel(funded, bus_pass, counselor, other_counselor):
    redemption = redemption_request(patient=funded, items=[(bus_pass, 1)], requested_by=counselor)
    with pytest.raises(PermissionDenied):
        redemption_cancel(redemption=redemption, actor=other_counselor)


def _approve(r, who):
    redemption_approve(redemption=r, actor=who)


def _decline(r, who):
    redemption_decline(redemption=r, actor=who, reason="not now")


def _cancel(r, who):
    redemption_cancel(redemption=r, actor=who)


def _handover(r, who):
    redemption_handover(redemption=r, actor=who)


# (how the request got where it is, the step that is then refused)
STALE = [
    ([_approve], _approve),  # a double-click
    ([], _handover),  # handed over before approval
    ([_cancel], _approve),
    ([_cancel], _cancel),
    ([_cancel], _decline),
    ([_decline], _decline),
    ([_decline], _approve),
    ([_decline], _handover),
    ([_approve, _handover], _cancel),
    ([_approve, _handover], _decline),
    ([_approve, _handover], _handover),
]


@pytest.mark.parametrize(
    "before, step", STALE, ids=["-".join(f.__name__ for f in [*b, s]) for b, s in STALE]
)
def test_a_step_that_no_longer_fits_the_status_is_a_conflict_and_changes_nothing(
    funded, bus_pass, counselor, before, step
):
    redemption = redemption_request(patient=funded, items=[(bus_pass, 1)], requested_by=counselor)
    for done in before:
        done(redemption, counselor)
    was = snapshot(funded, bus_pass)
    with pytest.raises(Conflict) as error:
        step(redemption, counselor)
    assert "status" in error.value.message_dict
    assert snapshot(funded, bus_pass) == was
    assert_ledgers_agree()


def test_a_stale_copy_is_checked_against_the_database(funded, bus_pass, counselor):
    """Two counselors with the same page open: the second click sees the first one's decision."""
    redemption = redemption_request(patient=funded, items=[(bus_pass, 1)], requested_by=counselor)
    stale = Redemption.objects.get(pk=redemption.pk)
    redemption_cancel(redemption=redemption, actor=counselor)
    with pytest.raises(Conflict):
        redemption_approve(redemption=stale, actor=counselor)
    assert Redemption.objects.get(pk=redemption.pk).status == "cancelled"


# --- what a request cannot do ---------------------------------------------------------------------


def test_spending_more_than_the_balance_is_a_conflict_and_writes_nothing(
    patient, bus_pass, counselor
):
    credit(patient, 2999, counselor)
    was = snapshot(patient, bus_pass)
    with pytest.raises(Conflict) as error:
        redemption_request(patient=patient, items=[(bus_pass, 2)], requested_by=counselor)
    assert "balance" in error.value.message_dict
    assert snapshot(patient, bus_pass) == was


def test_asking_for_more_than_is_in_stock_is_a_conflict_and_writes_nothing(
    funded, bus_pass, grocery_card, counselor
):
    was = snapshot(funded, bus_pass, grocery_card)
    with pytest.raises(Conflict) as error:
        redemption_request(
            patient=funded, items=[(grocery_card, 1), (bus_pass, 6)], requested_by=counselor
        )
    assert "stock" in error.value.message_dict
    assert snapshot(funded, bus_pass, grocery_card) == was


def test_the_last_one_can_be_had_and_then_none(funded, bus_pass, counselor):
    redemption_request(patient=funded, items=[(bus_pass, 5)], requested_by=counselor)
    assert stock(bus_pass) == 0
    with pytest.raises(Conflict):
        redemption_request(patient=funded, items=[(bus_pass, 1)], requested_by=counselor)


def test_an_unlimited_item_never_runs_out(patient, grocery_card, counselor):
    credit(patient, 100 * 1000, counselor)
    for _ in range(4):
        redemption_request(patient=patient, items=[(grocery_card, 25)], requested_by=counselor)
    assert balance(patient) == 0
    assert stock(grocery_card) is None
    assert not StockMovement.objects.exists()
    assert_ledgers_agree()


@pytest.fixture
def elsewhere(other_clinic, other_counselor):
    return catalog_item_create(
        clinic=other_clinic, name="Phone minutes", price_cents=500, actor=other_counselor
    )


@pytest.fixture
def retired(clinic, clinic_admin):
    item = catalog_item_create(clinic=clinic, name="Old mug", price_cents=200, actor=clinic_admin)
    return catalog_item_update(item=item, actor=clinic_admin, is_active=False)


@pytest.fixture
def prize(clinic, clinic_admin):
    return catalog_item_create(
        clinic=clinic,
        name="Water bottle",
        price_cents=500,
        prize_tier="small",
        stock=4,
        actor=clinic_admin,
    )


@pytest.mark.parametrize(
    "items, field",
    [
        ("elsewhere", "items"),
        ("retired", "items"),
        ("prize", "items"),
        ([], "items"),
        ([(999_999, 1)], "items"),
        (["bus pass"], "items"),
        ([("bus_pass", 0)], "quantity"),
        ([("bus_pass", -1)], "quantity"),
        ([("bus_pass", 1.0)], "quantity"),
    ],
    ids=[
        "another-clinics-item",
        "retired-item",
        "prize-tier-item",
        "nothing",
        "unknown-item",
        "no-quantity",
        "zero",
        "negative",
        "not-a-whole-number",
    ],
)
def test_a_bad_request_is_refused_and_writes_nothing(
    request, funded, bus_pass, counselor, items, field
):
    if isinstance(items, str):
        items = [(request.getfixturevalue(items), 1)]
    items = [(bus_pass, e[1]) if isinstance(e, tuple) and e[0] == "bus_pass" else e for e in items]
    was = snapshot(funded, bus_pass)
    with pytest.raises(ValidationError) as error:
        redemption_request(patient=funded, items=items, requested_by=counselor)
    assert not isinstance(error.value, Conflict)
    assert field in error.value.message_dict
    assert snapshot(funded, bus_pass) == was


def test_a_repeated_key_returns_the_first_request_and_charges_once(funded, bus_pass, patient_user):
    first = redemption_request(
        patient=funded, items=[(bus_pass, 1)], requested_by=patient_user, idempotency_key="tap-1"
    )
    again = redemption_request(
        patient=funded, items=[(bus_pass, 1)], requested_by=patient_user, idempotency_key="tap-1"
    )
    assert again.pk == first.pk
    assert Redemption.objects.count() == 1
    assert (balance(funded), stock(bus_pass)) == (8500, 4)


def test_a_key_used_for_another_patient_is_refused(funded, other_patient, bus_pass, counselor):
    redemption_request(
        patient=funded, items=[(bus_pass, 1)], requested_by=counselor, idempotency_key="k-9"
    )
    credit(other_patient, 5000, counselor)
    with pytest.raises(ValidationError) as error:
        redemption_request(
            patient=other_patient,
            items=[(bus_pass, 1)],
            requested_by=counselor,
            idempotency_key="k-9",
        )
    assert "idempotency_key" in error.value.message_dict
    assert balance(other_patient) == 5000


def test_after_everything_the_wallets_and_the_cabinet_match_their_ledgers(
    funded, other_patient, bus_pass, grocery_card, counselor, clinic_admin
):
    credit(other_patient, 6000, counselor)
    a = redemption_request(patient=funded, items=[(bus_pass, 2)], requested_by=counselor)
    b = redemption_request(
        patient=other_patient, items=[(bus_pass, 1), (grocery_card, 3)], requested_by=counselor
    )
    c = redemption_request(patient=funded, items=[(grocery_card, 1)], requested_by=counselor)
    stock_receive(item=bus_pass, quantity=4, actor=clinic_admin)
    redemption_approve(redemption=a, actor=counselor)
    redemption_handover(redemption=a, actor=counselor)
    redemption_decline(redemption=b, actor=counselor, reason="no")
    redemption_cancel(redemption=c, actor=counselor)
    stock_adjust(item=bus_pass, quantity=-1, reason="torn", actor=clinic_admin)
    assert (balance(funded), balance(other_patient)) == (7000, 6000)
    assert stock(bus_pass) == 5 - 2 + 4 - 1
    assert_ledgers_agree()


# --- selectors ------------------------------------------------------------------------------------


def test_the_low_stock_list_shows_active_tracked_items_at_or_below_their_level(
    clinic, other_clinic, clinic_admin
):
    def make(name, stock, low=3, active=True, where=clinic):
        item = catalog_item_create(
            clinic=where,
            name=name,
            price_cents=100,
            stock=stock,
            low_stock_at=low,
            actor=clinic_admin,
        )
        if not active:
            catalog_item_update(item=item, actor=clinic_admin, is_active=False)
        return item

    empty = make("Empty", 0)
    at_level = make("At level", 3)
    make("Above", 4)
    make("Unlimited", None)
    make("Retired", 0, active=False)
    make("Elsewhere", 0, where=other_clinic)
    custom = make("Custom level", 9, low=10)
    assert low_stock_items(clinic=clinic) == [empty, at_level, custom]


def test_the_monthly_reconciliation_adds_up(clinic, patient, patient_user, counselor, clinic_admin):
    """March 2026 in Chicago: receipts, issues, a return and an adjustment."""
    restocker = UserFactory(username="rory", first_name="Rory", last_name="Reyes")
    chicago = ZoneInfo("America/Chicago")

    def on(month, day, hour=10, minute=0):
        return mock.patch(
            "django.utils.timezone.now",
            return_value=datetime(2026, month, day, hour, minute, tzinfo=chicago),
        )

    with on(2, 20):
        credit(patient, 50_000, counselor)
        socks = catalog_item_create(
            clinic=clinic, name="Socks", price_cents=400, stock=10, actor=clinic_admin
        )
        card = catalog_item_create(clinic=clinic, name="Card", price_cents=2000, actor=clinic_admin)
    with on(2, 25):
        redemption_request(patient=patient, items=[(socks, 2)], requested_by=patient_user)
    with on(3, 3):
        stock_receive(item=socks, quantity=5, actor=restocker)
    with on(3, 5):
        given = redemption_request(patient=patient, items=[(socks, 3)], requested_by=patient_user)
        redemption_request(patient=patient, items=[(card, 1)], requested_by=patient_user)
        redemption_approve(redemption=given, actor=counselor)
    with on(3, 6):
        redemption_handover(redemption=given, actor=counselor)
    with on(3, 10):
        refused = redemption_request(patient=patient, items=[(socks, 1)], requested_by=counselor)
        redemption_decline(redemption=refused, actor=counselor, reason="has enough socks")
    with on(3, 12):
        stock_adjust(item=socks, quantity=-1, reason="torn", actor=clinic_admin)
    with on(3, 31, 23, 30):  # still March in Chicago, April in UTC
        stock_receive(item=socks, quantity=2, actor=clinic_admin)
    with on(4, 1, 1):
        waiting = redemption_request(patient=patient, items=[(socks, 1)], requested_by=patient_user)

    (february,) = stock_reconciliation(clinic=clinic, year=2026, month=2)
    (march,) = stock_reconciliation(clinic=clinic, year=2026, month=3)
    (april,) = stock_reconciliation(clinic=clinic, year=2026, month=4)
    assert march.item == socks
    assert (march.opening, march.received, march.issued, march.adjusted, march.closing) == (
        8,
        7,
        3,
        -1,
        11,
    )
    assert march.closing == march.opening + march.received - march.issued + march.adjusted
    assert march.issued_value_cents == 3 * 400
    assert march.issued_by == ["casey"]  # handed over; the declined request issued nothing
    assert march.restocked_by == ["Rory Reyes", "ada"]
    assert february.closing == march.opening
    assert (february.opening, february.received, february.issued) == (0, 10, 2)
    assert february.issued_by == ["pat"]  # requested, not yet handed over
    assert (april.opening, april.issued, april.closing) == (11, 1, 10)
    assert april.closing == stock(socks)
    assert waiting.status == "requested"
    assert_ledgers_agree()
