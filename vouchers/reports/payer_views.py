"""The quarterly payer report: a printable page per clinic and quarter, and its CSV, for the
clinic's report readers (administrators and supervisors; docs/reports.md, "Quarterly payer
report"). Without a quarter the page shows the last one that has ended."""

from __future__ import annotations

from django import forms
from django.http import HttpResponseBadRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import TemplateView

from patients.permissions import ReportReaderRequiredMixin
from vouchers.presenters import person
from vouchers.reports import exports
from vouchers.reports.exports_views import csv_response, export_audit
from vouchers.reports.payer import (
    PayerReport,
    Quarter,
    clinic_today,
    payer_report,
    quarter_check,
)

PAYER_REPORT = "payer report"


class QuarterForm(forms.Form):
    quarter = forms.CharField(
        label=gettext_lazy("Quarter"),
        max_length=20,
        help_text=gettext_lazy("A year and a quarter, e.g. 2026-Q3."),
    )

    def __init__(self, *args, today, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today

    def clean_quarter(self):
        return quarter_check(self.cleaned_data["quarter"], today=self.today)


class _PayerMixin:
    """Reads ?quarter= (the last ended quarter when absent) for the chosen clinic."""

    def report(self) -> tuple[QuarterForm, PayerReport | None]:
        today = clinic_today(self.clinic)
        default = str(Quarter.of(today).previous())
        data = {"quarter": self.request.GET.get("quarter", default)}
        form = QuarterForm(data, today=today)
        if not form.is_valid():
            return form, None
        quarter = form.cleaned_data["quarter"]
        report = payer_report(
            clinic=self.clinic, year=quarter.year, quarter=quarter.number, today=today
        )
        return form, report


class PayerReportView(ReportReaderRequiredMixin, _PayerMixin, TemplateView):
    template_name = "vouchers/reports/payer.html"

    def render_to_response(self, context, **kwargs):
        # A quarter that is not one, or has not begun: the form says why (400, never a 500).
        status = 400 if context["form"].errors else 200
        return super().render_to_response(context, status=status, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form, report = self.report()
        context.update(form=form, report=report)
        if report is not None:
            url = reverse("reports-payer")
            context.update(
                previous_url=url + self.query(report.quarter.previous()),
                next_url=(
                    url + self.query(report.quarter.next()) if not report.in_progress else ""
                ),
                csv_url=reverse("reports-payer-csv") + self.query(report.quarter),
                printed_at=timezone.now(),
                printed_by=person(self.request.user),
            )
        return context

    def query(self, quarter: Quarter) -> str:
        return f"?clinic={self.clinic.pk}&quarter={quarter}"


class PayerReportCsvView(ReportReaderRequiredMixin, _PayerMixin, View):
    """The same figures as a CSV: a header and one row for the clinic and quarter."""

    def get(self, request):
        form, report = self.report()
        if report is None:
            return HttpResponseBadRequest(
                " ".join(form.errors["quarter"]), content_type="text/plain; charset=utf-8"
            )
        export_audit(clinic=self.clinic, kind=PAYER_REPORT, what=str(report.quarter))
        lines = exports.csv_lines(*payer_csv(report), self.clinic.tz)
        return csv_response(clinic=self.clinic, lines=lines, name=f"payer-{report.quarter}")


def payer_csv(report: PayerReport) -> tuple[list[str], list[list]]:
    """The header and the one row of the report's CSV."""
    figures = report.figures()
    header = ["clinic", "quarter", "first_day", "last_day", "so_far"] + [n for n, _v in figures]
    row = [
        report.clinic.name,
        str(report.quarter),
        report.first,
        report.last,
        report.in_progress,
    ] + [value for _n, value in figures]
    return header, [row]
