"""Benchmark: the reports on a clinic of 10,000 enrollments and 500,000 results (issue 14).

On PostgreSQL, with the clinic `report_scale_data` loads (once, a few minutes):

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/cm_scale
    .venv/bin/python manage.py migrate && .venv/bin/python manage.py report_scale_data
    .venv/bin/python benchmarks/reports.py            # or: make bench-reports

In one run, the cases below are timed in turn, round after round (A B C A B C ...), after one
warm-up round, so a machine that slows down slows every case alike:
- `clinic_measures` for the last 90 days and for the last quarter that has ended;
- the dashboard (`reports-dashboard`, the last 90 days) and the quarterly payer page
  (`reports-payer`, that quarter) through Django's test Client as the clinic's administrator, when
  those pages exist (a missing url name is skipped, saying so);
- a bare 50-row page: a view defined here, 50 enrollments with their patients in a tiny template,
  through the same Client and middleware: the yardstick the others are divided by.
It prints the medians, their ratio to the bare page and each case's query count, and writes them
between the markers of "Reports at scale" in docs/performance.md (--no-docs: print only).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmtracker.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.template import engines  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from django.urls import NoReverseMatch, include, path, reverse  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_otp import DEVICE_ID_SESSION_KEY  # noqa: E402
from django_otp.plugins.otp_totp.models import TOTPDevice  # noqa: E402

from cmtracker.models import Clinic, Membership  # noqa: E402
from patients.models import Enrollment, Specimen  # noqa: E402
from vouchers.reports.selectors import clinic_measures  # noqa: E402

DOCS = ROOT / "docs" / "performance.md"
SECTION = "## Reports at scale"
BEGIN = "<!-- benchmarks/reports.py: begin -->"
END = "<!-- benchmarks/reports.py: end -->"
BARE = "bare 50-row page"

ROWS_TEMPLATE = engines["django"].from_string(
    "<!doctype html><title>rows</title><table>"
    "{% for pk, first, last, start in rows %}"
    "<tr><td>{{ pk }}</td><td>{{ first }} {{ last }}</td><td>{{ start }}</td></tr>"
    "{% endfor %}</table>"
)


def bare_rows(request):
    rows = Enrollment.objects.select_related("patient").order_by("-id")[:50]
    data = rows.values_list("pk", "patient__first_name", "patient__last_name", "start_date")
    return HttpResponse(ROWS_TEMPLATE.render({"rows": list(data)}, request))


def last_ended_quarter(today: date) -> tuple[date, date, str]:
    this_first = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    last = this_first - timedelta(days=1)
    first = date(last.year, 3 * ((last.month - 1) // 3) + 1, 1)
    return first, last, f"{first.year}-Q{(first.month - 1) // 3 + 1}"


def url_or_none(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def signed_in_client(clinic: Clinic) -> Client:
    """A Client signed in as the clinic's administrator, second factor included (as after the
    authenticator code)."""
    membership = Membership.objects.filter(clinic=clinic, role=Membership.Role.ADMIN).first()
    if membership is None:
        sys.exit(f"clinic {clinic.slug!r} has no administrator to read its reports")
    user = membership.user
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    device = device or TOTPDevice.objects.create(user=user, name="benchmark", confirmed=True)
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def page(client: Client, url: str):
    def get():
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"GET {url} answered {response.status_code}")
        return response

    return get


def cases(clinic: Clinic) -> tuple[list[tuple[str, object]], list[str]]:
    today = clinic.local_date(timezone.now())
    days90 = (today - timedelta(days=89), today)
    q_first, q_last, quarter = last_ended_quarter(today)
    client = signed_in_client(clinic)
    found = [
        (
            f"clinic_measures, last 90 days ({days90[0]} to {days90[1]})",
            lambda: clinic_measures(clinic=clinic, first=days90[0], last=days90[1]),
        ),
        (
            f"clinic_measures, quarter {quarter}",
            lambda: clinic_measures(clinic=clinic, first=q_first, last=q_last),
        ),
    ]
    skipped = []
    dashboard, payer = url_or_none("reports-dashboard"), url_or_none("reports-payer")
    if dashboard:
        query = f"?clinic={clinic.pk}&first={days90[0]}&last={days90[1]}"
        found.append(
            (f"dashboard page `{dashboard}`, last 90 days", page(client, dashboard + query))
        )
    else:
        skipped.append("the dashboard: no url named reports-dashboard in this version")
    if payer:
        query = f"?clinic={clinic.pk}&quarter={quarter}"
        found.append((f"payer page `{payer}`, {quarter}", page(client, payer + query)))
    else:
        skipped.append("the payer page: no url named reports-payer in this version")
    found.append((BARE, page(client, "/__benchmark__/rows/")))
    return found, skipped


def measure(found, rounds: int) -> dict[str, dict]:
    times = {name: [] for name, _ in found}
    queries = {}
    for name, run in found:  # warm-up, and each case's queries once
        with CaptureQueriesContext(connection) as context:
            run()
        queries[name] = len(context.captured_queries)
    for _ in range(rounds):
        for name, run in found:
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return {
        name: {"median": statistics.median(t), "min": min(t), "queries": queries[name]}
        for name, t in times.items()
    }


def table(results: dict[str, dict], clinic: Clinic, rounds: int, skipped: list[str]) -> str:
    bare = results[BARE]["median"]
    enrollments = Enrollment.objects.filter(patient__clinic=clinic).count()
    specimens = Specimen.objects.filter(enrollment__patient__clinic=clinic).count()
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0].split()[0]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        f"Clinic `{clinic.slug}`: {enrollments:,} enrollments, {specimens:,} results; "
        f"{os.cpu_count()} cores, PostgreSQL {server}, Python {platform.python_version()}; "
        f"median of {rounds} rounds, cases alternating; load average at the end {load}; "
        f"{timezone.now():%Y-%m-%d}.",
        "",
        "| case | median | fastest | × bare 50-row page | queries |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['median'] * 1000:,.0f} ms | {r['min'] * 1000:,.0f} ms | "
            f"{r['median'] / bare:,.1f}× | {r['queries']} |"
        )
    lines += [""] + [f"Not measured: {why}." for why in skipped]
    return "\n".join(lines).rstrip()


def docs_write(block: str) -> None:
    text = DOCS.read_text() if DOCS.exists() else "# Performance\n"
    marked = f"{BEGIN}\n{block}\n{END}"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: marked, text, flags=re.S)
    else:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\n{marked}\n"
    DOCS.write_text(text)


urlpatterns = [
    path("__benchmark__/rows/", bare_rows),
    path("", include(django.conf.settings.ROOT_URLCONF)),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slug", default="scale", help="the clinic report_scale_data loaded")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-docs", action="store_true", help="print the table only")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("benchmarks/reports.py measures PostgreSQL: set DATABASE_URL=postgres://...")
    clinic = Clinic.objects.filter(slug=args.slug).first()
    if clinic is None:
        sys.exit(f"no clinic {args.slug!r}: run `manage.py report_scale_data` first")
    setup_test_environment()  # the test Client's host, as in the tests
    with override_settings(ROOT_URLCONF=sys.modules[__name__]):
        found, skipped = cases(clinic)
        for why in skipped:
            print(f"skipped {why}")
        results = measure(found, args.rounds)
    block = table(results, clinic, args.rounds, skipped)
    print(block)
    if not args.no_docs:
        docs_write(block)
        print(f"written to {DOCS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
