"""The clinic administrator's catalog: items, restocking and adjusting, the stock ledger, and the
printable monthly reconciliation.

Thin views: ClinicAdminRequiredMixin decides who may come in (through patients.permissions) and
which clinic the page is about; a form checks what was typed; rewards.catalog does the work (the
picture too) and is the only writer of stock. Pages run in the clinic's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.generic import FormView, TemplateView

from cmtracker import audit
from cmtracker.exceptions import Conflict
from cmtracker.models import Clinic
from patients.permissions import (
    ClinicAdminRequiredMixin,
)
from rewards.catalog import (
    catalog_item_create,
    catalog_item_picture_set,
    catalog_item_update,
    stock_adjust,
    stock_receive,
)
from rewards.forms import CatalogItemForm, MonthForm, StockAdjustForm, StockReceiveForm
from rewards.models import CatalogItem, StockMovement
from rewards.selectors import low_stock_items, stock_reconciliation
from vouchers.forms import errors_onto_form
from vouchers.presenters import person


class CatalogItemMixin(ClinicAdminRequiredMixin):
    """A page about one item: it must be in a clinic the administrator runs, else 404."""

    def get_clinic(self) -> Clinic:
        by_id = {clinic.pk: clinic for clinic in self.clinics}
        self.item = CatalogItem.objects.filter(
            pk=self.kwargs["pk"], clinic_id__in=list(by_id)
        ).first()
        if self.item is None:
            raise Http404("No such catalog item")
        return by_id[self.item.clinic_id]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["item"] = self.item
        return context

    def catalog_url(self) -> str:
        return reverse("catalog") + self.clinic_query()


# --- the catalog -------------------------------------------------------------------------------


class CatalogView(ClinicAdminRequiredMixin, TemplateView):
    """The administrator's home for the catalog: every item, low stock first in a warning box."""

    template_name = "rewards/catalog/list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            items=CatalogItem.objects.filter(clinic=self.clinic).order_by(
                "-is_active", "category", "name", "pk"
            ),
            low_stock=low_stock_items(clinic=self.clinic),
        )
        return context


def _save_extras(item: CatalogItem, form: CatalogItemForm, actor) -> None:
    """What catalog_item_create and _update do not take: the picture, and retiring a new item."""
    image = form.cleaned_data.get("image")
    # An uploaded file sets the picture, False ("clear" ticked) takes it away.
    picture = image if isinstance(image, UploadedFile) or image is False else None
    catalog_item_picture_set(item=item, picture=picture, actor=actor)
    if not form.cleaned_data["is_active"] and item.is_active:
        catalog_item_update(item=item, actor=actor, is_active=False)


class _ItemFormView(FormView):
    form_class = CatalogItemForm
    template_name = "rewards/catalog/item_form.html"
    adding = True

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "adding": self.adding}

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)

    def form_valid(self, form):
        try:
            with transaction.atomic():
                item = self.save(form)
                _save_extras(item, form, self.request.user)
        except ValidationError as error:
            errors_onto_form(form, error)
            return self.form_invalid(form)
        messages.success(self.request, _("Saved %(name)s.") % {"name": item.name})
        return redirect(reverse("catalog") + self.clinic_query())


class CatalogItemCreateView(ClinicAdminRequiredMixin, _ItemFormView):
    """Add an item; a counted stock is recorded as received by the administrator."""

    def save(self, form) -> CatalogItem:
        return catalog_item_create(
            clinic=self.clinic,
            stock=form.cleaned_data["stock"],
            actor=self.request.user,
            **form.item_fields(),
        )


class CatalogItemEditView(CatalogItemMixin, _ItemFormView):
    """Change an item's details, or retire it (untick "offered"). Stock is not changed here."""

    adding = False

    def get_initial(self):
        return CatalogItemForm.initial_for(self.item)

    def save(self, form) -> CatalogItem:
        return catalog_item_update(
            item=self.item,
            actor=self.request.user,
            is_active=form.cleaned_data["is_active"],
            **form.item_fields(),
        )


# --- stock -------------------------------------------------------------------------------------


