"""The counselor's patient page, correcting a result, and enrolling / pausing / ending CM.

Thin views: scope through patients.permissions, validate with a form, call a service, render.
Times on these pages are the patient's clinic's: each view runs (and renders) with the clinic's
time zone active, so a date typed in a form and a date shown in a table mean the same day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Case, IntegerField, Prefetch, Value, When
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.generic import FormView, TemplateView

from cmtracker import audit
from cmtracker.models import WEEKDAYS
from patients.enrollment import enrollment_schedule_set, enrollment_set_status, enrollment_start
from patients.models import Attendance, Correction, Enrollment, Patient, Specimen, Substance
from patients.permissions import (
    ClinicTimeMixin,
    StaffRequiredMixin,
    is_clinic_admin,
    patients_visible_to,
)
from vouchers import engine
from vouchers.award_notes import award_note
from vouchers.charts import earnings_chart
from vouchers.forms import ExcuseForm, SpecimenCorrectionForm, errors_onto_form
from vouchers.missed import missed_test_excuse
from vouchers.models import LedgerEntry, protocol_attach, protocols_attach
from vouchers.patient_forms import EnrollForm, EnrollmentScheduleForm, EnrollmentStatusForm
from vouchers.presenters import person
from vouchers.recording import specimen_correct
from vouchers.selectors import reward_summary, wallet_get
from vouchers.settlement import enrollment_events
from vouchers.templatetags.money import dollars

OUTCOME_CLASS = {
    engine.NEGATIVE: "negative",
    engine.POSITIVE: "positive",
    engine.MISSED: "missed",
    engine.REFUSED: "refused",
    engine.ADULTERATED: "adulterated",
    engine.DILUTE: "dilute",
    engine.EXCUSED: "excused",
}


# --- the history table ---------------------------------------------------------------------------


@dataclass
class Change:
    label: str
    before: str
    after: str


@dataclass
class CorrectionRow:
    who: str
    when: datetime
    reason: str
    changes: list[Change]


@dataclass
class HistoryRow:
    when: datetime
    what: str
    outcome: str
    outcome_class: str
    details: str
    recorded_by: str
    earned: list[str]
    corrections: list[CorrectionRow] = field(default_factory=list)
    correct_url: str = ""
    excuse_url: str = ""  # a missed test, which staff may excuse


def _moment(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return str(value)
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def _results_text(results: dict) -> str:
    names = dict(Substance.choices)
    labels = {"negative": _("negative"), "positive": _("positive")}
    return (
        ", ".join(f"{names.get(s, s)}: {labels.get(r, r)}" for s, r in sorted(results.items()))
        or "—"
    )


def _label(choices, value) -> str:
    return choices(value).label if value in choices.values else (value or "—")


def _status_label(value) -> str:
    if value in Specimen.Status.values:
        return Specimen.Status(value).label
    return _label(Attendance.Status, value)


def _changes(before: dict, after: dict) -> list[Change]:
    """What a correction changed, field by field, in words."""
    shown = {
        "collected_at": (_("Collected at"), _moment),
        "occurred_at": (_("Session time"), _moment),
        "kind": (_("Specimen"), lambda v: _label(Specimen.Kind, v)),
        "session_kind": (_("Session"), lambda v: _label(Attendance.SessionKind, v)),
        "status": (_("Status"), _status_label),
        "outcome": (_("Outcome"), lambda v: _label(Specimen.Outcome, v)),
        "results": (_("Results"), lambda v: _results_text(v or {})),
        "notes": (_("Notes"), lambda v: v or "—"),
    }
    changes = []
    for key, (label, text) in shown.items():
        if key in before or key in after:
            was, now = text(before.get(key)), text(after.get(key))
            if was != now:  # the same moment in another offset is no change to a reader
                changes.append(Change(label, was, now))
    return changes


def _corrections(record) -> list[CorrectionRow]:
    return [
        CorrectionRow(
            who=person(c.changed_by),
            when=c.changed_at,
            reason=c.reason,
            changes=_changes(c.before, c.after),
        )
        for c in record.corrections.all()
    ]


def _earned(award: engine.Award | None, is_prize: bool) -> list[str]:
    if award is None:
        return []
    parts = []
    if award.voucher_cents:
        parts.append(dollars(award.voucher_cents))
    if award.bonus_cents:
        parts.append(_("%(amount)s bonus") % {"amount": dollars(award.bonus_cents)})
    if award.attendance_cents:
        parts.append(dollars(award.attendance_cents))
    if is_prize and award.draws:
        parts.append(ngettext("%(n)d draw", "%(n)d draws", award.draws) % {"n": award.draws})
    if award.clipped_cents:
        parts.append(
            _("%(amount)s not paid: over the cap") % {"amount": dollars(award.clipped_cents)}
        )
    if award.note:
        parts.append(award_note(award.note))
    return parts


def history_rows(enrollment: Enrollment, awards: dict[str, engine.Award]) -> list[HistoryRow]:
    """Specimens and sessions, newest first, each with what it earned and its corrections."""
    is_prize = enrollment.protocol.kind == engine.PRIZE
    rows = []
    for s in enrollment.specimens.all():
        results = {r.substance: r.result for r in s.results.all()}
        rows.append(
            HistoryRow(
                when=s.collected_at,
                what=_("Test (%(kind)s)") % {"kind": s.get_kind_display().lower()},
                outcome=s.get_outcome_display(),
                outcome_class=OUTCOME_CLASS.get(s.outcome, ""),
                details=_results_text(results) if results else s.get_status_display(),
                recorded_by=person(s.recorded_by),
                earned=_earned(awards.get(f"specimen:{s.id}"), is_prize),
                corrections=_corrections(s),
                correct_url=reverse("specimen-correct", args=[s.pk]),
                excuse_url=reverse("specimen-excuse", args=[s.pk])
                if s.status == Specimen.Status.MISSED
                else "",
            )
        )
    for a in enrollment.attendance.all():
        rows.append(
            HistoryRow(
                when=a.occurred_at,
                what=_("Session (%(kind)s)") % {"kind": a.get_session_kind_display()},
                outcome=a.get_status_display(),
                outcome_class=a.status,
                details=a.notes,
                recorded_by=person(a.recorded_by),
                earned=_earned(awards.get(f"attendance:{a.id}"), is_prize),
                corrections=_corrections(a),
            )
        )
    rows.sort(key=lambda r: r.when, reverse=True)
    return rows


def enrollment_with_history(patient: Patient) -> Enrollment | None:
    """The open enrollment, or else the latest, with everything its history table shows."""
    corrections = Correction.objects.select_related("changed_by")
    enrollment = (
        Enrollment.objects.filter(patient=patient)
        .select_related("patient__clinic")
        .prefetch_related(
            Prefetch(
                "specimens",
                queryset=Specimen.objects.select_related("recorded_by").prefetch_related(
                    "results", Prefetch("corrections", queryset=corrections)
                ),
            ),
            Prefetch(
                "attendance",
                queryset=Attendance.objects.select_related("recorded_by").prefetch_related(
                    Prefetch("corrections", queryset=corrections)
                ),
            ),
        )
        .order_by(
            Case(
                When(status__in=Enrollment.OPEN_STATUSES, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            ),
            "-start_date",
            "-id",
        )
        .first()
    )
    return enrollment and protocol_attach(enrollment)


def ledger_source(entry: LedgerEntry) -> str:
    if entry.specimen_id:
        day = entry.specimen.collected_at
        return _("Test of %(day)s") % {"day": date_format(timezone.localtime(day), "DATE_FORMAT")}
    if entry.attendance_id:
        day = entry.attendance.occurred_at
        return _("Session of %(day)s") % {
            "day": date_format(timezone.localtime(day), "DATE_FORMAT")
        }
    return entry.reason


def weekday_names(days) -> str:
    """ "Monday, Wednesday, Friday" in the reader's language; "Every day" for all seven."""
    names = dict(WEEKDAYS)
    if set(days or []) == set(names):
        return str(_("Every day"))
    return ", ".join(str(names[d]) for d in sorted(days or [])) or "—"


