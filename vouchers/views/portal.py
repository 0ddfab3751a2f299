"""The patient's own pages, and the staff page that gives a patient a sign-in.

The portal has no id in its URL: it always shows the signed-in patient (PatientRequiredMixin sets
request.patient), so there is nothing to change in the address bar to see someone else.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import formats, timezone, translation
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views import View
from django.views.decorators.cache import never_cache

from patients import accounts
from patients.models import Enrollment, Patient, Specimen
from patients.permissions import PatientRequiredMixin, StaffRequiredMixin, patient_get_or_404
from vouchers import charts, extensions
from vouchers.forms import ReminderSettingsForm, errors_onto_form
from vouchers.models import LedgerEntry, protocol_attach
from vouchers.reminders import reminder_settings_set
from vouchers.schedule import scheduled_days_between
from vouchers.selectors import reward_summary
from vouchers.templatetags.money import dollars

LAST_RESULTS = 5
LEDGER_LINES = 20
UPCOMING_DAYS = 5

# Outcome letter -> the badge class in app.css.
OUTCOME_BADGE = {
    Specimen.Outcome.NEGATIVE: "negative",
    Specimen.Outcome.POSITIVE: "positive",
    Specimen.Outcome.MISSED: "missed",
    Specimen.Outcome.REFUSED: "refused",
    Specimen.Outcome.ADULTERATED: "adulterated",
    Specimen.Outcome.DILUTE: "dilute",
    Specimen.Outcome.EXCUSED: "excused",
}


@dataclass(frozen=True)
class LedgerLine:
    day: date
    text: str
    amount_cents: int  # what moved in the balance
    draws: int


def _short(day: date) -> str:
    return formats.date_format(day, "D j M")


def _ledger_day(entry: LedgerEntry, clinic) -> date:
    if entry.specimen_id:
        return clinic.local_date(entry.specimen.collected_at)
    if entry.attendance_id:
        return clinic.local_date(entry.attendance.occurred_at)
    return clinic.local_date(entry.created_at)


def _ledger_text(entry: LedgerEntry, day: date) -> str:
    """One ledger entry as the patient would say it."""
    kind = LedgerEntry.Kind
    values = {
        "amount": dollars(abs(entry.entitlement_cents)),
        "day": _short(day),
        "draws": abs(entry.draws + entry.draws_under_review),
        "reason": entry.reason,
    }
    source = "session" if entry.attendance_id else "test"
    if entry.kind == kind.DRAWS:
        text = ngettext(
            "You earned %(draws)s prize draw for your negative test on %(day)s.",
            "You earned %(draws)s prize draws for your negative test on %(day)s.",
            values["draws"],
        )
    elif entry.kind == kind.EARN:
        text = _("You earned %(amount)s for your negative test on %(day)s.")
    elif entry.kind == kind.BONUS:
        text = _("Bonus: %(amount)s for your run of negative tests, on %(day)s.")
    elif entry.kind == kind.ATTENDANCE:
        text = _("You earned %(amount)s for coming to your session on %(day)s.")
    elif entry.kind == kind.REVERSAL and entry.component == LedgerEntry.Component.DRAWS:
        text = ngettext(
            "Correction: %(draws)s prize draw taken back after the result of your test on "
            "%(day)s was corrected.",
            "Correction: %(draws)s prize draws taken back after the result of your test on "
            "%(day)s was corrected.",
            values["draws"],
        )
    elif entry.kind == kind.REVERSAL and source == "session":
        text = _(
            "Correction: %(amount)s taken back after the record of your session on %(day)s "
            "was corrected."
        )
    elif entry.kind == kind.REVERSAL:
        text = _(
            "Correction: %(amount)s taken back after the result of your test on %(day)s "
            "was corrected."
        )
    elif entry.kind == kind.REDEEM:
        text = _("You spent %(amount)s on rewards.")
    elif entry.kind == kind.REFUND:
        text = _("Refund: %(amount)s back to you.")
    elif entry.kind == kind.ADJUSTMENT and entry.amount_cents >= 0:
        text = _("The clinic added %(amount)s: %(reason)s")
    elif entry.kind == kind.ADJUSTMENT:
        text = _("The clinic took off %(amount)s: %(reason)s")
    elif entry.kind == kind.WAIVER:
        text = _("The clinic forgave %(amount)s you owed after a correction.")
    else:
        text = _("%(amount)s on %(day)s.")
    text %= values
    if entry.overpayment_cents < 0 and entry.kind in (kind.EARN, kind.BONUS, kind.ATTENDANCE):
        text += " " + _("%(repaid)s of it paid back an earlier correction.") % {
            "repaid": dollars(-entry.overpayment_cents)
        }
    elif entry.overpayment_cents > 0 and entry.kind == kind.REVERSAL:
        text += " " + _("%(owed)s will come out of your next earnings.") % {
            "owed": dollars(entry.overpayment_cents)
        }
    return text


def ledger_lines(patient: Patient, limit: int = LEDGER_LINES) -> list[LedgerLine]:
    """The newest of the patient's history, a line per entry, except the prize draws made: one
    line per day for those (a counselor may draw dozens of slips at once)."""
    entries = (
        LedgerEntry.objects.filter(patient=patient)
        .exclude(kind=LedgerEntry.Kind.DRAWN)
        .select_related("specimen", "attendance")
        .order_by("-created_at", "-id")[:limit]
    )
    lines = []
    for entry in entries:
        day = _ledger_day(entry, patient.clinic)
        lines.append(LedgerLine(day, _ledger_text(entry, day), entry.amount_cents, entry.draws))
    lines += _draw_days(patient, limit)
    lines.sort(key=lambda line: line.day, reverse=True)  # stable: same-day order kept
    return lines[:limit]


def _draw_days(patient: Patient, limit: int) -> list[LedgerLine]:
    """ "You made 5 prize draws on Mon 30 Nov and won $7.00 in prizes." per day, newest first."""
    draws = extensions.prize_draws(patient=patient)
    days: dict[date, list[int]] = {}
    for drawn_at, value in draws:
        day = patient.clinic.local_date(drawn_at)
        if day not in days and len(days) == limit:
            break
        days.setdefault(day, []).append(value)
    lines = []
    for day, values in days.items():
        n, won = len(values), sum(values)
        values_text = {"n": n, "day": _short(day), "won": dollars(won)}
        if won:
            text = ngettext(
                "You made %(n)s prize draw on %(day)s and won %(won)s in prizes.",
                "You made %(n)s prize draws on %(day)s and won %(won)s in prizes.",
                n,
            )
        else:
            text = ngettext(
                "You made %(n)s prize draw on %(day)s.",
                "You made %(n)s prize draws on %(day)s.",
                n,
            )
        lines.append(LedgerLine(day, text % values_text, 0, -n))
    return lines


def upcoming_test_days(enrollment: Enrollment | None, today: date, tested_today: bool):
    if enrollment is None or enrollment.status != Enrollment.Status.ACTIVE:
        return []
    first = today + timedelta(days=1) if tested_today else today
    rules = protocol_attach(enrollment).protocol.rules()
    days = scheduled_days_between(
        rules, enrollment.start_date, first, first + timedelta(weeks=4), enrollment.weekdays
    )
    return days[:UPCOMING_DAYS]


class PortalView(PatientRequiredMixin, View):
    """The patient's phone screen: balance, streak, the next reward, results, ledger, test days."""

    def get(self, request):
        patient = request.patient
        clinic = patient.clinic
        today = clinic.local_date(timezone.now())
        summary = reward_summary(patient=patient, today=today)
        specimens = list(
            Specimen.objects.filter(enrollment__patient=patient).order_by("-collected_at", "-id")[
                :LAST_RESULTS
            ]
        )
        awards = {a.key: a for a in summary.result.awards} if summary.result else {}
        results = [
            {
                "day": clinic.local_date(s.collected_at),
                "outcome": s.get_outcome_display(),
                "badge": OUTCOME_BADGE.get(s.outcome, ""),
                "award": awards.get(f"specimen:{s.id}"),
            }
            for s in specimens
        ]
        tested_today = any(r["day"] == today for r in results)
        enrollment = summary.enrollment
        context = {
            "patient": patient,
            "today": today,
            "summary": summary,
            "wallet": summary.wallet,
            "active": enrollment is not None and enrollment.status == Enrollment.Status.ACTIVE,
            "paused": enrollment is not None and enrollment.status == Enrollment.Status.PAUSED,
            "results": results,
            "chart": charts.earnings_chart(
                summary.result.awards,
                kind=enrollment.protocol.kind,
                start=enrollment.start_date,
                end=today,
                id_prefix="portal-chart",
            )
            if summary.result
            else None,
            "ledger": ledger_lines(patient),
            "upcoming": upcoming_test_days(enrollment, today, tested_today),
        }
        return render(request, "vouchers/portal.html", context)


