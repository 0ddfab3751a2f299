"""Reads of lab imports: a job, found for its clinic's staff, with the reads its rows disclose.

The page and the API show the same job; one function finds it and logs a read of each patient
its rows name, so neither can show record numbers the audit trail does not hold.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404

from cmtracker import audit
from patients.models import Patient
from patients.permissions import staff_clinic_ids
from vouchers.models import LabImport


def lab_import_job_get(*, user, pk: int, rows_while_running: bool) -> LabImport:
    """A lab file's import job of one of `user`'s clinics; any other id (an upload still waiting
    for confirmation, another clinic's job) answers 404.

    The rows not written give record numbers: each patient they name is disclosed (a read in the
    audit log) whenever the caller shows them — at the end only (the page), or also while the job
    runs (`rows_while_running`: the API returns the rows its first check refused at once).
    """
    job = get_object_or_404(
        LabImport.objects.exclude(status=LabImport.Status.UPLOADED).select_related(
            "clinic", "created_by"
        ),
        pk=pk,
        clinic__in=staff_clinic_ids(user),
    )
    if job.error_rows and (job.finished or rows_while_running):
        numbers = {row["record_number"] for row in job.error_rows if row.get("record_number")}
        audit.disclosed(
            Patient.objects.filter(clinic=job.clinic, record_number__in=numbers).values_list(
                "pk", flat=True
            )
        )
    return job
