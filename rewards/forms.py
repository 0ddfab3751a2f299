"""Forms of spending: the administrator's catalog pages (an item, a restock, a stock adjustment, a
month), choosing catalog items to spend points on, and a counselor's reason to decline.

They check what was typed; the rules (what a price or a stock may be, never below zero) are
rewards.catalog's, whose ValidationErrors `errors_onto_form` puts back onto these fields. Whether
the balance covers a basket and the stock is there is decided by
rewards.redemptions.redemption_request, under its locks, because both can change between the page
being shown and the button being pressed.
"""

import re
import uuid
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from cmtracker.inputs import DESCRIPTION_MAX_LENGTH, REASON_MAX_LENGTH, AsciiIntegerField
from rewards.models import CatalogItem
from rewards.redemptions import MAX_QUANTITY
from vouchers.models import PrizeTier

# "12", "12.5", "12.50", "$12.50", "1,234.50", ".50": dollars with at most two decimals, in the
# digits 0-9 the form shows ("\d" would take "١٢" or "１２" too, and read them as 12).
DOLLARS = re.compile(
    r"^\$?(?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]*)(?:\.(?P<part>[0-9]{1,2}))?$", re.ASCII
)
MOST_CENTS = 100_000_000  # $1,000,000: far above any reward, far below the column's limit


def dollars_to_cents(text: str) -> int:
    """ "12.50" → 1250, exactly: the text is checked by pattern, then Decimal, never a float."""
    match = DOLLARS.match((text or "").strip().replace(" ", ""))
    if match is None or not (match["whole"] or match["part"]):
        raise forms.ValidationError(
            _("Give the price in dollars and cents, for example 12.50."), code="invalid"
        )
    amount = Decimal((match["whole"] or "0").replace(",", "") + "." + (match["part"] or "0"))
    cents = int((amount * 100).quantize(Decimal(1)))
    if cents > MOST_CENTS:
        raise forms.ValidationError(_("That price is too high."), code="max_value")
    return cents


class DollarsField(forms.CharField):
    """A price typed in dollars, cleaned to integer cents."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 20)
        super().__init__(**kwargs)
        self.widget.attrs.setdefault("inputmode", "decimal")
        self.widget.attrs.setdefault("autocomplete", "off")

    def clean(self, value):
        text = super().clean(value)
        return None if text in self.empty_values else dollars_to_cents(text)


def cents_to_dollars_text(cents: int) -> str:
    whole, part = divmod(cents, 100)
    return f"{whole}.{part:02d}"


TIER_CHOICES = [("", _("Not a prize")), *PrizeTier.choices]


class CatalogItemForm(forms.Form):
    """An item as the administrator types it. The opening stock is only asked when adding:
    afterwards stock moves only by receiving or adjusting, with a record."""

    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"),
        required=False,
        max_length=DESCRIPTION_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    category = forms.ChoiceField(label=_("Category"), choices=CatalogItem.Category.choices)
    price = DollarsField(
        label=_("Price in dollars"),
        help_text=_("For example 12.50. The price in points is the same number of cents."),
    )
    image = forms.ImageField(label=_("Picture"), required=False)
    unlimited = forms.BooleanField(
        label=_("Unlimited (not counted, e.g. phone minutes bought on demand)"), required=False
    )
    stock = AsciiIntegerField(
        label=_("Opening stock"),
        required=False,
        min_value=0,
        max_value=1_000_000,
        help_text=_("How many are in the cabinet now. Recorded as received, by you."),
    )
    low_stock_at = AsciiIntegerField(
        label=_("Warn when stock falls to"), min_value=0, max_value=1_000_000, initial=3
    )
    prize_tier = forms.ChoiceField(
        label=_("Prize tier"),
        choices=TIER_CHOICES,
        required=False,
        help_text=_("A prize is won from the bowl, not bought with points."),
    )
    is_active = forms.BooleanField(
        label=_("Offered to patients"),
        required=False,
        initial=True,
        help_text=_("Untick to retire the item; its history stays."),
    )

    def __init__(self, *args, adding: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not adding:
            del self.fields["unlimited"]
            del self.fields["stock"]

    def clean(self):
        cleaned = super().clean()
        if "stock" in self.fields:
            if cleaned.get("unlimited"):
                cleaned["stock"] = None
            elif cleaned.get("stock") is None and "stock" not in self.errors:
                self.add_error("stock", _("Give the opening stock, or tick unlimited."))
        return cleaned

    def item_fields(self) -> dict:
        """The fields the catalog services take, in their names."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "description": data["description"],
            "category": data["category"],
            "price_cents": data["price"],
            "low_stock_at": data["low_stock_at"],
            "prize_tier": data["prize_tier"] or "",
        }

    @staticmethod
    def initial_for(item: CatalogItem) -> dict:
        return {
            "name": item.name,
            "description": item.description,
            "category": item.category,
            "price": cents_to_dollars_text(item.price_cents),
            "image": item.image,
            "low_stock_at": item.low_stock_at,
            "prize_tier": item.prize_tier,
            "is_active": item.is_active,
        }


