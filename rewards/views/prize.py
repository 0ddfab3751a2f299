"""The prize cabinet on the counselor's screen: run the patient's draws, then hand over a prize of
each tier won.

Thin views: scope through patients.permissions, validate with a form, call rewards.prizes,
render. A draw is never re-rolled: nothing here changes a draw's tier. A hidden idempotency key,
new each time the page is shown, makes a double click (or a refresh) draw once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django_htmx.http import push_url

from cmtracker import audit
from cmtracker.exceptions import Conflict
from patients.enrollment import drawing_enrollment
from patients.models import Enrollment, Patient
from patients.permissions import ClinicTimeMixin, StaffRequiredMixin, patients_visible_to
from rewards import prizes
from rewards.models import CatalogItem, PrizeDraw
from rewards.selectors import prize_cap_room
from vouchers import engine
from vouchers.models import PrizeTier, protocol_attach
from vouchers.presenters import person
from vouchers.selectors import wallet_get

PAGE = "rewards/prize/draws.html"
REGION = "rewards/prize/region.html"


# --- forms ---------------------------------------------------------------------------------------


class DrawForm(forms.Form):
    """The big button: draw the `count` slips the page showed, once per key."""

    count = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, count: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial = {"count": count, "idempotency_key": uuid.uuid4()}


class ClaimForm(forms.Form):
    """The item chosen for a tier won; whether it fits the tier is the service's to say."""

    item = forms.ModelChoiceField(
        queryset=CatalogItem.objects.none(),
        error_messages={
            "required": gettext_lazy("Choose a prize first."),
            "invalid_choice": gettext_lazy("Choose one of the prizes listed."),
        },
    )
    drawn = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["item"].queryset = CatalogItem.objects.filter(clinic=clinic)


# --- what the page shows -------------------------------------------------------------------------


def tier_label(tier: str) -> str:
    if tier == prizes.GOOD_JOB:
        return _("Good job!")
    if tier in PrizeTier.values:
        return PrizeTier(tier).label
    return tier


@dataclass
class DrawRow:
    draw: PrizeDraw
    label: str
    is_prize: bool
    drawn_by: str
    claimed_by: str
    items: list[CatalogItem] = field(default_factory=list)  # what can be chosen for it now


@dataclass
class Cabinet:
    patient: Patient
    enrollment: Enrollment | None
    is_prize: bool
    draws_available: int
    draws_under_review: int
    cap_remaining: int | None
    capped_by_year: bool
    draw_form: DrawForm | None
    drawn_key: str
    just_drawn: list[DrawRow]
    unclaimed: list[DrawRow]
    history: list[DrawRow]


def _drawn_key(value) -> str:
    """The key of the draws just made, from the query string or a form: a UUID or nothing."""
    try:
        return str(uuid.UUID(str(value))) if value else ""
    except ValueError:
        return ""


def cabinet(patient: Patient, drawn_key: str = "") -> Cabinet:
    """The patient's draws to make, the draws just made, unclaimed wins and every draw so far.

    A fixed number of queries however many draws: the enrollment, the wallet, the caps, the
    draws (with who drew and what was claimed), and the cabinet's prize items.
    """
    enrollment = drawing_enrollment(patient)
    if enrollment is not None:
        protocol_attach(enrollment)
    is_prize = enrollment is not None and enrollment.protocol.kind == engine.PRIZE
    wallet = wallet_get(patient=patient)
    cap = None
    if is_prize:
        cap = prize_cap_room(
            patient=patient,
            enrollment=enrollment,
            today=patient.clinic.local_date(timezone.now()),
        )
    draws = list(
        patient.prize_draws.select_related("drawn_by", "claimed_by", "claimed_item").order_by(
            "-drawn_at", "-id"
        )
    )
    in_stock: dict[str, list[CatalogItem]] = {}
    if any(d.tier in PrizeTier.values and d.claimed_item_id is None for d in draws):
        for item in CatalogItem.objects.filter(
            Q(stock__isnull=True) | Q(stock__gt=0),
            clinic=patient.clinic,
            is_active=True,
            prize_tier__in=PrizeTier.values,
        ).order_by("name", "id"):
            in_stock.setdefault(item.prize_tier, []).append(item)

    rows = []
    for draw in draws:
        won = draw.tier in PrizeTier.values
        rows.append(
            DrawRow(
                draw=draw,
                label=tier_label(draw.tier),
                is_prize=won,
                drawn_by=person(draw.drawn_by),
                claimed_by=person(draw.claimed_by) if draw.claimed_item_id else "",
                items=in_stock.get(draw.tier, []) if won and not draw.claimed_item_id else [],
            )
        )
    prefix = f"{drawn_key}:" if drawn_key else None
    just = [r for r in rows if prefix and (r.draw.idempotency_key or "").startswith(prefix)]
    just.sort(key=lambda r: r.draw.id)
    just_ids = {r.draw.id for r in just}
    available = wallet.draws_available if is_prize else 0
    return Cabinet(
        patient=patient,
        enrollment=enrollment,
        is_prize=is_prize,
        draws_available=available,
        draws_under_review=wallet.draws_under_review,
        cap_remaining=cap,
        capped_by_year=bool(enrollment and enrollment.protocol.year_cap_cents is not None),
        draw_form=DrawForm(count=available) if available else None,
        drawn_key=drawn_key,
        just_drawn=just,
        unclaimed=[
            r
            for r in rows
            if r.is_prize and not r.draw.claimed_item_id and r.draw.id not in just_ids
        ],
        history=rows,
    )