class ReminderSettingsView(PatientRequiredMixin, View):
    """The patient's own reminder choices: when, the evening before, by text or email, how
    discreetly they read, language."""

    template_name = "vouchers/reminder_settings.html"

    def _render(self, request, form, status=200):
        patient = request.patient
        clinic = patient.clinic
        context = {
            "patient": patient,
            "clinic": clinic,
            "form": form,
            "channels_on_file": bool(patient.phone or patient.email),
        }
        return render(request, self.template_name, context, status=status)

    def get(self, request):
        patient = request.patient
        form = ReminderSettingsForm(
            clinic=patient.clinic,
            initial={
                "reminder_time": patient.reminder_time,
                "reminder_evening_before": patient.reminder_evening_before,
                "reminder_consent_sms": patient.reminder_consent_sms,
                "reminder_consent_email": patient.reminder_consent_email,
                "message_style": patient.message_style,
                "preferred_language": patient.preferred_language,
            },
        )
        return self._render(request, form)

    def post(self, request):
        form = ReminderSettingsForm(request.POST, clinic=request.patient.clinic)
        if form.is_valid():
            data = form.cleaned_data
            try:
                reminder_settings_set(
                    patient=request.patient,
                    reminder_time=data["reminder_time"],
                    evening_before=data["reminder_evening_before"],
                    sms=data["reminder_consent_sms"],
                    email=data["reminder_consent_email"],
                    message_style=data["message_style"],
                    language=data["preferred_language"],
                )
            except ValidationError as error:
                errors_onto_form(form, error)
            else:
                # Said in the language just chosen, which the next page is in.
                with translation.override(request.patient.preferred_language):
                    messages.success(request, _("Your reminder settings are saved."))
                return redirect("portal-reminders")
        return self._render(request, form, status=400)


