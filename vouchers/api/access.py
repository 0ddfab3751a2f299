"""DRF's view of patients.permissions: the rules stay there, these only ask them."""

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.relations import PrimaryKeyRelatedField

from cmtracker import audit
from patients.models import Patient
from patients.permissions import is_staff_member, patients_visible_to


class StaffWritesOnly(BasePermission):
    """Anyone signed in may read (what they read is scoped); only clinic staff may write."""

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or is_staff_member(request.user)


class VisiblePatientField(PrimaryKeyRelatedField):
    """A patient id in a request body. Another clinic's patient reads "does not exist", exactly
    like an id that does not."""

    def __init__(self, **kwargs):
        super().__init__(queryset=Patient.objects.all(), **kwargs)

    def get_queryset(self):
        return patients_visible_to(self.context["request"].user)


class StaffOnly(BasePermission):
    """Clinic staff only, reading or writing; anyone else signed in is told no (403)."""

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated) and is_staff_member(
            request.user
        )


class AuditedReads:
    """A list or a retrieve logs a read of each patient whose record it returns (the audit log
    writes them after the response, for staff readers). `audit_patient` is the attribute path
    from a row to its patient id."""

    audit_patient = "patient_id"

    def _disclose(self, rows) -> None:
        path = self.audit_patient.split(".")

        def patient_id(row):
            for name in path:
                row = getattr(row, name)
            return row

        audit.disclosed(patient_id(row) for row in rows)

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        self._disclose(page if page is not None else queryset)
        return page

    def get_object(self):
        obj = super().get_object()
        self._disclose([obj])
        return obj
