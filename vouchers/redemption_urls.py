from django.urls import path, re_path

from vouchers.views import redemption

urlpatterns = [
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
]
