from django.urls import path

from vouchers.reports import views

urlpatterns = [
    path("", views.DashboardView.as_view(), name="reports-dashboard"),
    path("organization/", views.OrganizationView.as_view(), name="reports-organization"),
]