def _error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


# --- views ---------------------------------------------------------------------------------------


class _CabinetView(StaffRequiredMixin, ClinicTimeMixin, View):
    def page(self, drawn_key: str = "", status: int = 200):
        context = {"cab": cabinet(self.patient, drawn_key)}
        template = REGION if self.request.htmx else PAGE
        response = render(self.request, template, context, status=status)
        if self.request.htmx and status == 200 and drawn_key:
            push_url(response, self.page_url(drawn_key))
        return response

    def page_url(self, drawn_key: str = "") -> str:
        url = reverse("prize-draws", args=[self.patient.pk])
        return f"{url}?{urlencode({'drawn': drawn_key})}" if drawn_key else url

    def failed(self, text: str, status: int, drawn_key: str = ""):
        """Say what went wrong over the page as it stands. htmx swaps only 2xx answers, so the
        region comes back with the message in it and a 200."""
        messages.error(self.request, text)
        return self.page(drawn_key, status=200 if self.request.htmx else status)


class PrizeDrawsView(_CabinetView):
    """GET: the draws to make and the patient's prizes. POST: make the draws, show what came."""

    def get(self, request, *args, **kwargs):
        return self.page(_drawn_key(request.GET.get("drawn")))

    def post(self, request, *args, **kwargs):
        form = DrawForm(request.POST)
        if not form.is_valid():
            return self.failed(_("Reload the page and try the draw again."), 400)
        key = str(form.cleaned_data["idempotency_key"])
        try:
            prizes.draws_run(
                patient=self.patient,
                count=form.cleaned_data["count"],
                drawn_by=request.user,
                idempotency_key=key,
            )
        except Conflict as error:
            return self.failed(_error_text(error), 409)
        except ValidationError as error:
            return self.failed(_error_text(error), 400)
        if request.htmx:
            return self.page(key)
        return redirect(self.page_url(key))


class PrizeClaimView(_CabinetView):
    """POST: hand over the chosen item for a tier won, then back to the patient's draws."""

    def get_patient(self) -> Patient:
        self.draw = (
            PrizeDraw.objects.filter(
                pk=self.kwargs["draw_pk"], patient__in=patients_visible_to(self.request.user)
            )
            .select_related("patient__clinic")
            .first()
        )
        if self.draw is None:
            raise Http404("No such draw")
        audit.disclosed([self.draw.patient_id])
        return self.draw.patient

    def post(self, request, *args, **kwargs):
        form = ClaimForm(request.POST, clinic=self.patient.clinic)
        drawn_key = _drawn_key(request.POST.get("drawn"))
        if not form.is_valid():
            return self.failed(" ".join(form.errors.get("item", [])) or _("Try again."), 400)
        try:
            draw = prizes.prize_claim(
                draw=self.draw, item=form.cleaned_data["item"], claimed_by=request.user
            )
        except Conflict as error:
            return self.failed(_error_text(error), 409, drawn_key)
        except ValidationError as error:
            return self.failed(_error_text(error), 400, drawn_key)
        item = draw.claimed_item
        if item.stock is None:
            text = _("%(item)s handed over; stock is unlimited.") % {"item": item.name}
        else:
            text = _("%(item)s handed over; stock now %(stock)s.") % {
                "item": item.name,
                "stock": item.stock,
            }
        messages.success(request, text)
        return redirect(self.page_url(drawn_key))

    def get(self, request, *args, **kwargs):
        return redirect(self.page_url())