@dataclass
class LedgerRow:
    movement: StockMovement
    after: int  # the stock once this movement was made
    by: str


class CatalogStockView(CatalogItemMixin, TemplateView):
    """Receive stock, adjust it with a reason, and read the item's stock ledger."""

    template_name = "rewards/catalog/stock.html"
    ACTIONS = {"receive": StockReceiveForm, "adjust": StockAdjustForm}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        for action, form_class in self.ACTIONS.items():
            context.setdefault(f"{action}_form", form_class(prefix=action))
        movements = self.item.movements.select_related(
            "by", "redemption__patient", "prize_draw__patient"
        ).order_by("at", "id")
        rows, total = [], 0
        for movement in movements:
            total += movement.quantity
            rows.append(LedgerRow(movement=movement, after=total, by=person(movement.by)))
        # The ledger names the patient of each redemption and prize handed over.
        audit.disclosed(
            (m.redemption or m.prize_draw).patient_id
            for m in movements
            if m.redemption_id or m.prize_draw_id
        )
        context.update(
            rows=rows,
            movements_total=total,
            balances=self.item.stock is None or self.item.stock == total,
        )
        return context

    def post(self, request, *args, **kwargs):
        action = request.POST.get("action")
        if action not in self.ACTIONS:
            return redirect("catalog-stock", pk=self.item.pk)
        if self.item.stock is None:  # the page offers no forms; say why, not a hidden error
            messages.error(request, _("This item has unlimited stock; there is nothing to count."))
            return redirect("catalog-stock", pk=self.item.pk)
        form = self.ACTIONS[action](request.POST, prefix=action)
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                if action == "receive":
                    stock = stock_receive(
                        item=self.item,
                        quantity=data["quantity"],
                        reason=data["reason"],
                        actor=request.user,
                    )
                else:
                    stock = stock_adjust(
                        item=self.item,
                        quantity=data["quantity"],
                        reason=data["reason"],
                        actor=request.user,
                    )
            except Conflict as error:
                errors_onto_form(form, error)
                status = 409
            except ValidationError as error:
                errors_onto_form(form, error)
            else:
                messages.success(
                    request,
                    _("%(name)s: stock is now %(n)s.") % {"name": self.item.name, "n": stock},
                )
                return redirect("catalog-stock", pk=self.item.pk)
        self.item.refresh_from_db(fields=["stock"])
        context = self.get_context_data(**{f"{action}_form": form})
        return self.render_to_response(context, status=status)


# --- the monthly reconciliation ------------------------------------------------------------------


def _shift(year: int, month: int, by: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + by
    return index // 12, index % 12 + 1


class ReconciliationView(ClinicAdminRequiredMixin, TemplateView):
    """The printable month of the cabinet: per item, opening, received, issued, adjusted, closing,
    the value issued and who issued and who restocked; totals; links to the months around it."""

    template_name = "rewards/catalog/reconciliation.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        today = self.clinic.local_date(timezone.now())
        year, month = today.year, today.month
        asked = "year" in self.request.GET or "month" in self.request.GET
        form = MonthForm(
            self.request.GET if asked else None, initial={"year": year, "month": month}
        )
        if asked and form.is_valid():
            year, month = form.cleaned_data["year"], form.cleaned_data["month"]
        lines = stock_reconciliation(clinic=self.clinic, year=year, month=month)
        url = reverse("catalog-reconciliation")
        before, after = _shift(year, month, -1), _shift(year, month, 1)
        context.update(
            form=form,
            month_start=date(year, month, 1),
            lines=lines,
            totals={
                key: sum(getattr(line, key) for line in lines)
                for key in ("opening", "received", "issued", "adjusted", "closing")
            },
            total_value_cents=sum(line.issued_value_cents for line in lines),
            previous_url=url + self.clinic_query(year=before[0], month=before[1]),
            next_url=(
                url + self.clinic_query(year=after[0], month=after[1])
                if after <= (today.year, today.month)
                else ""
            ),
            printed_at=timezone.now(),
            printed_by=person(self.request.user),
        )
        return context
