"""The reward catalog and its stock ledger: adding and changing items, receiving and counting stock.

The stock ledger is append-only (the database refuses changes, see vouchers' migration 0009);
CatalogItem.stock moves alongside it in the same transaction, so stock == sum(movements). Stock
leaves the cabinet only through rewards.redemptions (held at request) and rewards.prizes (a
claim); here it arrives (`received`) or is counted (`adjusted`).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
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
from rewards.models import CatalogItem, StockMovement
from vouchers.models import PrizeTier


def _conflict(field: str, message: str) -> Conflict:
    return Conflict({field: message})


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


def catalog_item_picture_set(*, item: CatalogItem, picture, actor) -> CatalogItem:
    """Give the item a picture (an uploaded file), take it away (`picture` False, the form's
    "clear"), or leave it (None). The file is stored where the item's ImageField says."""
    if picture is False:
        if item.image:
            item.image = ""
            item.save(update_fields=["image"])
    elif picture is not None:
        item.image = picture
        item.save(update_fields=["image"])
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
