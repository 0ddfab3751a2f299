from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import include, path

from cmtracker import two_factor


def healthz(request):
    """Liveness for load balancers and docker-compose: the process answers and the database does."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any database failure means unhealthy
        return JsonResponse({"status": "database unavailable"}, status=503)
    return HttpResponse("ok", content_type="text/plain")


def home(request):
    """Everyone lands on their own home: staff on Today, supervisors on the reports, patients on
    their rewards."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if request.user.clinic_ids:
        return redirect("today")
    if request.user.report_clinic_ids:  # a supervisor: the reports are all they read
        return redirect("reports-dashboard")
    if request.user.is_superuser:
        return redirect("admin:index")
    return redirect("portal")


urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("account/", two_factor.AccountView.as_view(), name="account"),
    path(
        "account/tokens/<str:digest>/revoke/",
        two_factor.ApiTokenRevokeView.as_view(),
        name="api-token-revoke",
    ),
    path(
        "account/tokens/revoke-all/",
        two_factor.ApiTokensRevokeAllView.as_view(),
        name="api-tokens-revoke-all",
    ),
    path("accounts/two-factor/", two_factor.VerifyView.as_view(), name="two-factor"),
    path("accounts/two-factor/setup/", two_factor.SetupView.as_view(), name="two-factor-setup"),
    path(
        "accounts/two-factor/backup-codes/",
        two_factor.BackupCodesView.as_view(),
        name="two-factor-backup-codes",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("", include("patients.urls")),
    path("", include("messaging.urls")),
    path("", include("vouchers.urls")),
    path("", include("rewards.urls")),
    path("", include("vouchers.labs.urls")),
    path("api/", include("vouchers.api.urls")),
    path("api/", include("rewards.api.urls")),
]

# Under /api/ Django's own errors (a bad Host header, a body over the size limit, an unknown URL)
# answer JSON like the API's; everywhere else, Django's pages.
handler400 = "vouchers.api.errors.bad_request"
handler403 = "vouchers.api.errors.permission_denied"
handler404 = "vouchers.api.errors.page_not_found"
handler500 = "vouchers.api.errors.server_error"

# Catalog pictures uploaded by administrators. In production a web server or object storage serves
# MEDIA_ROOT; Django serves it only while DEBUG is on (static() returns nothing otherwise).
urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
