"""Redemptions with real concurrent connections on PostgreSQL: thirty phones tapping "request" at
once. Whatever the interleaving, points are spent once, the last item goes to one patient, a
retried request is charged once, and neither a balance nor a stock ever goes below zero.

Each thread has its own connection and closes it when done; a Barrier starts them together.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.db.models import Sum

from cmtracker.exceptions import Conflict
from rewards.catalog import catalog_item_create
from rewards.models import CatalogItem, Redemption, StockMovement
from rewards.redemptions import redemption_request
from tests.factories import PatientFactory
from vouchers import adjustments, selectors
from vouchers.models import LedgerEntry, Wallet

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

THREADS = 30


def concurrently(work, count=THREADS):
    """work(n) for n in range(count), in `count` threads released together; each result or the
    exception raised."""
    barrier = threading.Barrier(count)

    def one(n):
        try:
            barrier.wait(timeout=30)
            return work(n)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(one, n) for n in range(count)]
        outcomes = []
        for future in futures:
            try:
                outcomes.append(future.result(timeout=60))
            except Exception as error:  # judged by the test
                outcomes.append(error)
    return outcomes


def split(outcomes):
    done = [o for o in outcomes if isinstance(o, Redemption)]
    conflicts = [o for o in outcomes if isinstance(o, Conflict)]
    others = [o for o in outcomes if not isinstance(o, (Redemption, Conflict))]
    return done, conflicts, others


def assert_ledgers_agree(patient, item=None):
    assert selectors.ledger_verify() == []
    wallet = Wallet.objects.get(patient=patient)
    assert wallet.balance_cents >= 0
    assert (
        wallet.balance_cents
        == LedgerEntry.objects.filter(patient=patient).aggregate(s=Sum("amount_cents"))["s"]
    )
    if item is not None:
        item.refresh_from_db()
        assert item.stock >= 0
        assert item.stock == item.movements.aggregate(s=Sum("quantity"))["s"]


@pytest.fixture
def credit(counselor):
    def give(patient, cents):
        adjustments.ledger_adjust(
            patient=patient, amount_cents=cents, reason="test credit", actor=counselor
        )

    return give


def test_thirty_requests_for_a_balance_that_covers_one_succeed_once(
    clinic, patient, counselor, clinic_admin, credit
):
    card = catalog_item_create(
        clinic=clinic, name="Grocery card", price_cents=2000, actor=clinic_admin
    )
    credit(patient, 3000)  # one card, not two

    outcomes = concurrently(
        lambda n: redemption_request(patient=patient, items=[(card, 1)], requested_by=counselor)
    )

    done, conflicts, others = split(outcomes)
    assert others == []
    assert (len(done), len(conflicts)) == (1, THREADS - 1)
    assert all("balance" in c.message_dict for c in conflicts)
    assert Redemption.objects.count() == 1
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REDEEM).count() == 1
    assert Wallet.objects.get(patient=patient).balance_cents == 1000
    assert_ledgers_agree(patient)


def test_thirty_requests_for_the_last_item_in_stock_succeed_once(
    clinic, patient, counselor, clinic_admin, credit
):
    radio = catalog_item_create(
        clinic=clinic, name="Radio", price_cents=1000, stock=1, actor=clinic_admin
    )
    credit(patient, THREADS * 1000)  # enough for all: only the stock can stop them

    outcomes = concurrently(
        lambda n: redemption_request(patient=patient, items=[(radio, 1)], requested_by=counselor)
    )

    done, conflicts, others = split(outcomes)
    assert others == []
    assert (len(done), len(conflicts)) == (1, THREADS - 1)
    assert all("stock" in c.message_dict for c in conflicts)
    assert CatalogItem.objects.get(pk=radio.pk).stock == 0
    assert StockMovement.objects.filter(item=radio, kind="issued").count() == 1
    assert Wallet.objects.get(patient=patient).balance_cents == (THREADS - 1) * 1000
    assert_ledgers_agree(patient, radio)


def test_thirty_retries_of_one_request_make_one_redemption_charged_once(
    clinic, patient, patient_user, clinic_admin, credit
):
    socks = catalog_item_create(
        clinic=clinic, name="Socks", price_cents=500, stock=40, actor=clinic_admin
    )
    credit(patient, 10_000)

    outcomes = concurrently(
        lambda n: redemption_request(
            patient=patient,
            items=[(socks, 2)],
            requested_by=patient_user,
            idempotency_key="phone-tap-42",
        )
    )

    done, conflicts, others = split(outcomes)
    assert (others, conflicts) == ([], [])
    assert len({r.pk for r in done}) == 1
    assert Redemption.objects.count() == 1
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REDEEM).count() == 1
    assert Wallet.objects.get(patient=patient).balance_cents == 9000
    assert CatalogItem.objects.get(pk=socks.pk).stock == 38
    assert_ledgers_agree(patient, socks)


def test_thirty_patients_asking_for_the_last_item_at_once_get_it_once(
    clinic, counselor, clinic_admin, credit
):
    """Different patients hold different wallet locks: only the item's row lock stands between
    them."""
    radio = catalog_item_create(
        clinic=clinic, name="Radio", price_cents=1000, stock=1, actor=clinic_admin
    )
    patients = [PatientFactory(clinic=clinic) for _ in range(THREADS)]
    for patient in patients:
        credit(patient, 1000)

    outcomes = concurrently(
        lambda n: redemption_request(
            patient=patients[n], items=[(radio, 1)], requested_by=counselor
        )
    )

    done, conflicts, others = split(outcomes)
    assert others == []
    assert (len(done), len(conflicts)) == (1, THREADS - 1)
    assert all("stock" in c.message_dict for c in conflicts)
    assert sorted(Wallet.objects.values_list("balance_cents", flat=True)) == [0] + [1000] * (
        THREADS - 1
    )
    assert_ledgers_agree(done[0].patient, radio)
