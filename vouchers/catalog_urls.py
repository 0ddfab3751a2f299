from django.urls import path

from vouchers.views import catalog

urlpatterns = [
    path("catalog/", catalog.CatalogView.as_view(), name="catalog"),
    path("catalog/new/", catalog.CatalogItemCreateView.as_view(), name="catalog-add"),
    path("catalog/<int:pk>/edit/", catalog.CatalogItemEditView.as_view(), name="catalog-edit"),
    path("catalog/<int:pk>/stock/", catalog.CatalogStockView.as_view(), name="catalog-stock"),
    path(
        "catalog/reconciliation/",
        catalog.ReconciliationView.as_view(),
        name="catalog-reconciliation",
    ),
]
