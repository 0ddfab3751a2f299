"""Who may see what: the one place. Views call these; templates never decide access.

- A patient sees only their own record.
- A counselor sees the patients of the clinics they work at; a clinic administrator too, and
  manages the clinic. Another clinic's record answers 404, never 403, so ids leak nothing.
- A supervisor reads every report of their clinics (`report_clinics`) and changes nothing: no
  patient record, no recording, no catalog. A clinic administrator reads the reports too.
"""

from urllib.parse import urlencode

from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

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


def staff_clinics(user) -> list[Clinic]:
    """The clinics `user` works at, by name."""
    return list(Clinic.objects.filter(pk__in=staff_clinic_ids(user)).order_by("name", "pk"))


def clinic_choose(clinics: list[Clinic], wanted: str | None) -> Clinic:
    """The clinic picked with ?clinic=<id> among `clinics`, or the first when none is picked.
    Any other id, another clinic's or "abc", answers 404."""
    if wanted is None and clinics:
        return clinics[0]
    for clinic in clinics:
        if str(clinic.pk) == wanted:
            return clinic
    raise Http404("Not one of your clinics")


def admin_clinics(user) -> list[Clinic]:
    """The clinics `user` administers, by name."""
    clinics = Clinic.objects.filter(pk__in=staff_clinic_ids(user)).order_by("name", "pk")
    return [clinic for clinic in clinics if is_clinic_admin(user, clinic)]


def report_clinics(user) -> list[Clinic]:
    """The clinics whose reports `user` reads (administrator or supervisor there), by name."""
    if not user.is_authenticated:
        return []
    return list(Clinic.objects.filter(pk__in=user.report_clinic_ids).order_by("name", "pk"))


class ClinicAdminRequiredMixin(AccessMixin):
    """Clinic administrators only; anyone else signed in gets 404.

    Sets `self.clinics` (those they administer) and `self.clinic`: the first of them, or the
    one chosen with ?clinic=<id> (another clinic's id answers 404). Runs the view, and renders
    its page, in that clinic's time zone.
    """

    def clinics_for(self, user) -> list[Clinic]:
        return admin_clinics(user)

    def get_clinic(self) -> Clinic:
        return clinic_choose(self.clinics, self.request.GET.get("clinic"))

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.clinics = self.clinics_for(request.user)
        if not self.clinics:
            raise Http404("Not a page of yours")
        self.clinic = self.get_clinic()
        with timezone.override(self.clinic.tz):
            response = super().dispatch(request, *args, **kwargs)
            if hasattr(response, "render") and not response.is_rendered:
                response.render()
        return response

    def clinic_query(self, **params) -> str:
        """A query string keeping the chosen clinic (when there is a choice) and `params`."""
        if len(self.clinics) > 1:
            params = {"clinic": self.clinic.pk, **params}
        return "?" + urlencode(params) if params else ""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(clinic=self.clinic, clinics=self.clinics, clinic_query=self.clinic_query())
        return context


class ReportReaderRequiredMixin(ClinicAdminRequiredMixin):
    """The reports: the clinics' administrators and supervisors only; anyone else signed in gets
    404. `self.clinics` are the clinics whose reports they read; otherwise as
    ClinicAdminRequiredMixin."""

    def clinics_for(self, user) -> list[Clinic]:
        return report_clinics(user)


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


def audit_trail_patient(user, pk) -> Patient:
    """The patient whose audit trail `user` may read: their clinic's administrators only."""
    patient = patient_get_or_404(user, pk)
    if not is_clinic_admin(user, patient.clinic):
        raise PermissionDenied(_("Only the clinic's administrators see the audit trail."))
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