class AccessForm(forms.Form):
    action = forms.ChoiceField(
        choices=[
            ("invite", gettext_lazy("Create sign-in / new invitation link")),
            ("reset", gettext_lazy("Reset this patient's access")),
        ]
    )


@method_decorator(never_cache, name="dispatch")
class PatientAccessView(StaffRequiredMixin, View):
    """Staff give a patient a sign-in: a one-time link to choose a password. No open sign-up."""

    template_name = "vouchers/patient_access.html"

    def _render(self, request, patient, link=None, form=None, status=200):
        context = {
            "patient": patient,
            "account": patient.user,
            "link": link,
            "form": form or AccessForm(),
            "link_days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
        }
        return render(request, self.template_name, context, status=status)

    def get(self, request, pk):
        return self._render(request, patient_get_or_404(request.user, pk))

    def post(self, request, pk):
        patient = patient_get_or_404(request.user, pk)
        form = AccessForm(request.POST)
        if not form.is_valid():
            return self._render(request, patient, form=form, status=400)
        if form.cleaned_data["action"] == "reset":
            invitation = accounts.patient_signin_reset(patient=patient)
            messages.success(
                request,
                _("The old password no longer works. Give the patient the new link below."),
            )
        else:
            invitation = accounts.patient_signin_invite(patient=patient)
            if invitation.created:
                messages.success(
                    request,
                    _("Sign-in created. The username is %(username)s.")
                    % {"username": invitation.user.get_username()},
                )
        patient.user = invitation.user
        link = request.build_absolute_uri(invitation.path)
        return self._render(request, patient, link=link)
