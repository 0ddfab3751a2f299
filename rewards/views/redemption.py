"""Spending points: the patient's catalog and requests, and the counselors' redemption queue.

Thin views: scope through patients.permissions (a patient sees only their own requests, staff
only their clinics' patients; anything else is 404), validate with a form, call a service in
rewards.redemptions, say what happened. A `Conflict` (not enough balance, out of stock, a
double click on a request that has moved on) is shown as a message with status 409; nothing is
written then.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import F, Prefetch
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import formats, timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.decorators.cache import never_cache

from cmtracker import audit
from cmtracker.exceptions import Conflict
from patients.models import Patient
from patients.permissions import (
    PatientRequiredMixin,
    StaffRequiredMixin,
    patient_get_or_404,
    patients_visible_to,
    staff_clinic_ids,
)
from rewards import redemptions
from rewards.forms import DeclineForm, RedemptionRequestForm
from rewards.models import Redemption, RedemptionLine
from rewards.selectors import offered_items
from vouchers.forms import errors_onto_form
from vouchers.selectors import wallet_get
from vouchers.templatetags.money import dollars

RECENT_DONE = 20
PATIENT_REQUESTS = 50

Status = Redemption.Status
DONE = (Status.DECLINED, Status.CANCELLED, Status.HANDED_OVER)


# --- reads ---------------------------------------------------------------------------------------


def with_lines(queryset):
    return queryset.select_related(
        "patient__clinic", "requested_by", "decided_by", "handed_over_by"
    ).prefetch_related(
        Prefetch("lines", queryset=RedemptionLine.objects.select_related("item").order_by("pk"))
    )


def _person(user) -> str:
    return (user.get_full_name() or user.username) if user else ""


def _local_day(redemption: Redemption, moment) -> str:
    return formats.date_format(redemption.patient.clinic.local_date(moment), "DATE_FORMAT")


def patient_status_text(redemption: Redemption) -> str:
    """The status of a request in the patient's words."""
    if redemption.status == Status.REQUESTED:
        return _("Waiting for your counselor")
    if redemption.status == Status.APPROVED:
        return _("Approved — pick it up at the front desk")
    if redemption.status == Status.HANDED_OVER:
        return _("Handed over on %(day)s") % {
            "day": _local_day(redemption, redemption.handed_over_at)
        }
    if redemption.status == Status.DECLINED:
        return _("Declined: %(reason)s — points returned") % {"reason": redemption.decision_reason}
    return _("Cancelled — points returned")


def lines_text(redemption: Redemption) -> str:
    """ "2 × Bus pass, 1 × Phone card" from the prefetched lines."""
    return ", ".join(
        _("%(quantity)s × %(name)s") % {"quantity": line.quantity, "name": line.item.name}
        for line in redemption.lines.all()
    )


def _decorate(redemption: Redemption) -> Redemption:
    """What the templates show, computed once here rather than decided in the template."""
    clinic = redemption.patient.clinic
    redemption.status_text = patient_status_text(redemption)
    # Formatted here on the clinic's clock: the template's date filter would use the server's.
    redemption.requested_text = formats.date_format(
        timezone.localtime(redemption.requested_at, clinic.tz), "DATETIME_FORMAT"
    )
    redemption.requested_day = _local_day(redemption, redemption.requested_at)
    by_patient = redemption.requested_by_id and redemption.requested_by_id == (
        redemption.patient.user_id
    )
    redemption.requested_by_text = (
        _("the patient") if by_patient else _person(redemption.requested_by)
    )
    if redemption.status == Status.HANDED_OVER:
        redemption.done_text = _("Handed over by %(name)s on %(day)s") % {
            "name": _person(redemption.handed_over_by),
            "day": _local_day(redemption, redemption.handed_over_at),
        }
    elif redemption.status == Status.DECLINED:
        redemption.done_text = _("Declined by %(name)s: %(reason)s") % {
            "name": _person(redemption.decided_by),
            "reason": redemption.decision_reason,
        }
    elif redemption.status == Status.CANCELLED:
        redemption.done_text = _("Cancelled by %(name)s") % {"name": _person(redemption.decided_by)}
    elif redemption.status == Status.APPROVED:
        redemption.done_text = _("Approved by %(name)s") % {"name": _person(redemption.decided_by)}
    else:
        redemption.done_text = ""
    return redemption


