from django.urls import include, path

from vouchers.views import patient, patient_list, portal, record

urlpatterns = [
    path("patients/", patient_list.PatientListView.as_view(), name="patient-list"),
    path("today/", record.TodayView.as_view(), name="today"),
    path(
        "patients/<int:pk>/specimens/new/",
        record.SpecimenRecordView.as_view(),
        name="specimen-record",
    ),
    path(
        "patients/<int:pk>/attendance/new/",
        record.AttendanceRecordView.as_view(),
        name="attendance-record",
    ),
    path("patients/<int:pk>/", patient.PatientDetailView.as_view(), name="patient-detail"),
    path(
        "specimens/<int:pk>/correct/",
        patient.SpecimenCorrectView.as_view(),
        name="specimen-correct",
    ),
    path(
        "specimens/<int:pk>/excuse/",
        patient.SpecimenExcuseView.as_view(),
        name="specimen-excuse",
    ),
    path(
        "patients/<int:pk>/enrollment/",
        patient.EnrollmentManageView.as_view(),
        name="enrollment-manage",
    ),
    path("patients/<int:pk>/access/", portal.PatientAccessView.as_view(), name="patient-access"),
    path("me/", portal.PortalView.as_view(), name="portal"),
    path("reports/", include("vouchers.reports.urls")),
    path("me/reminders/", portal.ReminderSettingsView.as_view(), name="portal-reminders"),
    # The quarterly payer report and the exports (vouchers/reports/payer_urls.py, exports_urls.py).
    path("", include("vouchers.reports.payer_urls")),
    path("", include("vouchers.reports.exports_urls")),
]