class StockReceiveForm(forms.Form):
    quantity = AsciiIntegerField(
        label=_("Quantity received"), min_value=1, max_value=1_000_000, initial=1
    )
    reason = forms.CharField(
        label=_("Note (optional)"),
        required=False,
        max_length=REASON_MAX_LENGTH,
        help_text=_("For example the supplier or the order number."),
    )


class StockAdjustForm(forms.Form):
    quantity = AsciiIntegerField(
        label=_("Change"),
        min_value=-1_000_000,
        max_value=1_000_000,
        help_text=_("Negative for broken or lost, positive for found, e.g. -1."),
    )
    reason = forms.CharField(label=_("Reason"), max_length=REASON_MAX_LENGTH)

    def clean_quantity(self):
        quantity = self.cleaned_data["quantity"]
        if quantity == 0:
            raise forms.ValidationError(_("Give a whole, non-zero number."))
        return quantity


class MonthForm(forms.Form):
    year = AsciiIntegerField(label=_("Year"), min_value=2000, max_value=2100)
    month = forms.TypedChoiceField(
        label=_("Month"),
        coerce=int,
        choices=[
            (1, _("January")),
            (2, _("February")),
            (3, _("March")),
            (4, _("April")),
            (5, _("May")),
            (6, _("June")),
            (7, _("July")),
            (8, _("August")),
            (9, _("September")),
            (10, _("October")),
            (11, _("November")),
            (12, _("December")),
        ],
    )


# --- spending points ----------------------------------------------------------------------------


class RedemptionRequestForm(forms.Form):
    """A quantity per offered item (0 by default) and a hidden idempotency key, new each time the
    empty form is shown: pressing the button twice, or going back and sending it again, charges
    the balance once."""

    idempotency_key = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, items: list[CatalogItem], **kwargs):
        super().__init__(*args, **kwargs)
        self.offered = list(items)
        for item in self.offered:
            attrs = {
                "min": 0,
                "inputmode": "numeric",
                "class": "quantity",
                # The template gives the price and stock this id.
                "aria-describedby": f"id_{self.add_prefix(self.field_name(item))}-price",
            }
            field = self.fields[self.field_name(item)] = AsciiIntegerField(
                label=item.name,
                min_value=0,
                max_value=MAX_QUANTITY,
                initial=0,
                required=False,
                # An empty cabinet offers nothing; a disabled field ignores what is posted.
                disabled=item.stock == 0,
                widget=forms.NumberInput(attrs=attrs),
            )
            if item.stock is not None:
                # A hint for the browser only: the stock may change before the form is sent.
                field.widget.attrs["max"] = min(item.stock, MAX_QUANTITY)
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", uuid.uuid4())

    @staticmethod
    def field_name(item: CatalogItem) -> str:
        return f"item_{item.pk}"

    def rows(self):
        """(item, its quantity field) in catalog order, for the template."""
        return [(item, self[self.field_name(item)]) for item in self.offered]

    def clean(self):
        cleaned = super().clean()
        chosen = [
            (item, cleaned.get(self.field_name(item)) or 0)
            for item in self.offered
            if not self.fields[self.field_name(item)].disabled
        ]
        chosen = [(item, quantity) for item, quantity in chosen if quantity > 0]
        if not chosen and not self.errors:
            raise forms.ValidationError(_("Choose at least one item."))
        cleaned["items"] = chosen
        return cleaned

    def idempotency_key_value(self) -> str | None:
        key = self.cleaned_data.get("idempotency_key")
        return str(key) if key else None


class DeclineForm(forms.Form):
    """A counselor may veto a purchase that does not fit the treatment goals, saying why."""

    reason = forms.CharField(
        label=_("Reason"),
        max_length=REASON_MAX_LENGTH,
        error_messages={"required": _("Say why the request is declined.")},
        widget=forms.Textarea(attrs={"rows": 2}),
    )
