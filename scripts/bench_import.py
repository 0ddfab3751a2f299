"""Benchmark: importing a lab's CSV file of 1,000 and of 10,000 results.

The import validates every row against a fixed number of queries, bulk-creates the specimens and
their results, and settles each touched enrollment once, so its cost should grow with the rows
(linearly, and cheaply) rather than with rows × history. Each size runs on its own fresh set of
200 patients, spread evenly (5 and 50 results a patient), in a throw-away test database. Prints a
Markdown table for docs/performance.md.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cmtracker \
        .venv/bin/python scripts/bench_import.py
"""

import os
import sys
import time
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmtracker.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402

SIZES = [1_000, 10_000]
PATIENTS = 200


def main() -> None:
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, keepdb=False)
    try:
        rows = [measure(size) for size in SIZES]
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()
    base = rows[0]
    print(f"Database: {connection.vendor}; {PATIENTS} patients, one run each.\n")
    print("| rows | preview | apply (write + settle) | apply vs. 1,000 rows |")
    print("|---:|---:|---:|---:|")
    for size, preview, apply in rows:
        print(f"| {size:,} | {preview:.2f} s | {apply:.2f} s | {apply / base[2]:.1f}× |")


def measure(size: int) -> tuple[int, float, float]:
    from cmtracker.models import Clinic, User
    from patients.models import Enrollment, Patient, Specimen
    from vouchers.labs.importer import SKIP_BAD_ROWS, lab_import_apply
    from vouchers.labs.rows import lab_import_preview
    from vouchers.models import Protocol

    clinic, _ = Clinic.objects.get_or_create(
        slug="bench", defaults={"name": "Bench", "time_zone": "America/Chicago"}
    )
    actor, _ = User.objects.get_or_create(username="bench")
    protocol = Protocol.objects.get(slug="higgins-1994", is_current=True)
    start = date(2025, 1, 6)
    patients = Patient.objects.bulk_create(
        Patient(clinic=clinic, record_number=f"S{size}-{n}", first_name="Bench", last_name=str(n))
        for n in range(PATIENTS)
    )
    Enrollment.objects.bulk_create(
        Enrollment(patient=p, protocol=protocol, start_date=start) for p in patients
    )
    lines = ["record_number,collected_at,kind,cocaine,amphetamine,opiates\n"]
    for i in range(size):
        patient = patients[i % PATIENTS]
        # One test a day per patient; every seventh is positive so streaks reset and rebuild.
        day = start + timedelta(days=i // PATIENTS)
        moment = datetime.combine(day, clock(9), tzinfo=clinic.tz).isoformat()
        cocaine = "positive" if (i // PATIENTS) % 7 == 6 else "negative"
        lines.append(f"{patient.record_number},{moment},urine,{cocaine},negative,negative\n")
    text = "".join(lines)

    began = time.perf_counter()
    preview = lab_import_preview(clinic=clinic, text=text)
    preview_time = time.perf_counter() - began
    if preview.totals["ok"] != size:
        raise SystemExit(f"preview: {preview.totals}")

    began = time.perf_counter()
    report = lab_import_apply(clinic=clinic, text=text, actor=actor, mode=SKIP_BAD_ROWS)
    apply_time = time.perf_counter() - began
    written = Specimen.objects.filter(enrollment__patient__in=patients).count()
    if report.totals["written"] != size or written != size:
        raise SystemExit(f"apply: {report.totals}, {written} in the database")
    return size, preview_time, apply_time


if __name__ == "__main__":
    main()
