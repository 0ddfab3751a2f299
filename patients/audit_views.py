"""A patient's audit trail for the clinic's administrators: who read or changed the record, when
and from where (an accounting of disclosures), on a page and as a CSV download. The download is
itself logged."""

import csv
import re

from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views import View
from django.views.generic import TemplateView

from cmtracker import audit
from cmtracker.models import AuditEvent
from patients.permissions import StaffRequiredMixin, audit_trail_patient

PER_PAGE = 50


class _AuditTrailMixin(StaffRequiredMixin):
    def trail(self):
        self.patient = audit_trail_patient(self.request.user, self.kwargs["pk"])
        return AuditEvent.objects.filter(patient_id=self.patient.pk).order_by("-at", "-id")


class AuditTrailView(_AuditTrailMixin, TemplateView):
    template_name = "patients/audit_trail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        page = Paginator(self.trail(), PER_PAGE).get_page(self.request.GET.get("page"))
        context.update(patient=self.patient, page_obj=page, events=list(page.object_list))
        return context


class _Echo:
    def write(self, value):
        return value


def _changes(event: AuditEvent) -> str:
    return "; ".join(f"{name}: {old!r} → {new!r}" for name, (old, new) in event.changes.items())


class AuditTrailExportView(_AuditTrailMixin, View):
    def get(self, request, pk):
        events = self.trail()
        audit.record(
            action=AuditEvent.Action.EXPORT,
            object_type="audit trail",
            object_id=self.patient.pk,
            clinic_id=self.patient.clinic_id,
            patient_id=self.patient.pk,
        )
        tz = self.patient.clinic.tz
        writer = csv.writer(_Echo())
        header = ["time", "who", "action", "record", "record id", "from", "request", "changes"]

        def rows():
            yield writer.writerow(header)
            for e in events.iterator(chunk_size=1000):
                yield writer.writerow(
                    [
                        e.at.astimezone(tz).isoformat(),
                        e.actor_label,
                        e.action,
                        e.object_type,
                        e.object_id,
                        e.ip or "",
                        f"{e.method} {e.path}".strip(),
                        _changes(e),
                    ]
                )

        stamp = timezone.now().astimezone(tz).strftime("%Y%m%d")
        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        name = f"audit-{_file_name_part(self.patient.record_number)}-{stamp}.csv"
        response["Content-Disposition"] = content_disposition_header(True, name)
        return response


def _file_name_part(record_number: str) -> str:
    """The record number as it can stand in a file name: letters, digits, dots, dashes and
    underscores kept, any run of anything else one dash. A number saved before record numbers
    were checked may hold a line break (a header cannot) or a quote (it would end the name)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", record_number).strip("-.") or "patient"
