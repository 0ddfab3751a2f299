"""The pages of spending: the catalog and its stock (clinic administrators), requests to spend
points (patients on the portal, counselors at the desk) and the prize cabinet."""

from django.urls import path, re_path

from rewards.views import catalog, prize, redemption

urlpatterns = [
    # The catalog and its stock.
    path("catalog/", catalog.CatalogView.as_view(), name="catalog"),
    path("catalog/new/", catalog.CatalogItemCreateView.as_view(), name="catalog-add"),
    path("catalog/<int:pk>/edit/", catalog.CatalogItemEditView.as_view(), name="catalog-edit"),
    path("catalog/<int:pk>/stock/", catalog.CatalogStockView.as_view(), name="catalog-stock"),
    path(
        "catalog/reconciliation/",
        catalog.ReconciliationView.as_view(),
        name="catalog-reconciliation",
    ),
    # Redemptions.
    path("me/catalog/", redemption.PortalCatalogView.as_view(), name="portal-catalog"),
    path("me/redemptions/", redemption.PortalRedemptionsView.as_view(), name="portal-redemptions"),
    path(
        "me/redemptions/<int:pk>/cancel/",
        redemption.PortalRedemptionCancelView.as_view(),
        name="portal-redemption-cancel",
    ),
    path("redemptions/", redemption.RedemptionQueueView.as_view(), name="redemptions"),
    re_path(
        r"^redemptions/(?P<pk>[0-9]+)/(?P<action>approve|decline|cancel|handover)/$",
        redemption.RedemptionActionView.as_view(),
        name="redemption-action",
    ),
    path(
        "patients/<int:pk>/redemptions/new/",
        redemption.PatientRedemptionNewView.as_view(),
        name="patient-redemption-new",
    ),
    # The prize cabinet.
    path("patients/<int:pk>/draws/", prize.PrizeDrawsView.as_view(), name="prize-draws"),
    path("draws/<int:draw_pk>/claim/", prize.PrizeClaimView.as_view(), name="prize-claim"),
]
