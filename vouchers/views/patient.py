"""The counselor's patient page, correcting a result, and enrolling / pausing / ending CM.

Thin views: scope through patients.permissions, validate with a form, call a service, render.
Times on these pages are the patient's clinic's: each view runs (and renders) with the clinic's
time zone active, so a date typed in a form and a date shown in a table mean the same day.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.generic import FormView, TemplateView

from cmtracker import audit
from patients.enrollment import enrollment_schedule_set, enrollment_set_status, enrollment_start
from patients.models import Enrollment, Patient, Specimen
from patients.permissions import (
    ClinicTimeMixin,
    StaffRequiredMixin,
    is_clinic_admin,
    patients_visible_to,
)
from vouchers import engine
from vouchers.charts import earnings_chart
from vouchers.forms import ExcuseForm, SpecimenCorrectionForm, errors_onto_form
from vouchers.missed import missed_test_excuse
from vouchers.models import protocol_attach, protocols_attach
from vouchers.patient_forms import EnrollForm, EnrollmentScheduleForm, EnrollmentStatusForm
from vouchers.presenters import (
    chart_end,
    history_rows,
    ledger_source,
    person,
    weekday_names,
)
from vouchers.recording import specimen_correct
from vouchers.selectors import enrollment_with_history, reward_summary, wallet_get
from vouchers.settlement import enrollment_events
from vouchers.templatetags.money import dollars


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