def chart_end(enrollment: Enrollment, weeks: int | None, today: date) -> date:
    """The chart runs to today, or to the enrollment's end or the protocol's last day if sooner."""
    ends = [today]
    if enrollment.end_date:
        ends.append(enrollment.end_date)
    if weeks:
        ends.append(enrollment.start_date + timedelta(weeks=weeks, days=-1))
    return max(enrollment.start_date, min(ends))


# --- pages --------------------------------------------------------------------------------------


class PatientDetailView(StaffRequiredMixin, ClinicTimeMixin, TemplateView):
    template_name = "vouchers/patient_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        patient = self.patient
        today = patient.clinic.local_date(timezone.now())
        summary = reward_summary(patient=patient, today=today)
        ledger = patient.ledger.select_related("created_by", "specimen", "attendance")
        context.update(
            patient=patient,
            is_clinic_admin=is_clinic_admin(self.request.user, patient.clinic),
            counselor_name=person(patient.primary_counselor),
            summary=summary,
            wallet=summary.wallet,
            ledger=[
                (entry, ledger_source(entry), person(entry.created_by))
                for entry in ledger.order_by("-created_at", "-id")
            ],
            enrollment=None,
            history=[],
            chart=earnings_chart([]),
        )
        enrollment = enrollment_with_history(patient)
        if enrollment is None:
            return context

        rules = enrollment.protocol.rules()
        if summary.enrollment is not None and summary.enrollment.pk == enrollment.pk:
            awards = summary.result.awards
        else:  # an ended enrollment: replay it read-only, as settlement would
            awards = engine.run(rules, enrollment.start_date, enrollment_events(enrollment)).awards
        is_open = enrollment.status in Enrollment.OPEN_STATUSES
        week = engine.enrollment_week(enrollment.start_date, today)
        context.update(
            enrollment=enrollment,
            test_days=weekday_names(enrollment.weekdays),
            own_test_days=bool(enrollment.test_weekdays),
            session_days=weekday_names(enrollment.session_weekdays),
            is_active=enrollment.status == Enrollment.Status.ACTIVE,
            is_prize=rules.kind == engine.PRIZE,
            week=week if is_open and today >= enrollment.start_date else None,
            weeks=rules.weeks,
            # The engine pays nothing past the protocol's last week: promise nothing then.
            past_protocol=summary.protocol_over,
            history=history_rows(enrollment, {a.key: a for a in awards}),
            chart=earnings_chart(
                awards,
                kind=rules.kind,
                start=enrollment.start_date,
                end=chart_end(enrollment, rules.weeks, today),
            ),
        )
        return context


