"""Redemptions: spending points on catalog items, and the counselors' decisions on them.

Lock order, as everywhere: the patient's Wallet first, then catalog items in ascending id order,
then the redemption row. Points and stock are held at request (a REDEEM entry and an `issued`
movement), so the balance and stock shown are what can still be spent or promised; a decline or
a cancel gives both back (a REFUND entry and `returned` movements). The ledger and the stock
ledger are append-only; the Wallet and CatalogItem.stock move alongside them in the same
transaction, so wallet == sum(ledger) and stock == sum(movements).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from cmtracker import audit
from cmtracker.exceptions import Conflict
from cmtracker.inputs import REASON_MAX_LENGTH, text_bounds_check
from patients.models import Patient
from rewards.models import CatalogItem, Redemption, RedemptionLine, StockMovement
from vouchers import notices
from vouchers.ledger import wallet_lock
from vouchers.models import LedgerEntry, Wallet


def _conflict(field: str, message: str) -> Conflict:
    return Conflict({field: message})


# At most this many of one item in one request, counted after lines of the same item are added
# up: a redemption is what a patient takes home from one visit to the desk, so more is a typo (or
# a probe), never a wish. It also keeps quantity × price far inside the database's integers.
MAX_QUANTITY = 99


def _redemption_by_key(patient: Patient, key: str) -> Redemption | None:
    """The redemption made earlier with this key at the patient's clinic. Keys are a clinic's
    own: one used at another clinic is a new key here (no answer tells that it exists there)."""
    found = Redemption.objects.filter(key_clinic_id=patient.clinic_id, idempotency_key=key).first()
    if found is not None and found.patient_id != patient.id:
        raise ValidationError({"idempotency_key": _("This key was used for another patient.")})
    return found


def _wanted(items) -> dict[int, int]:
    """{item id: quantity} from [(item or id, quantity)], or ValidationError."""
    if not items:
        raise ValidationError({"items": _("Choose at least one item.")})
    wanted: dict[int, int] = {}
    for entry in items:
        try:
            item, quantity = entry
        except (TypeError, ValueError):
            raise ValidationError({"items": _("Give each item with a quantity.")}) from None
        item_id = item.pk if isinstance(item, CatalogItem) else item
        if not isinstance(item_id, int) or isinstance(item_id, bool):
            raise ValidationError({"items": _("Unknown item.")})
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise ValidationError({"quantity": _("Give a quantity of one or more.")})
        wanted[item_id] = wanted.get(item_id, 0) + quantity
    if any(quantity > MAX_QUANTITY for quantity in wanted.values()):
        raise ValidationError(
            {"items": _("At most %(n)s of one item in one request.") % {"n": MAX_QUANTITY}}
        )
    return wanted


def _offerable(patient: Patient, catalog: dict[int, CatalogItem], wanted: dict[int, int]):
    for item_id in wanted:
        item = catalog.get(item_id)
        if item is None or item.clinic_id != patient.clinic_id:
            raise ValidationError({"items": _("This item is not in the clinic's catalog.")})
        if not item.is_active:
            raise ValidationError(
                {"items": _("%(name)s is no longer offered.") % {"name": item.name}}
            )
        if item.prize_tier:
            raise ValidationError(
                {"items": _("%(name)s is a prize; it is won, not bought.") % {"name": item.name}}
            )


@dataclass(frozen=True)
class Requested:
    """A redemption request's answer: the redemption, and whether it was made earlier with the
    same idempotency key (a replay charges nothing; the API answers 200 instead of 201)."""

    redemption: Redemption
    replayed: bool


def redemption_request(
    *,
    patient: Patient,
    items: list[tuple[CatalogItem | int, int]],
    requested_by,
    idempotency_key: str | None = None,
) -> Redemption:
    """A patient (or a counselor for them) asks for catalog items; the points are held at once.
    See redemption_request_or_replay, which also says whether the key was seen before."""
    return redemption_request_or_replay(
        patient=patient, items=items, requested_by=requested_by, idempotency_key=idempotency_key
    ).redemption


def redemption_request_or_replay(
    *,
    patient: Patient,
    items: list[tuple[CatalogItem | int, int]],
    requested_by,
    idempotency_key: str | None = None,
) -> Requested:
    """A patient (or a counselor for them) asks for catalog items; the points are held at once.

    1. A repeated idempotency key answers the first redemption, charging nothing again.
    2. Validate: at least one item, quantities of one or more and at most MAX_QUANTITY of an
       item (lines of one item added up), active items of the patient's clinic, no prizes.
    3. In one transaction: lock the wallet, then the items by id; refuse (Conflict) a total above
       the balance or a quantity above a tracked stock; write the redemption and its lines, a
       REDEEM entry of -total, and an `issued` movement per tracked item; move wallet and stock.
    """
    if idempotency_key:
        existing = _redemption_by_key(patient, idempotency_key)
        if existing is not None:
            return Requested(existing, replayed=True)
    wanted = _wanted(items)
    _offerable(patient, CatalogItem.objects.in_bulk(list(wanted)), wanted)
    try:
        with transaction.atomic():
            wallet = wallet_lock(patient=patient)
            if idempotency_key:
                # A twin request may have committed while this one waited for the lock.
                existing = _redemption_by_key(patient, idempotency_key)
                if existing is not None:
                    return Requested(existing, replayed=True)
            catalog = {
                item.pk: item
                for item in CatalogItem.objects.select_for_update()
                .filter(pk__in=list(wanted))
                .order_by("pk")
            }
            _offerable(patient, catalog, wanted)  # re-read under the lock: retired meanwhile?
            total = sum(catalog[i].price_cents * q for i, q in wanted.items())
            if total > wallet.balance_cents:
                raise _conflict(
                    "balance",
                    _("This costs %(total)s points; the balance is %(balance)s.")
                    % {"total": total, "balance": wallet.balance_cents},
                )
            for item_id, quantity in wanted.items():
                item = catalog[item_id]
                if item.stock is not None and item.stock < quantity:
                    raise _conflict(
                        "stock",
                        _("Only %(n)s of %(name)s left.") % {"n": item.stock, "name": item.name},
                    )
            redemption = Redemption.objects.create(
                patient=patient,
                total_cents=total,
                requested_by=requested_by,
                idempotency_key=idempotency_key or None,
                key_clinic_id=patient.clinic_id if idempotency_key else None,
            )
            lines = RedemptionLine.objects.bulk_create(
                RedemptionLine(
                    redemption=redemption,
                    item=catalog[i],
                    quantity=q,
                    price_cents=catalog[i].price_cents,
                )
                for i, q in wanted.items()
            )
            audit.created(lines)
            LedgerEntry.objects.create(
                patient=patient,
                kind=LedgerEntry.Kind.REDEEM,
                amount_cents=-total,
                redemption_id=redemption.pk,
                created_by=requested_by,
            )
            wallet.balance_cents -= total
            wallet.save()
            stock_changes = []
            for item_id, quantity in sorted(wanted.items()):
                if catalog[item_id].stock is None:
                    continue
                StockMovement.objects.create(
                    item_id=item_id,
                    kind=StockMovement.Kind.ISSUED,
                    quantity=-quantity,
                    redemption=redemption,
                    by=requested_by,
                )
                CatalogItem.objects.filter(pk=item_id).update(stock=F("stock") - quantity)
                stock = catalog[item_id].stock
                stock_changes.append((catalog[item_id], {"stock": [stock, stock - quantity]}))
            audit.changed(stock_changes)
    except IntegrityError:
        # A concurrent request with the same key won the race; answer with its redemption.
        existing = idempotency_key and _redemption_by_key(patient, idempotency_key)
        if not existing:
            raise
        return Requested(existing, replayed=True)
    return Requested(redemption, replayed=False)


def _transition(redemption: Redemption, allowed: tuple[str, ...], refused: str):
    """Lock the wallet, then the redemption; re-check its status inside the lock, so a
    double-click or an approve after a cancel is refused, not applied twice.

    Must run inside a transaction. `refused` is the message, with %(status)s for the status
    the request is in now. Returns (wallet, fresh redemption)."""
    wallet = wallet_lock(patient=redemption.patient)
    fresh = Redemption.objects.select_for_update().get(pk=redemption.pk)
    if fresh.status not in allowed:
        raise _conflict("status", refused % {"status": fresh.get_status_display()})
    return wallet, fresh


def _refund(wallet: Wallet, redemption: Redemption, actor) -> None:
    """Give back the held points and stock: a REFUND entry and `returned` movements."""
    LedgerEntry.objects.create(
        patient_id=redemption.patient_id,
        kind=LedgerEntry.Kind.REFUND,
        amount_cents=redemption.total_cents,
        redemption_id=redemption.pk,
        created_by=actor,
    )
    wallet.balance_cents += redemption.total_cents
    wallet.save()
    lines = redemption.lines.order_by("item_id")
    tracked = CatalogItem.objects.select_for_update().filter(
        pk__in=[line.item_id for line in lines], stock__isnull=False
    )
    tracked_items = {item.pk: item for item in tracked.order_by("pk")}
    stock_changes = []
    for line in lines:
        item = tracked_items.get(line.item_id)
        if item is None:
            continue
        StockMovement.objects.create(
            item_id=line.item_id,
            kind=StockMovement.Kind.RETURNED,
            quantity=line.quantity,
            redemption=redemption,
            by=actor,
        )
        CatalogItem.objects.filter(pk=line.item_id).update(stock=F("stock") + line.quantity)
        stock_changes.append((item, {"stock": [item.stock, item.stock + line.quantity]}))
        item.stock += line.quantity  # two lines of one item
    audit.changed(stock_changes)


def _copy(target: Redemption, source: Redemption) -> Redemption:
    for field in (
        "status",
        "decided_by_id",
        "decided_at",
        "decision_reason",
        "handed_over_by_id",
        "handed_over_at",
    ):
        setattr(target, field, getattr(source, field))
    return target


def redemption_approve(*, redemption: Redemption, actor) -> Redemption:
    """A counselor approves a requested redemption (requested → approved); the patient is told
    their reward is ready for pickup, in the same transaction."""
    with transaction.atomic():
        _wallet, fresh = _transition(
            redemption,
            (Redemption.Status.REQUESTED,),
            _("This request cannot be approved: it is %(status)s."),
        )
        fresh.status = Redemption.Status.APPROVED
        fresh.decided_by = actor
        fresh.decided_at = timezone.now()
        fresh.save(update_fields=["status", "decided_by", "decided_at"])
        notices.reward_ready_queue(redemption=fresh, now=fresh.decided_at)
    return _copy(redemption, fresh)


def redemption_decline(*, redemption: Redemption, actor, reason: str) -> Redemption:
    """A counselor declines (vetoes) a request that does not fit treatment goals, with a reason.

    1. A reason is required.
    2. In one transaction: lock wallet, then the redemption; requested or approved → declined;
       refund the points and return the stock.
    """
    if not (reason or "").strip():
        raise ValidationError({"reason": _("Say why the request is declined.")})
    text_bounds_check(reason=(reason, REASON_MAX_LENGTH))
    with transaction.atomic():
        wallet, fresh = _transition(
            redemption, Redemption.OPEN, _("This request cannot be declined: it is %(status)s.")
        )
        fresh.status = Redemption.Status.DECLINED
        fresh.decided_by = actor
        fresh.decided_at = timezone.now()
        fresh.decision_reason = reason.strip()
        fresh.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        _refund(wallet, fresh, actor)
    return _copy(redemption, fresh)


def _is_staff_of(actor, clinic_id: int) -> bool:
    return clinic_id in getattr(actor, "clinic_ids", [])


def redemption_cancel(*, redemption: Redemption, actor) -> Redemption:
    """Withdraw a request: staff while requested or approved, the patient only their own and
    only while requested. The points and stock come back.

    The cancel is recorded as the decision (decided_by/at) of the person who cancelled.
    """
    patient = redemption.patient
    staff = _is_staff_of(actor, patient.clinic_id)
    if not staff and (patient.user_id is None or patient.user_id != getattr(actor, "pk", None)):
        raise PermissionDenied(_("You can cancel only your own requests."))
    allowed = Redemption.OPEN if staff else (Redemption.Status.REQUESTED,)
    with transaction.atomic():
        wallet, fresh = _transition(
            redemption, allowed, _("This request cannot be cancelled: it is %(status)s.")
        )
        fresh.status = Redemption.Status.CANCELLED
        fresh.decided_by = actor
        fresh.decided_at = timezone.now()
        fresh.save(update_fields=["status", "decided_by", "decided_at"])
        _refund(wallet, fresh, actor)
    return _copy(redemption, fresh)


def redemption_handover(*, redemption: Redemption, actor) -> Redemption:
    """The counselor hands the approved items to the patient (approved → handed over)."""
    with transaction.atomic():
        _wallet, fresh = _transition(
            redemption,
            (Redemption.Status.APPROVED,),
            _("This request cannot be handed over: it is %(status)s."),
        )
        fresh.status = Redemption.Status.HANDED_OVER
        fresh.handed_over_by = actor
        fresh.handed_over_at = timezone.now()
        fresh.save(update_fields=["status", "handed_over_by", "handed_over_at"])
    return _copy(redemption, fresh)
