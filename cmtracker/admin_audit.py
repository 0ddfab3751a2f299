"""The Django admin is a way to read and delete patients' records too: every admin class whose rows
name a patient adds `AuditedAdmin` to its bases, says how to reach the patient from a row
(`audit_patient`), and the admin's lists, forms and deletes are in the audit log like the app's.

- A list or a form logs one read per patient it shows (the middleware writes them after the
  response, in one insert): the ids come from the rows themselves, or from one query when the
  patient is further away (`"specimen__enrollment__patient_id"`).
- A delete logs a DELETE event per row with its values, in the delete's transaction.
"""

from __future__ import annotations

from django.contrib import admin

from cmtracker import audit


class AuditedAdmin(admin.ModelAdmin):
    """`audit_patient`: the lookup from a row to its patient's id, or a tuple of lookups of which
    the first that is set counts (a correction is of a specimen or of a session)."""

    audit_patient: str | tuple[str, ...] = "patient_id"
    # False for a list that shows nothing of a patient (only its rows' forms do).
    audit_list = True

    def _lookups(self) -> tuple[str, ...]:
        paths = self.audit_patient
        return tuple(p.replace(".", "__") for p in ((paths,) if isinstance(paths, str) else paths))

    def audit_patient_ids(self, rows) -> list[int]:
        rows = list(rows)
        lookups = self._lookups()
        if all("__" not in lookup for lookup in lookups):
            return [
                next((getattr(row, lk) for lk in lookups if getattr(row, lk) is not None), None)
                for row in rows
            ]
        found = self.model._base_manager.filter(pk__in=[row.pk for row in rows]).values_list(
            *lookups
        )
        return [next((pk for pk in ids if pk is not None), None) for ids in found]

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            audit.disclosed(self.audit_patient_ids([obj]))
        return obj

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        if self.audit_list:
            audit.disclosed(self.audit_patient_ids(changelist.result_list))
        return changelist

    def delete_model(self, request, obj):
        audit.deleted([obj])
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        audit.deleted(queryset)
        super().delete_queryset(request, queryset)