def specimen_get_or_404(user, pk) -> Specimen:
    """A specimen of a patient `user` may see; another clinic's specimen is a 404."""
    specimen = (
        Specimen.objects.filter(pk=pk, enrollment__patient__in=patients_visible_to(user))
        .select_related("enrollment__patient__clinic", "recorded_by")
        .prefetch_related("results")
        .first()
    )
    if specimen is not None:
        protocol_attach(specimen.enrollment)
    if specimen is None:
        raise Http404("No such specimen")
    audit.disclosed([specimen.enrollment.patient_id])  # its pages name the patient
    return specimen


class SpecimenCorrectView(StaffRequiredMixin, ClinicTimeMixin, FormView):
    """Correct a recorded test with a reason; settlement posts the difference."""

    template_name = "vouchers/specimen_correct.html"
    form_class = SpecimenCorrectionForm

    def get_patient(self) -> Patient:
        self.specimen = specimen_get_or_404(self.request.user, self.kwargs["pk"])
        return self.specimen.enrollment.patient

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs.pop("initial")  # the form prefills itself from the specimen
        kwargs["specimen"] = self.specimen
        return kwargs

    def get_context_data(self, **kwargs):
        return super().get_context_data(patient=self.patient, specimen=self.specimen, **kwargs)

    def form_valid(self, form):
        before = wallet_get(patient=self.patient)
        data = form.cleaned_data
        try:
            recorded = specimen_correct(
                specimen=self.specimen,
                changed_by=self.request.user,
                reason=data["reason"],
                collected_at=data["collected_at"],
                kind=data["kind"],
                status=data["status"],
                results=form.results(),
                notes=data["notes"],
            )
        except ValidationError as error:
            errors_onto_form(form, error)
            return self.form_invalid(form)
        after = recorded.settlement.wallet
        if after.balance_cents == before.balance_cents:
            text = _("Result corrected. The balance stays at %(after)s.") % {
                "after": dollars(after.balance_cents)
            }
        else:
            text = _("Result corrected. Balance changed from %(before)s to %(after)s.") % {
                "before": dollars(before.balance_cents),
                "after": dollars(after.balance_cents),
            }
        if after.overpayment_cents:
            text += " " + _(
                "%(amount)s was paid for results since corrected; later earnings pay it back."
            ) % {"amount": dollars(after.overpayment_cents)}
        messages.success(self.request, text)
        return redirect("patient-detail", pk=self.patient.pk)


