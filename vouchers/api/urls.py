from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from vouchers.api import (
    attendance,
    auth,
    patients,
    protocols,
    report_costs,
    report_fidelity,
    report_organization,
    report_payer,
    reports,
    specimens,
)
from vouchers.labs import api as labs_api

router = SimpleRouter()
router.register("patients", patients.PatientViewSet, basename="api-patient")
router.register("specimens", specimens.SpecimenViewSet, basename="api-specimen")
router.register("attendance", attendance.AttendanceViewSet, basename="api-attendance")
router.register("protocols", protocols.ProtocolViewSet, basename="api-protocol")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file: no inline script, no CDN.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("v1/auth/token/", auth.TokenView.as_view(), name="api-token"),
    path(
        "v1/patients/<int:pk>/balance/",
        patients.PatientBalanceView.as_view(),
        name="api-patient-balance",
    ),
    path(
        "v1/patients/<int:pk>/ledger/",
        patients.PatientLedgerView.as_view(),
        name="api-patient-ledger",
    ),
    path(
        "v1/reports/clinics/<int:clinic_id>/measures/",
        reports.ClinicMeasuresView.as_view(),
        name="api-report-clinic-measures",
    ),
    path(
        "v1/reports/organization/measures/",
        report_organization.OrganizationMeasuresView.as_view(),
        name="api-report-organization-measures",
    ),
    path(
        "v1/reports/clinics/<int:clinic_id>/costs/",
        report_costs.ClinicCostsView.as_view(),
        name="api-report-clinic-costs",
    ),
    path(
        "v1/reports/clinics/<int:clinic_id>/exceptions/",
        report_costs.ClinicExceptionsView.as_view(),
        name="api-report-clinic-exceptions",
    ),
    path(
        "v1/reports/clinics/<int:clinic_id>/fidelity/",
        report_fidelity.ClinicFidelityView.as_view(),
        name="api-report-clinic-fidelity",
    ),
    path(
        "v1/reports/clinics/<int:clinic_id>/payer/",
        report_payer.ClinicPayerReportView.as_view(),
        name="api-report-clinic-payer",
    ),
    path("v1/imports/lab-results/", labs_api.LabImportView.as_view(), name="api-lab-import"),
    path(
        "v1/imports/lab-results/<int:pk>/",
        labs_api.LabImportJobView.as_view(),
        name="api-lab-import-job",
    ),
    path("v1/", include(router.urls)),
]
