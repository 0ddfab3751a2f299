"""Two kiosks (or a retry racing its original) post the same redemption request with the same
idempotency key at once, on PostgreSQL with real connections: one answer is 201, the other 200,
and the points are held once. The service decides the replay under the wallet lock; the view
only maps its answer to a status code."""

import threading
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest
from django.db import connection

from rewards import redemptions
from rewards.models import CatalogItem, Redemption
from tests.api.conftest import client_for
from vouchers.models import LedgerEntry, Wallet

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

URL = "/api/v1/redemptions/"


def test_two_concurrent_requests_with_one_key_answer_201_and_200_and_hold_once(
    counselor, patient, clinic, negative
):
    bus_pass = CatalogItem.objects.create(clinic=clinic, name="Bus pass", price_cents=100)
    balance = Wallet.objects.get(patient=patient).balance_cents
    payload = {
        "patient": patient.id,
        "items": [{"item": bus_pass.id, "quantity": 1}],
        "idempotency_key": "kiosk-7",
    }
    clients = [client_for(counselor), client_for(counselor)]
    barrier = threading.Barrier(2)
    real_lock = redemptions.wallet_lock

    def slow_lock(**kwargs):
        # Hold the wallet a moment so the twin's first look for the key happens before the
        # first request commits: the window a check outside the lock cannot see.
        wallet = real_lock(**kwargs)
        threading.Event().wait(0.3)
        return wallet

    def post(n):
        try:
            barrier.wait(timeout=30)
            return clients[n].post(URL, payload, format="json")
        finally:
            connection.close()

    with mock.patch.object(redemptions, "wallet_lock", slow_lock):
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(pool.map(post, range(2)))

    assert sorted(a.status_code for a in answers) == [200, 201]
    assert answers[0].json() == answers[1].json()
    assert Redemption.objects.count() == 1
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REDEEM).count() == 1
    assert Wallet.objects.get(patient=patient).balance_cents == balance - 100