class SpecimenExcuseView(StaffRequiredMixin, ClinicTimeMixin, FormView):
    """Excuse a test marked missed, with a reason; settling again keeps the streak."""

    template_name = "vouchers/specimen_excuse.html"
    form_class = ExcuseForm

    def get_patient(self) -> Patient:
        self.specimen = specimen_get_or_404(self.request.user, self.kwargs["pk"])
        return self.specimen.enrollment.patient

    def get(self, request, *args, **kwargs):
        if self.specimen.status != Specimen.Status.MISSED:
            return self.not_missed()
        return super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        if self.specimen.status != Specimen.Status.MISSED:
            return self.not_missed()
        return super().post(request, *args, **kwargs)

    def not_missed(self):
        """A second click, or a test that was never missed: nothing to excuse."""
        if self.specimen.status == Specimen.Status.EXCUSED:
            messages.info(self.request, _("This test is already excused."))
        else:
            messages.error(
                self.request, _("Only a missed test can be excused; correct other results instead.")
            )
        return redirect("patient-detail", pk=self.patient.pk)

    def get_context_data(self, **kwargs):
        return super().get_context_data(patient=self.patient, specimen=self.specimen, **kwargs)

    def form_valid(self, form):
        try:
            recorded = missed_test_excuse(
                specimen=self.specimen,
                reason=form.cleaned_data["reason"],
                actor=self.request.user,
            )
        except ValidationError as error:
            errors_onto_form(form, error)
            return self.form_invalid(form)
        state = recorded.settlement.result.state
        day = date_format(timezone.localtime(self.specimen.collected_at), "DATE_FORMAT")
        excused_day = self.patient.clinic.local_date(self.specimen.collected_at)
        following = recorded.settlement.next_award(excused_day)
        if recorded.settlement.enrollment.protocol.kind == engine.PRIZE:
            onward = ngettext(
                "The next negative test earns %(n)s draw.",
                "The next negative test earns %(n)s draws.",
                following.draws,
            ) % {"n": following.draws}
        else:
            onward = _("The next negative test earns %(amount)s.") % {
                "amount": dollars(following.total_cents)
            }
        messages.success(
            self.request,
            _("The test of %(day)s is excused and the streak is kept (%(streak)s).")
            % {"day": day, "streak": state.streak}
            + " "
            + onward,
        )
        return redirect("patient-detail", pk=self.patient.pk)

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


