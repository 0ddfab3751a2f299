from django.urls import path

from messaging import sms_inbound, views

urlpatterns = [
    path("notifications/", views.NotificationListView.as_view(), name="notifications"),
    path(
        "notifications/<int:pk>/send-again/",
        views.NotificationSendAgainView.as_view(),
        name="notification-send-again",
    ),
    path("sms/inbound/", sms_inbound.sms_inbound, name="sms-inbound"),
]