# --- asking for items: the patient, or a counselor for them -------------------------------------


class _CatalogRequest(View):
    """The catalog with a quantity per item; the request holds the points at once."""

    template_name = "rewards/redemption/catalog.html"
    on_behalf = False

    def get_patient(self, request, **kwargs) -> Patient:
        raise NotImplementedError

    def success_url(self, patient: Patient):
        raise NotImplementedError

    def _render(self, request, patient, form, status=200):
        context = {
            "patient": patient,
            "wallet": wallet_get(patient=patient),
            "form": form,
            "on_behalf": self.on_behalf,
        }
        return render(request, self.template_name, context, status=status)

    def get(self, request, **kwargs):
        patient = self.get_patient(request, **kwargs)
        form = RedemptionRequestForm(items=offered_items(clinic=patient.clinic))
        return self._render(request, patient, form)

    def post(self, request, **kwargs):
        patient = self.get_patient(request, **kwargs)
        form = RedemptionRequestForm(request.POST, items=offered_items(clinic=patient.clinic))
        if not form.is_valid():
            return self._render(request, patient, form, status=400)
        try:
            redemption = redemptions.redemption_request(
                patient=patient,
                items=form.cleaned_data["items"],
                requested_by=request.user,
                idempotency_key=form.idempotency_key_value(),
            )
        except ValidationError as error:
            errors_onto_form(form, error)
            status = 409 if isinstance(error, Conflict) else 400
            return self._render(request, patient, form, status=status)
        redemption = with_lines(Redemption.objects.filter(pk=redemption.pk)).get()
        values = {
            "items": lines_text(redemption),
            "amount": dollars(redemption.total_cents),
            "name": patient.full_name,
        }
        if self.on_behalf:
            text = _("Requested for %(name)s: %(items)s. %(amount)s held from their balance.")
        else:
            text = _("Requested: %(items)s. %(amount)s held from your balance.")
        messages.success(request, text % values)
        return redirect(self.success_url(patient))


@method_decorator(never_cache, name="dispatch")
class PortalCatalogView(PatientRequiredMixin, _CatalogRequest):
    def get_patient(self, request, **kwargs):
        return request.patient

    def success_url(self, patient):
        return "portal-redemptions"


@method_decorator(never_cache, name="dispatch")
class PatientRedemptionNewView(StaffRequiredMixin, _CatalogRequest):
    on_behalf = True

    def get_patient(self, request, pk, **kwargs):
        return patient_get_or_404(request.user, pk)

    def success_url(self, patient):
        return "redemptions"


# --- the patient's requests --------------------------------------------------------------------


class PortalRedemptionsView(PatientRequiredMixin, View):
    template_name = "rewards/redemption/portal_redemptions.html"

    def render_list(self, request, status=200):
        patient = request.patient
        requests = with_lines(Redemption.objects.filter(patient=patient)).order_by(
            "-requested_at", "-pk"
        )[:PATIENT_REQUESTS]
        context = {
            "patient": patient,
            "wallet": wallet_get(patient=patient),
            "requests": [_decorate(r) for r in requests],
        }
        return render(request, self.template_name, context, status=status)

    def get(self, request):
        return self.render_list(request)


