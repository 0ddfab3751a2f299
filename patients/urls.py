from django.urls import path

from patients import audit_views, notification_views, sms_inbound, views

urlpatterns = [
    path("patients/", views.PatientListView.as_view(), name="patient-list"),
    path("patients/<int:pk>/audit/", audit_views.AuditTrailView.as_view(), name="patient-audit"),
    path(
        "patients/<int:pk>/audit.csv",
        audit_views.AuditTrailExportView.as_view(),
        name="patient-audit-export",
    ),
    path("notifications/", notification_views.NotificationListView.as_view(), name="notifications"),
    path(
        "notifications/<int:pk>/send-again/",
        notification_views.NotificationSendAgainView.as_view(),
        name="notification-send-again",
    ),
    path("sms/inbound/", sms_inbound.sms_inbound, name="sms-inbound"),
]
