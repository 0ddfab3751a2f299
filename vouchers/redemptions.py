"""The reward catalog, its stock ledger, and redemptions: spending points on catalog items.

Lock order, as everywhere: the patient's Wallet first, then catalog items in ascending id order,
then the redemption row. Points and stock are held at request (a REDEEM entry and an `issued`
movement), so the balance and stock shown are what can still be spent or promised; a decline or
a cancel gives both back (a REFUND entry and `returned` movements). The ledger and the stock
ledger are append-only; the Wallet and CatalogItem.stock move alongside them in the same
transaction, so wallet == sum(ledger) and stock == sum(movements).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from cmtracker import audit
from cmtracker.exceptions import Conflict
from cmtracker.inputs import (
    DESCRIPTION_MAX_LENGTH,
    REASON_MAX_LENGTH,
    text_bounds_check,
    text_bounds_errors,
)
from cmtracker.models import Clinic
from patients.models import Patient
from vouchers import notices
from vouchers.ledger import wallet_lock
from vouchers.models import (
    CatalogItem,
    LedgerEntry,
    PrizeTier,
    Redemption,
    RedemptionLine,
    StockMovement,
    Wallet,
)


def _conflict(field: str, message: str) -> Conflict:
    return Conflict({field: message})


# At most this many of one item in one request, counted after lines of the same item are added
# up: a redemption is what a patient takes home from one visit to the desk, so more is a typo (or
# a probe), never a wish. It also keeps quantity × price far inside the database's integers.
MAX_QUANTITY = 99


# --- catalog ------------------------------------------------------------------------------------


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


_NAME_MAX_LENGTH = CatalogItem._meta.get_field("name").max_length


def _catalog_errors(fields: dict) -> dict:
    errors = {}
    if "name" in fields and not (fields["name"] or "").strip():
        errors["name"] = _("An item needs a name.")
    if "price_cents" in fields and not _is_count(fields["price_cents"]):
        errors["price_cents"] = _("Give the price as a whole number of cents, zero or more.")
    if "low_stock_at" in fields and not _is_count(fields["low_stock_at"]):
        errors["low_stock_at"] = _("Give the warning level as a whole number, zero or more.")
    if "category" in fields and fields["category"] not in CatalogItem.Category.values:
        errors["category"] = _("Unknown category.")
    if "prize_tier" in fields and fields["prize_tier"] not in ("", *PrizeTier.values):
        errors["prize_tier"] = _("Unknown prize tier.")
    if "is_active" in fields and not isinstance(fields["is_active"], bool):
        errors["is_active"] = _("Give yes or no.")
    limits = {"name": _NAME_MAX_LENGTH, "description": DESCRIPTION_MAX_LENGTH}
    errors.update(
        text_bounds_errors(
            **{
                field: (fields[field], limit)
                for field, limit in limits.items()
                if isinstance(fields.get(field), str) and field not in errors
            }
        )
    )
    return errors


def catalog_item_create(
    *,
    clinic: Clinic,
    name: str,
    price_cents: int,
    category: str = CatalogItem.Category.OTHER,
    description: str = "",
    stock: int | None = None,
    low_stock_at: int = 3,
    prize_tier: str = "",
    actor,
) -> CatalogItem:
    """Add an item to a clinic's catalog.

    1. Validate the fields (stock empty for unlimited, or a count).
    2. In one transaction: create the item and, for a tracked stock, its opening `received`
       movement by the actor, so stock equals the sum of its movements from the start.
    """
    fields = {
        "name": name,
        "description": description,
        "price_cents": price_cents,
        "category": category,
        "low_stock_at": low_stock_at,
        "prize_tier": prize_tier or "",
    }
    errors = _catalog_errors(fields)
    if stock is not None and not _is_count(stock):
        errors["stock"] = _("Give the stock as a whole number, zero or more, or leave it empty.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        item = CatalogItem.objects.create(
            clinic=clinic,
            name=name.strip(),
            description=(description or "").strip(),
            category=category,
            price_cents=price_cents,
            stock=stock,
            low_stock_at=low_stock_at,
            prize_tier=prize_tier or "",
        )
        if stock:
            StockMovement.objects.create(
                item=item,
                kind=StockMovement.Kind.RECEIVED,
                quantity=stock,
                reason=_("Opening stock"),
                by=actor,
            )
    return item


EDITABLE = ("name", "description", "category", "price_cents", "low_stock_at", "prize_tier")


def catalog_item_update(*, item: CatalogItem, actor, **fields) -> CatalogItem:
    """Change an item's details, or retire it (is_active=False). Stock moves only through
    stock_receive / stock_adjust, so every change of it is in the stock ledger."""
    allowed = {*EDITABLE, "is_active"}
    errors = {field: _("This cannot be changed here.") for field in fields if field not in allowed}
    if "stock" in fields:
        errors["stock"] = _("Stock changes only by receiving or adjusting, with a record.")
    errors.update(_catalog_errors(fields))
    if errors:
        raise ValidationError(errors)
    for field, value in fields.items():
        if field in ("name", "description"):
            value = (value or "").strip()
        setattr(item, field, value)
    item.save(update_fields=list(fields))
    return item


def _stock_move(*, item: CatalogItem, kind: str, quantity: int, reason: str, actor) -> int:
    """Lock the item, refuse a negative result, write the movement and move the stock."""
    with transaction.atomic():
        locked = CatalogItem.objects.select_for_update().get(pk=item.pk)
        if locked.stock is None:
            raise ValidationError(
                {"stock": _("This item has unlimited stock; there is nothing to count.")}
            )
        if locked.stock + quantity < 0:
            raise _conflict(
                "stock",
                _("Only %(n)s in stock; it cannot go below zero.") % {"n": locked.stock},
            )
        StockMovement.objects.create(
            item=locked, kind=kind, quantity=quantity, reason=reason, by=actor
        )
        CatalogItem.objects.filter(pk=locked.pk).update(stock=F("stock") + quantity)
        audit.changed([(locked, {"stock": [locked.stock, locked.stock + quantity]})])
    item.stock = locked.stock + quantity
    return item.stock


def stock_receive(*, item: CatalogItem, quantity: int, actor, reason: str = "") -> int:
    """Restock: `quantity` more in the cabinet, received by the actor. Returns the new stock."""
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
        raise ValidationError({"quantity": _("Give a whole number above zero.")})
    text_bounds_check(reason=(reason, REASON_MAX_LENGTH))
    return _stock_move(
        item=item,
        kind=StockMovement.Kind.RECEIVED,
        quantity=quantity,
        reason=(reason or "").strip(),
        actor=actor,
    )


def stock_adjust(*, item: CatalogItem, quantity: int, reason: str, actor) -> int:
    """A counted correction (broken, lost, found), signed, with a reason. Never below zero."""
    errors = {}
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity == 0:
        errors["quantity"] = _("Give a whole, non-zero number.")
    if not (reason or "").strip():
        errors["reason"] = _("An adjustment needs a reason.")
    else:
        errors.update(text_bounds_errors(reason=(reason, REASON_MAX_LENGTH)))
    if errors:
        raise ValidationError(errors)
    return _stock_move(
        item=item,
        kind=StockMovement.Kind.ADJUSTED,
        quantity=quantity,
        reason=reason.strip(),
        actor=actor,
    )


# --- redemptions ----------------------------------------------------------------------------------


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
                redemption=redemption,
                created_by=requested_by,
            )
            Wallet.objects.filter(pk=wallet.pk).update(
                balance_cents=F("balance_cents") - total, updated_at=timezone.now()
            )
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
        redemption=redemption,
        created_by=actor,
    )
    Wallet.objects.filter(pk=wallet.pk).update(
        balance_cents=F("balance_cents") + redemption.total_cents, updated_at=timezone.now()
    )
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


# --- selectors ------------------------------------------------------------------------------------


def low_stock_items(*, clinic: Clinic) -> list[CatalogItem]:
    """Active items with a tracked stock at or below their warning level, emptiest first."""
    return list(
        CatalogItem.objects.filter(
            clinic=clinic, is_active=True, stock__isnull=False, stock__lte=F("low_stock_at")
        ).order_by("stock", "name")
    )


@dataclass(frozen=True)
class StockLine:
    """One item's month in the cabinet: closing == opening + received - issued + adjusted."""

    item: CatalogItem
    opening: int
    received: int
    issued: int  # to patients, net of returns: redemptions and prizes
    adjusted: int
    closing: int
    issued_value_cents: int
    issued_by: list[str]
    restocked_by: list[str]

    @property
    def balances(self) -> bool:
        return self.closing == self.opening + self.received - self.issued + self.adjusted


