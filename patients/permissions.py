"""Who may see what: the one place. Views call these; templates never decide access.

- A patient sees only their own record.
- A counselor sees the patients of the clinics they work at; a clinic administrator too, and
  manages the clinic. Another clinic's record answers 404, never 403, so ids leak nothing.
"""

from django.contrib.auth.mixins import AccessMixin
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from cmtracker import audit
from cmtracker.models import Clinic, Membership
from patients.models import Patient


def staff_clinic_ids(user) -> list[int]:
    return user.clinic_ids if user.is_authenticated else []


def is_staff_member(user) -> bool:
    return bool(staff_clinic_ids(user))


def is_clinic_admin(user, clinic: Clinic) -> bool:
    return any(
        m.clinic_id == clinic.id and m.role == Membership.Role.ADMIN for m in user.memberships.all()
    )


def own_patient(user) -> Patient | None:
    if not user.is_authenticated:
        return None
    return Patient.objects.filter(user=user).select_related("clinic").first()


def patients_visible_to(user) -> QuerySet[Patient]:
    """Every patient record `user` may open."""
    clinics = staff_clinic_ids(user)
    if clinics:
        return Patient.objects.filter(clinic_id__in=clinics)
    if user.is_authenticated:
        return Patient.objects.filter(user=user)
    return Patient.objects.none()


def patient_get_or_404(user, pk) -> Patient:
    """The patient `user` may open, or 404 — for another clinic's id, a missing one, or "abc"."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404("No such patient") from None
    patient = (
        patients_visible_to(user)
        .select_related("clinic", "primary_counselor")
        .filter(pk=pk)
        .first()
    )
    if patient is None:
        raise Http404("No such patient")
    # Every patient page and API resource comes through here: a staff reader is logged.
    audit.disclosed([patient.pk])
    return patient


class StaffRequiredMixin(AccessMixin):
    """Counselors and clinic administrators only; anyone else signed in gets 404."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not is_staff_member(request.user):
            raise Http404("Not a staff page")
        return super().dispatch(request, *args, **kwargs)


class PatientRequiredMixin(AccessMixin):
    """The patient portal: signed-in patients only."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        request.patient = own_patient(request.user)
        if request.patient is None:
            raise Http404("Not a patient account")
        return super().dispatch(request, *args, **kwargs)


class ClinicTimeMixin:
    """Run the view, and render its page, in the patient's clinic's time zone.

    Place after StaffRequiredMixin, so nobody learns anything before their role is checked.
    """

    def get_patient(self) -> Patient:
        return patient_get_or_404(self.request.user, self.kwargs["pk"])

    def dispatch(self, request, *args, **kwargs):
        self.patient = self.get_patient()
        with timezone.override(self.patient.clinic.tz):
            response = super().dispatch(request, *args, **kwargs)
            if hasattr(response, "render") and not response.is_rendered:
                response.render()
        return response
