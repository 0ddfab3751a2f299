from django.urls import path

from patients import audit_views

urlpatterns = [
    path("patients/<int:pk>/audit/", audit_views.AuditTrailView.as_view(), name="patient-audit"),
    path(
        "patients/<int:pk>/audit.csv",
        audit_views.AuditTrailExportView.as_view(),
        name="patient-audit-export",
    ),
]
