"""The program dashboard and the organization view (issue 14; docs/reports.md, "The dashboard").

Thin views: ReportReaderRequiredMixin (patients.permissions) lets in the clinics' administrators
and supervisors and picks the clinic (?clinic=<id>, another clinic's id answers 404); the range
form checks the days; vouchers.reports.dashboard reads and measures; the charts are drawn by
vouchers.reports.charts. Nothing is written, and no patient is named on these pages.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.generic import TemplateView

from cmtracker import audit
from patients.models import Patient
from patients.permissions import ReportReaderRequiredMixin, is_clinic_admin
from vouchers.reports import charts
from vouchers.reports.costs import costs_and_exceptions, weekly_cost
from vouchers.reports.dashboard import ClinicReport, clinic_report, organization_report
from vouchers.reports.fidelity import counselor_fidelity
from vouchers.reports.forms import ReportRangeForm
from vouchers.reports.weeks import LAST_30_DAYS, LAST_QUARTER, THIS_YEAR, quick_ranges
from vouchers.templatetags.money import dollars


def _short(day) -> str:
    return date_format(day, "SHORT_DATE_FORMAT")


def cost_chart(weeks: list[tuple]) -> charts.ReportChart:
    return charts.count_chart(
        [(_short(monday), cents) for monday, cents in weeks],
        id="chart-cost",
        title=_("Rewards earned by week"),
        x_label=_("Week of (Monday)"),
        y_label=_("Earned"),
        fmt=dollars,
    )


def report_charts(report: ClinicReport) -> list[charts.ReportChart]:
    """The dashboard's pictures, each with its data table."""
    weekly = charts.rate_chart(
        [(_short(week.monday), week.rate) for week in report.weekly],
        id="chart-weekly",
        title=_("Negative samples by week"),
        x_label=_("Week of (Monday)"),
        y_label=_("Negative samples"),
    )
    retention = charts.rate_chart(
        [
            (_("Week %(week)s") % {"week": week}, ratio)
            for week, ratio in report.total.retention_curve
        ],
        id="chart-retention",
        title=_("Retention curve"),
        x_label=_("Protocol week"),
        y_label=_("Still in treatment"),
    )
    abstinence = charts.count_chart(
        [
            (ngettext("%(weeks)s week", "%(weeks)s weeks", weeks) % {"weeks": weeks}, enrollments)
            for weeks, enrollments in report.abstinence_weeks
        ],
        id="chart-abstinence",
        title=_("Longest duration of abstinence"),
        x_label=_("Longest abstinence"),
        y_label=_("Enrollments"),
    )
    return [weekly, retention, abstinence]


class DashboardView(ReportReaderRequiredMixin, TemplateView):
    """The clinic's program dashboard for a range of its days, optionally broken down."""

    template_name = "vouchers/reports/dashboard.html"

    def query(self, **params) -> str:
        return self.clinic_query(**{k: v for k, v in params.items() if v})

    def get(self, request, *args, **kwargs):
        today = self.clinic.local_date(timezone.now())
        form = ReportRangeForm(request.GET, today=today)
        names = {
            LAST_30_DAYS: _("Last 30 days"),
            LAST_QUARTER: _("Last quarter"),
            THIS_YEAR: _("This year"),
        }
        by = request.GET.get("by", "")
        quick = [
            (names[key], self.query(first=first.isoformat(), last=last.isoformat(), by=by))
            for key, first, last in quick_ranges(today)
        ]
        context = self.get_context_data(form=form, today=today, quick=quick)
        if len(self.clinics) > 1:
            context["organization_url"] = reverse("reports-organization")
        if not form.is_valid():
            return self.render_to_response(context, status=400)
        first, last = form.cleaned_data["first"], form.cleaned_data["last"]
        by = form.cleaned_data["by"]
        report = clinic_report(clinic=self.clinic, first=first, last=last, by=by)
        costs, found = costs_and_exceptions(clinic=self.clinic, first=first, last=last)
        weekly = weekly_cost(clinic=self.clinic, first=first, last=last)
        context.update(self.exceptions(found))
        fidelity = counselor_fidelity(clinic=self.clinic, first=first, last=last)
        kinds = {
            "correction": _("Correction"),
            "excuse": _("Excused"),
            "adjustment": _("Adjustment"),
            "waiver": _("Waiver"),
        }
        context["fidelity"] = fidelity
        context["fidelity_reasons"] = sorted(
            (
                (action.at, row.name, kinds.get(action.kind, action.kind), action.reason)
                for row in fidelity
                if not row.is_total
                for action in (*row.corrections, *row.excused, *row.adjustments, *row.waivers)
            ),
            key=lambda item: item[0],
        )
        context["costs"] = costs
        context.update(
            first=first,
            last=last,
            by=by,
            by_label=dict(form.fields["by"].choices).get(by, ""),
            report=report,
            measures=report.total,
            charts=[*report_charts(report), cost_chart(weekly)],
        )
        return self.render_to_response(context)

    def exceptions(self, found) -> dict:
        """The equal-opportunity exceptions: how many for every reader; which patients, named,
        for the clinic's administrators only, and then logged as a read of each one's record."""
        context = {"exceptions": found}
        if not is_clinic_admin(self.request.user, self.clinic):
            return context
        ids = {m.patient_id for m in found.mismatches}
        ids |= {entry.patient_id for entry in found.outside_schedule}
        patients = Patient.objects.in_bulk(ids)
        audit.disclosed(ids)
        context.update(
            mismatches=[(patients[m.patient_id], m) for m in found.mismatches],
            outside_schedule=[(patients[e.patient_id], e) for e in found.outside_schedule],
        )
        return context


class OrganizationView(ReportReaderRequiredMixin, TemplateView):
    """Every clinic whose reports the reader reads, and their sum, for one range of days."""

    template_name = "vouchers/reports/organization.html"

    def get(self, request, *args, **kwargs):
        now = timezone.now()
        # A range may end no later than the earliest "today" among the clinics' time zones.
        today = min(clinic.local_date(now) for clinic in self.clinics)
        form = ReportRangeForm(request.GET, today=today, breakdown=False)
        context = self.get_context_data(form=form, today=today)
        if not form.is_valid():
            return self.render_to_response(context, status=400)
        first, last = form.cleaned_data["first"], form.cleaned_data["last"]
        report = organization_report(clinics=self.clinics, first=first, last=last)
        dates = urlencode({"first": first.isoformat(), "last": last.isoformat()})
        context.update(
            first=first,
            last=last,
            report=report,
            rows=[
                (clinic, measures, f"{reverse('reports-dashboard')}?clinic={clinic.pk}&{dates}")
                for clinic, measures in report.clinics
            ],
        )
        return self.render_to_response(context)
