"""Benchmark: how the cost of recording one result grows with the enrollment's history.

Settlement replays the whole enrollment through the engine on every write, so recording a result
costs O(history). This measures it, with balance reads beside it for contrast, in one run, and
prints a Markdown table for docs/performance.md. It uses a throw-away test database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cmtracker \
        .venv/bin/python scripts/bench_settlement.py
"""

import os
import statistics
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

HISTORY_SIZES = [1, 36, 144, 576]
REPEATS = 15


def main() -> None:
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, keepdb=False)
    try:
        rows = [measure(size) for size in HISTORY_SIZES]
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()
    base_record, base_read = rows[0][1], rows[0][2]
    print(f"Database: {connection.vendor}; median of {REPEATS} runs each.\n")
    print("| results already in the enrollment | record + settle one result | balance read |")
    print("|---:|---:|---:|")
    for size, record, read in rows:
        print(f"| {size} | {record / base_record:.1f}× | {read / base_read:.1f}× |")
    print(f"\n(1× = {base_record * 1000:.1f} ms to record, {base_read * 1e6:.0f} µs to read.)")


def measure(size: int) -> tuple[int, float, float]:
    from cmtracker.models import Clinic
    from patients.models import Enrollment, Patient
    from vouchers import protocols, recording
    from vouchers.models import Protocol
    from vouchers.selectors import wallet_get

    clinic, _ = Clinic.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    patient = Patient.objects.create(
        clinic=clinic, record_number=f"B{size}", first_name="Bench", last_name=str(size)
    )
    # An open-ended protocol so every result in the long histories still earns.
    protocol = Protocol.objects.get(slug="silverman-1996", is_current=True)
    protocol = protocols.protocol_new_version(protocol=protocol)
    protocol.phases.update(last_week=None)
    start = date(2015, 1, 5)
    enrollment = Enrollment.objects.create(patient=patient, protocol=protocol, start_date=start)

    def moment(n: int) -> datetime:
        return datetime.combine(start + timedelta(days=n), clock(10), tzinfo=clinic.tz)

    for n in range(size):
        recording.specimen_record(
            patient=patient, collected_at=moment(n), results={"cocaine": "negative"}
        )
    record_times, read_times = [], []
    for n in range(size, size + REPEATS):
        began = time.perf_counter()
        recording.specimen_record(
            patient=patient, collected_at=moment(n), results={"cocaine": "negative"}
        )
        record_times.append(time.perf_counter() - began)
        began = time.perf_counter()
        wallet_get(patient=patient).balance_cents  # noqa: B018 - the read is what is timed
        read_times.append(time.perf_counter() - began)
    enrollment.status = Enrollment.Status.COMPLETED
    enrollment.save()
    return size, statistics.median(record_times), statistics.median(read_times)


if __name__ == "__main__":
    main()
