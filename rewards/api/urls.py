"""The API of spending, under the same /api/v1/ as the rest (cmtracker/urls.py includes it beside
vouchers.api.urls; the schema and the docs there list these routes too)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from rewards.api import catalog, redemptions

router = SimpleRouter()
router.register("catalog", catalog.CatalogViewSet, basename="api-catalog")
router.register("redemptions", redemptions.RedemptionViewSet, basename="api-redemption")

urlpatterns = [
    path("v1/", include(router.urls)),
]
