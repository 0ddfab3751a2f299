"""The exports page and its downloads (vouchers/reports/exports_views.py)."""

from django.urls import path

from vouchers.reports import exports_views

urlpatterns = [
    path("reports/exports/", exports_views.ExportsView.as_view(), name="reports-exports"),
    path(
        "reports/exports/research/",
        exports_views.ResearchExportView.as_view(),
        name="reports-export-research",
    ),
    path(
        "reports/exports/tables/<slug:table>/",
        exports_views.TableExportView.as_view(),
        name="reports-export-table",
    ),
]