class PortalRedemptionCancelView(PortalRedemptionsView):
    """A patient withdraws their own request while it waits; the points come back."""

    def get(self, request, pk):
        return redirect("portal-redemptions")

    def post(self, request, pk):
        redemption = Redemption.objects.filter(patient=request.patient, pk=pk).first()
        if redemption is None:
            raise Http404("No such request")
        redemption.patient = request.patient
        try:
            redemptions.redemption_cancel(redemption=redemption, actor=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return self.render_list(request, status=409)
        messages.success(
            request,
            _("Request cancelled. %(amount)s is back in your balance.")
            % {"amount": dollars(redemption.total_cents)},
        )
        return redirect("portal-redemptions")


# --- the counselors' queue ---------------------------------------------------------------------


def redemption_get_or_404(user, pk: int) -> Redemption:
    """A redemption of a patient `user` may see; anyone else's answers 404."""
    redemption = (
        Redemption.objects.filter(pk=pk, patient__in=patients_visible_to(user))
        .select_related("patient__clinic")
        .first()
    )
    if redemption is None:
        raise Http404("No such redemption")
    audit.disclosed([redemption.patient_id])
    return redemption


class RedemptionQueueView(StaffRequiredMixin, View):
    """Waiting for approval, approved (to hand over), and the recently done, for the user's
    clinics. A fixed number of queries whatever the number of redemptions."""

    template_name = "rewards/redemption/queue.html"

    def render_queue(self, request, status=200, decline_form=None, decline_pk=None):
        clinics = staff_clinic_ids(request.user)
        mine = Redemption.objects.filter(patient__clinic_id__in=clinics)
        open_ = [
            _decorate(r)
            for r in with_lines(mine.filter(status__in=Redemption.OPEN)).order_by(
                "requested_at", "pk"
            )
        ]
        done = with_lines(mine.filter(status__in=DONE)).order_by(
            Coalesce("handed_over_at", "decided_at", "requested_at").desc(), F("pk").desc()
        )[:RECENT_DONE]
        done = list(done)
        audit.disclosed(r.patient_id for r in [*open_, *done])  # names and what they asked for
        context = {
            "waiting": [r for r in open_ if r.status == Status.REQUESTED],
            "approved": [r for r in open_ if r.status == Status.APPROVED],
            "done": [_decorate(r) for r in done],
            "decline_form": decline_form,
            "decline_pk": decline_pk,
            "Status": Status,
        }
        return render(request, self.template_name, context, status=status)

    def get(self, request):
        return self.render_queue(request)


class RedemptionActionView(RedemptionQueueView):
    """Approve, decline (with a reason), hand over or cancel one redemption, then back to the
    queue. A request that has moved on meanwhile is refused with a message, not applied twice."""

    DONE_MESSAGES = {
        "approve": gettext_lazy("Approved for %(name)s: %(items)s."),
        "decline": gettext_lazy("Declined for %(name)s; %(amount)s returned to their balance."),
        "cancel": gettext_lazy("Cancelled for %(name)s; %(amount)s returned to their balance."),
        "handover": gettext_lazy("Handed over to %(name)s: %(items)s."),
    }

    def get(self, request, pk, action):
        return redirect("redemptions")

    def post(self, request, pk, action):
        redemption = redemption_get_or_404(request.user, int(pk))
        try:
            if action == "approve":
                redemptions.redemption_approve(redemption=redemption, actor=request.user)
            elif action == "handover":
                redemptions.redemption_handover(redemption=redemption, actor=request.user)
            elif action == "cancel":
                redemptions.redemption_cancel(redemption=redemption, actor=request.user)
            else:
                form = DeclineForm(request.POST)
                if not form.is_valid():
                    messages.error(request, " ".join(form.errors.get("reason", [])))
                    return self.render_queue(
                        request, status=400, decline_form=form, decline_pk=redemption.pk
                    )
                redemptions.redemption_decline(
                    redemption=redemption, actor=request.user, reason=form.cleaned_data["reason"]
                )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            status = 409 if isinstance(error, Conflict) else 400
            return self.render_queue(request, status=status)
        redemption = with_lines(Redemption.objects.filter(pk=redemption.pk)).get()
        messages.success(
            request,
            str(self.DONE_MESSAGES[action])
            % {
                "name": redemption.patient.full_name,
                "items": lines_text(redemption),
                "amount": dollars(redemption.total_cents),
            },
        )
        return redirect("redemptions")
