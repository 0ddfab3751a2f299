from django.contrib import admin
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.urls import path
from django.views.generic import RedirectView


def healthz(request):
    """Liveness for load balancers and docker-compose: the process answers and the database does."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any database failure means unhealthy
        return JsonResponse({"status": "database unavailable"}, status=503)
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    # The counselor and patient web app arrives with its own pages; until then staff work in admin.
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
