"""Forms for spending points: choosing catalog items, and a counselor's reason to decline.

They check shape only. Whether the balance covers the basket and the stock is there is decided
by vouchers.redemptions.redemption_request, under its locks, because both can change between
the page being shown and the button being pressed.
"""

import uuid

from django import forms
from django.utils.translation import gettext_lazy as _

from cmtracker.inputs import REASON_MAX_LENGTH, AsciiIntegerField
from vouchers.models import CatalogItem
from vouchers.redemptions import MAX_QUANTITY


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
