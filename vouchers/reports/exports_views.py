"""The exports page and its downloads (docs/reports.md, "Exports").

- The page: the clinic's report readers (administrators and supervisors). An administrator sees
  every table; a supervisor, the de-identified research export only.
- A table (identifiable data): the clinic's administrators only; anyone else, and a supervisor
  too, is told it does not exist (404), as is an unknown table.
- The research export: the clinic's report readers.
Every download is written to the audit log (who, which clinic, which table) before it streams;
the patients table, which names patients, is also a read of each patient it holds (their own
audit trails show it, as for a page that shows them).
"""

from __future__ import annotations

from django.http import Http404, StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views import View
from django.views.generic import TemplateView

from cmtracker import audit
from cmtracker.models import AuditEvent, Clinic
from patients.permissions import (
    ClinicAdminRequiredMixin,
    ReportReaderRequiredMixin,
    is_clinic_admin,
)
from vouchers.reports import exports, research

TABLE_EXPORT = "table export"
RESEARCH_EXPORT = "research export"


def csv_response(*, clinic: Clinic, lines, name: str) -> StreamingHttpResponse:
    """A streamed CSV download named <clinic>-<name>-<clinic's today>.csv."""
    stamp = clinic.local_date(timezone.now()).strftime("%Y%m%d")
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    filename = f"{clinic.slug}-{name}-{stamp}.csv"
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


def export_audit(*, clinic: Clinic, kind: str, what: str) -> None:
    audit.record(
        action=AuditEvent.Action.EXPORT, object_type=kind, object_id=what, clinic_id=clinic.pk
    )


class ExportsView(ReportReaderRequiredMixin, TemplateView):
    template_name = "vouchers/reports/exports.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            tables=exports.tables() if is_clinic_admin(self.request.user, self.clinic) else [],
            research_header=research.HEADER,
        )
        return context


class TableExportView(ClinicAdminRequiredMixin, View):
    def get(self, request, table):
        found = exports.table_get(table)
        if found is None:
            raise Http404("No such table")
        export_audit(clinic=self.clinic, kind=TABLE_EXPORT, what=found.slug)
        # A file that names patients is a read of each of them, in their own audit trails.
        audit.disclosed(found.patients_named(self.clinic))
        lines = exports.csv_lines(found.header, found.values(self.clinic), self.clinic.tz)
        return csv_response(clinic=self.clinic, lines=lines, name=found.slug)


class ResearchExportView(ReportReaderRequiredMixin, View):
    def get(self, request):
        export_audit(clinic=self.clinic, kind=RESEARCH_EXPORT, what="scheduled tests")
        rows = research.research_rows(clinic=self.clinic)
        lines = exports.csv_lines(research.HEADER, rows, self.clinic.tz)
        return csv_response(clinic=self.clinic, lines=lines, name="research")