class EnrollmentManageView(StaffRequiredMixin, ClinicTimeMixin, TemplateView):
    """Enrol a patient (when no enrollment is open), or pause, resume, complete or withdraw."""

    template_name = "vouchers/enrollment_manage.html"

    def open_enrollment(self) -> Enrollment | None:
        enrollment = self.patient.enrollments.filter(status__in=Enrollment.OPEN_STATUSES).first()
        return enrollment and protocol_attach(enrollment)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        today = self.patient.clinic.local_date(timezone.now())
        open_enrollment = self.open_enrollment()
        context.setdefault(
            "enroll_form",
            None if open_enrollment else EnrollForm(initial={"start_date": today}),
        )
        if open_enrollment is not None:
            context.setdefault(
                "schedule_form",
                EnrollmentScheduleForm(
                    initial={
                        "test_weekdays": open_enrollment.weekdays,
                        "session_weekdays": open_enrollment.session_weekdays,
                    }
                ),
            )
            context["clinic_test_days"] = weekday_names(self.patient.clinic.test_weekdays)
        context.update(
            patient=self.patient,
            open_enrollment=open_enrollment,
            enrollments=protocols_attach(self.patient.enrollments.all()),
            Status=Enrollment.Status,
        )
        return context

    def post(self, request, *args, **kwargs):
        if "status" in request.POST:
            return self.set_status()
        if "schedule" in request.POST:
            return self.set_schedule()
        return self.enrol()

    def set_schedule(self):
        enrollment = self.open_enrollment()
        if enrollment is None:
            messages.error(self.request, _("This patient has no open enrollment."))
            return redirect("enrollment-manage", pk=self.patient.pk)
        form = EnrollmentScheduleForm(self.request.POST)
        if form.is_valid():
            try:
                enrollment_schedule_set(
                    enrollment=enrollment,
                    test_weekdays=form.cleaned_data["test_weekdays"],
                    session_weekdays=form.cleaned_data["session_weekdays"],
                    actor=self.request.user,
                )
            except ValidationError as error:
                errors_onto_form(form, error)
            else:
                messages.success(self.request, _("Test and session days saved."))
                return redirect("patient-detail", pk=self.patient.pk)
        return self.render_to_response(self.get_context_data(schedule_form=form), status=400)

    def enrol(self):
        form = EnrollForm(self.request.POST)
        if form.is_valid():
            try:
                enrollment = enrollment_start(
                    patient=self.patient,
                    protocol=form.cleaned_data["protocol"],
                    start_date=form.cleaned_data["start_date"],
                )
            except ValidationError as error:
                errors_onto_form(form, error)
            else:
                messages.success(
                    self.request,
                    _("Enrolled in %(protocol)s from %(day)s.")
                    % {
                        "protocol": enrollment.protocol,
                        "day": date_format(enrollment.start_date, "DATE_FORMAT"),
                    },
                )
                return redirect("patient-detail", pk=self.patient.pk)
        # The form shows its errors, a second open enrollment among them, above its fields.
        return self.render_to_response(self.get_context_data(enroll_form=form), status=400)

    def set_status(self):
        form = EnrollmentStatusForm(self.request.POST)
        enrollment = self.open_enrollment()
        if enrollment is None:
            messages.error(self.request, _("This patient has no open enrollment."))
            return redirect("enrollment-manage", pk=self.patient.pk)
        if not form.is_valid():
            messages.error(self.request, _("Choose what to do with the enrollment."))
            return redirect("enrollment-manage", pk=self.patient.pk)
        status = form.cleaned_data["status"]
        try:
            enrollment = enrollment_set_status(
                enrollment=enrollment, status=status, actor=self.request.user
            )
        except ValidationError as error:
            for text in error.messages:
                messages.error(self.request, text)
            return redirect("enrollment-manage", pk=self.patient.pk)
        done = {
            Enrollment.Status.PAUSED: _("Enrollment paused."),
            Enrollment.Status.ACTIVE: _("Enrollment resumed."),
            Enrollment.Status.COMPLETED: _("Enrollment completed on %(day)s."),
            Enrollment.Status.WITHDRAWN: _("Enrollment withdrawn on %(day)s."),
        }[status]
        if enrollment.end_date:
            done = done % {"day": date_format(enrollment.end_date, "DATE_FORMAT")}
        messages.success(self.request, done)
        return redirect("patient-detail", pk=self.patient.pk)
