from django.urls import path

from vouchers.views import prize

urlpatterns = [
    path("patients/<int:pk>/draws/", prize.PrizeDrawsView.as_view(), name="prize-draws"),
    path("draws/<int:draw_pk>/claim/", prize.PrizeClaimView.as_view(), name="prize-claim"),
]
