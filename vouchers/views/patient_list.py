"""The counselor's patients list: search, filter, paginate; one query per page whatever its size.

It lives with the earning app because each row names the protocol of the patient's enrollment."""

from django.core.paginator import Paginator
from django.db.models import Case, IntegerField, OuterRef, Q, Subquery, Value, When
from django.views.generic import TemplateView

from cmtracker import audit
from patients.forms import NOT_ENROLLED, PatientFilterForm
from patients.models import Enrollment
from patients.permissions import StaffRequiredMixin, patients_visible_to, staff_clinic_ids
from vouchers.models import Protocol

PER_PAGE = 25


def current_enrollments():
    """Per patient: the open enrollment if there is one, else the latest (for a Subquery)."""
    return Enrollment.objects.filter(patient=OuterRef("pk")).order_by(
        Case(
            When(status__in=Enrollment.OPEN_STATUSES, then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        ),
        "-start_date",
        "-id",
    )


class PatientListView(StaffRequiredMixin, TemplateView):
    template_name = "vouchers/patient_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        clinic_ids = staff_clinic_ids(self.request.user)
        form = PatientFilterForm(self.request.GET or None, clinic_ids=clinic_ids)
        current = current_enrollments()
        protocol = Protocol.objects.filter(pk=OuterRef("current_protocol_id"))
        patients = (
            patients_visible_to(self.request.user)
            .select_related("primary_counselor")
            .annotate(
                enrollment_status=Subquery(current.values("status")[:1]),
                current_protocol_id=Subquery(current.values("protocol_id")[:1]),
                protocol_name=Subquery(protocol.values("name")[:1]),
                protocol_version=Subquery(protocol.values("version")[:1]),
            )
            .order_by("last_name", "first_name", "id")
        )
        if form.is_valid():
            data = form.cleaned_data
            for term in data["q"].split():
                patients = patients.filter(
                    Q(first_name__icontains=term)
                    | Q(last_name__icontains=term)
                    | Q(record_number__icontains=term)
                )
            if data["counselor"]:
                patients = patients.filter(primary_counselor=data["counselor"])
            if data["status"] == NOT_ENROLLED:
                patients = patients.filter(enrollment_status__isnull=True)
            elif data["status"]:
                patients = patients.filter(enrollment_status=data["status"])
        page = Paginator(patients, PER_PAGE).get_page(self.request.GET.get("page"))
        rows = list(page.object_list)
        audit.disclosed(patient.pk for patient in rows)
        for patient in rows:
            status = patient.enrollment_status
            patient.status_label = Enrollment.Status(status).label if status else ""
        context.update(form=form, page_obj=page, patients=rows)
        return context