HANDED = Redemption.Status.HANDED_OVER


def _name(user) -> str:
    return user.get_full_name() or user.username


def month_bounds(clinic: Clinic, year: int, month: int) -> tuple[datetime, datetime]:
    """The month's first moment and the next month's, on the clinic's calendar."""
    start = datetime(year, month, 1, tzinfo=clinic.tz)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=clinic.tz)
    return start, end


def stock_reconciliation(*, clinic: Clinic, year: int, month: int) -> list[StockLine]:
    """The printable monthly reconciliation of the cabinet: per tracked item, opening stock,
    received, issued to patients (issued - returned), adjusted, closing stock, the value issued
    (price × quantity) and who issued and who restocked.

    Who issued is the person who handed a redemption over (or, for a prize, recorded the
    claim); while a redemption is still waiting, the person who requested it. A declined or
    cancelled redemption names nobody: its stock came back.
    """
    start, end = month_bounds(clinic, year, month)
    items = list(
        CatalogItem.objects.filter(clinic=clinic)
        .filter(Q(stock__isnull=False) | Q(movements__isnull=False))
        .distinct()
        .order_by("category", "name", "pk")
    )
    kinds = StockMovement.Kind
    sums = (
        StockMovement.objects.filter(item__in=items)
        .values("item_id")
        .annotate(
            opening=Sum("quantity", filter=Q(at__lt=start), default=0),
            received=Sum(
                "quantity", filter=Q(at__gte=start, at__lt=end, kind=kinds.RECEIVED), default=0
            ),
            out=Sum(
                "quantity",
                filter=Q(at__gte=start, at__lt=end, kind__in=[kinds.ISSUED, kinds.RETURNED]),
                default=0,
            ),
            adjusted=Sum(
                "quantity", filter=Q(at__gte=start, at__lt=end, kind=kinds.ADJUSTED), default=0
            ),
        )
    )
    by_item = {row["item_id"]: row for row in sums}
    people: dict[tuple[int, str], set[str]] = {}
    month_moves = StockMovement.objects.filter(
        item__in=items, at__gte=start, at__lt=end
    ).select_related("by", "redemption__handed_over_by", "redemption__requested_by")
    for move in month_moves:
        if move.kind == kinds.RECEIVED:
            who, role = move.by, "restocked"
        elif move.kind == kinds.ISSUED:
            redemption = move.redemption
            if redemption is not None and redemption.status not in (*Redemption.OPEN, HANDED):
                continue  # declined or cancelled: given back, nobody issued it
            who = (redemption and redemption.handed_over_by) or move.by
            role = "issued"
        else:
            continue
        if who is not None:
            people.setdefault((move.item_id, role), set()).add(_name(who))
    lines = []
    for item in items:
        row = by_item.get(item.pk, {"opening": 0, "received": 0, "out": 0, "adjusted": 0})
        issued = -row["out"]
        lines.append(
            StockLine(
                item=item,
                opening=row["opening"],
                received=row["received"],
                issued=issued,
                adjusted=row["adjusted"],
                closing=row["opening"] + row["received"] + row["out"] + row["adjusted"],
                issued_value_cents=issued * item.price_cents,
                issued_by=sorted(people.get((item.pk, "issued"), ())),
                restocked_by=sorted(people.get((item.pk, "restocked"), ())),
            )
        )
    return lines
