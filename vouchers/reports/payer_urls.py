"""The quarterly payer report and its CSV (vouchers/reports/payer_views.py)."""

from django.urls import path

from vouchers.reports import payer_views

urlpatterns = [
    path("reports/payer/", payer_views.PayerReportView.as_view(), name="reports-payer"),
    path("reports/payer/csv/", payer_views.PayerReportCsvView.as_view(), name="reports-payer-csv"),
]
