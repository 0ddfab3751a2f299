"""Random sequences of what happens at the counter: points earned, requests, approvals, declines,
cancels, hand-overs, restocks and stock counts, on a few items and one patient with a starting
balance.

The machine keeps its own model of the balance, the stock and each request's status, and after
every step checks: the wallet equals its ledger and the model and is never negative; each tracked
item's stock equals its stock ledger and the model and is never negative. A Conflict (not enough
points, out of stock, a step the status no longer allows) is an expected answer, and the machine
predicts exactly when it comes.

Each example runs in its own savepoint, rolled back at teardown, inside a
hypothesis.extra.django.TestCase.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from rewards.catalog import catalog_item_create, stock_adjust, stock_receive
from rewards.models import CatalogItem, Redemption
from rewards.redemptions import (
    Conflict,
    redemption_approve,
    redemption_cancel,
    redemption_decline,
    redemption_handover,
    redemption_request,
)
from tests.factories import ClinicFactory, MembershipFactory, PatientFactory, UserFactory
from vouchers import adjustments
from vouchers.models import LedgerEntry
from vouchers.selectors import wallet_get

# name: (price in cents, opening stock or None for unlimited)
CATALOG = {"socks": (500, 6), "radio": (1200, 2), "bus card": (300, None)}
NAMES = sorted(CATALOG)
REQUESTED, APPROVED = Redemption.Status.REQUESTED, Redemption.Status.APPROVED
OPEN = (REQUESTED, APPROVED)

lines = st.lists(st.tuples(st.sampled_from(NAMES), st.integers(1, 2)), min_size=1, max_size=2)
keys = st.one_of(st.none(), st.sampled_from(["tap-1", "tap-2", "tap-3"]))
picks = st.integers(0, 2)  # which request, counted from the latest: steps pile onto a few


class RedemptionMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        clinic = ClinicFactory(slug="machine")
        self.counselor = UserFactory(username="machine-counselor")
        MembershipFactory(user=self.counselor, clinic=clinic, role="counselor")
        self.patient_user = UserFactory(username="machine-patient")
        self.patient = PatientFactory(clinic=clinic, user=self.patient_user)
        self.items = {
            name: catalog_item_create(
                clinic=clinic, name=name, price_cents=price, stock=stock, actor=self.counselor
            )
            for name, (price, stock) in CATALOG.items()
        }
        # The model: what the database must say.
        self.balance = 0
        self.stock = {name: stock for name, (_, stock) in CATALOG.items()}
        self.redemptions: list[tuple[Redemption, dict]] = []  # (a possibly stale copy, model)
        self.by_key: dict[str, int] = {}

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    @initialize(cents=st.integers(0, 10_000))
    def credit(self, cents):
        if cents:
            adjustments.ledger_adjust(
                patient=self.patient, amount_cents=cents, reason="test credit", actor=self.counselor
            )
        self.balance = cents

    # --- steps ---------------------------------------------------------------------------------

    @rule(cents=st.integers(1, 3_000))
    def earn(self, cents):
        adjustments.ledger_adjust(
            patient=self.patient, amount_cents=cents, reason="test credit", actor=self.counselor
        )
        self.balance += cents

    @rule(wanted=lines, key=keys, by_patient=st.booleans())
    def request(self, wanted, key, by_patient):
        quantities: dict[str, int] = {}
        for name, quantity in wanted:
            quantities[name] = quantities.get(name, 0) + quantity
        total = sum(CATALOG[name][0] * q for name, q in quantities.items())
        call = lambda: redemption_request(  # noqa: E731
            patient=self.patient,
            items=[(self.items[name], q) for name, q in wanted],
            requested_by=self.patient_user if by_patient else self.counselor,
            idempotency_key=key,
        )
        if key in self.by_key:
            assert call().pk == self.by_key[key]  # a replay: nothing moves
            return
        if total > self.balance:
            self._expect_conflict(call, "balance")
            return
        if any(self.stock[n] is not None and self.stock[n] < q for n, q in quantities.items()):
            self._expect_conflict(call, "stock")
            return
        redemption = call()
        assert redemption.total_cents == total
        self.balance -= total
        for name, quantity in quantities.items():
            if self.stock[name] is not None:
                self.stock[name] -= quantity
        model = {"status": REQUESTED, "total": total, "lines": quantities}
        self.redemptions.append((redemption, model))
        if key:
            self.by_key[key] = redemption.pk

    def _pick(self, pick):
        return self.redemptions[-1 - pick % len(self.redemptions)]

    def _step(self, pick, allowed, to, call, refund=False):
        redemption, model = self._pick(pick)
        if model["status"] not in allowed:
            self._expect_conflict(lambda: call(redemption), "status")
            return
        call(redemption)
        model["status"] = to
        if refund:
            self.balance += model["total"]
            for name, quantity in model["lines"].items():
                if self.stock[name] is not None:
                    self.stock[name] += quantity

    @precondition(lambda self: self.redemptions)
    @rule(pick=picks)
    def approve(self, pick):
        self._step(
            pick,
            (REQUESTED,),
            APPROVED,
            lambda r: redemption_approve(redemption=r, actor=self.counselor),
        )

    @precondition(lambda self: self.redemptions)
    @rule(pick=picks)
    def decline(self, pick):
        self._step(
            pick,
            OPEN,
            Redemption.Status.DECLINED,
            lambda r: redemption_decline(redemption=r, actor=self.counselor, reason="not a goal"),
            refund=True,
        )

    @precondition(lambda self: self.redemptions)
    @rule(pick=picks, by_patient=st.booleans())
    def cancel(self, pick, by_patient):
        actor = self.patient_user if by_patient else self.counselor
        self._step(
            pick,
            (REQUESTED,) if by_patient else OPEN,
            Redemption.Status.CANCELLED,
            lambda r: redemption_cancel(redemption=r, actor=actor),
            refund=True,
        )

    @precondition(lambda self: self.redemptions)
    @rule(pick=picks)
    def handover(self, pick):
        self._step(
            pick,
            (APPROVED,),
            Redemption.Status.HANDED_OVER,
            lambda r: redemption_handover(redemption=r, actor=self.counselor),
        )

    @rule(name=st.sampled_from(NAMES), quantity=st.integers(1, 4))
    def restock(self, name, quantity):
        item = self.items[name]
        if self.stock[name] is None:
            try:
                stock_receive(item=item, quantity=quantity, actor=self.counselor)
            except ValidationError as error:
                assert "stock" in error.message_dict
            else:
                raise AssertionError("an unlimited item was restocked")
            return
        stock_receive(item=item, quantity=quantity, actor=self.counselor)
        self.stock[name] += quantity

    @rule(
        name=st.sampled_from([n for n in NAMES if CATALOG[n][1] is not None]),
        quantity=st.integers(-4, 4).filter(bool),
    )
    def adjust(self, name, quantity):
        call = lambda: stock_adjust(  # noqa: E731
            item=self.items[name], quantity=quantity, reason="counted", actor=self.counselor
        )
        if self.stock[name] + quantity < 0:
            self._expect_conflict(call, "stock")
            return
        call()
        self.stock[name] += quantity

    def _expect_conflict(self, call, field):
        try:
            call()
        except Conflict as error:
            assert field in error.message_dict, error.message_dict
        else:
            raise AssertionError(f"expected a {field} conflict")

    # --- what must always hold ---------------------------------------------------------------

    @invariant()
    def the_wallet_equals_its_ledger_and_the_model(self):
        wallet = wallet_get(patient=self.patient)
        ledger = LedgerEntry.objects.filter(patient=self.patient).aggregate(s=Sum("amount_cents"))
        assert wallet.balance_cents == (ledger["s"] or 0) == self.balance
        assert wallet.balance_cents >= 0

    @invariant()
    def each_stock_equals_its_stock_ledger_and_the_model(self):
        for name, item in self.items.items():
            row = CatalogItem.objects.get(pk=item.pk)
            if row.stock is None:
                assert self.stock[name] is None
                assert not row.movements.exists()
                continue
            moved = row.movements.aggregate(s=Sum("quantity"))["s"] or 0
            assert row.stock == moved == self.stock[name]
            assert row.stock >= 0

    @invariant()
    def each_request_has_the_status_the_model_expects(self):
        statuses = dict(Redemption.objects.filter(patient=self.patient).values_list("pk", "status"))
        assert statuses == {r.pk: model["status"] for r, model in self.redemptions}


class TestRedemptionStateMachine(TestCase):
    def test_balances_and_stock_always_match_their_ledgers(self):
        run_state_machine_as_test(
            RedemptionMachine,
            settings=settings(
                max_examples=25,
                stateful_step_count=20,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
