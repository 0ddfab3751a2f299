"""Benchmark: a 100,000-row lab file (under the 5 MB limit) imported through the API as a job.

Measures what the issue asked about: how long `POST /api/v1/imports/lab-results/` takes to answer
(202 with the job) for the file, and how long the job then takes to import it (the task's work,
run here in-process as the worker would run it), with the job's progress committed per chunk.
For comparison, the same file written in one request as before (`lab_import_apply`), on a
second, identical set of patients. 200 patients on Higgins 1994, 500 tests each (one a day), in a
throw-away test database. Prints a Markdown table for docs/performance.md.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cmtracker \
        .venv/bin/python scripts/bench_import_job.py [ROWS]
"""

import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmtracker.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
PATIENTS = 200


def main() -> None:
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, keepdb=False)
    try:
        result = measure()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()
    print(
        f"Database: {connection.vendor}; {ROWS:,} rows ({result['bytes'] / 1e6:.1f} MB), "
        f"{PATIENTS:,} patients, one run.\n"
    )
    print("| what | time |")
    print("|---|---:|")
    print(f"| `POST` answers 202 with the job | {result['request']:.2f} s |")
    print(
        f"| the job imports the file ({result['chunks']} chunks, "
        f"{result['written']:,} written) | {result['job']:.1f} s |"
    )
    print(f"| before: the same file written in one request | {result['one_request']:.1f} s |")


def patients_for(clinic, protocol, prefix: str):
    from patients.models import Enrollment, Patient

    patients = Patient.objects.bulk_create(
        Patient(clinic=clinic, record_number=f"{prefix}{n}", first_name="Bench", last_name=str(n))
        for n in range(PATIENTS)
    )
    Enrollment.objects.bulk_create(
        Enrollment(patient=p, protocol=protocol, start_date=date(2025, 1, 6)) for p in patients
    )
    return patients


def lab_file(patients) -> str:
    lines = ["record_number,collected_at,cocaine\n"]
    for i in range(ROWS):
        patient = patients[i % PATIENTS]
        day = date(2025, 1, 6) + timedelta(days=i // PATIENTS)
        # Every seventh test positive, so streaks reset and rebuild.
        cocaine = "positive" if (i // PATIENTS) % 7 == 6 else "negative"
        lines.append(f"{patient.record_number},{day} 09:00,{cocaine}\n")
    return "".join(lines)


def measure() -> dict:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.test import APIClient

    from cmtracker.models import Clinic, Membership, User
    from vouchers.labs import importer as lab_import
    from vouchers.models import LabImport, Protocol

    clinic = Clinic.objects.create(slug="bench", name="Bench", time_zone="America/Chicago")
    actor = User.objects.create(username="bench")
    Membership.objects.create(user=actor, clinic=clinic, role=Membership.Role.COUNSELOR)
    protocol = Protocol.objects.get(slug="higgins-1994", is_current=True)

    text = lab_file(patients_for(clinic, protocol, "J"))
    client = APIClient()
    client.force_authenticate(actor)
    upload = SimpleUploadedFile("lab.csv", text.encode(), content_type="text/csv")
    queued = []
    # The request publishes the task after commit; here the id is kept and run below instead.
    with mock.patch("vouchers.labs.api.lab_import_run.delay", queued.append):
        began = time.perf_counter()
        answer = client.post(
            "/api/v1/imports/lab-results/",
            {"file": upload, "mode": "skip_bad_rows", "clinic": clinic.pk},
            format="multipart",
        )
        request_time = time.perf_counter() - began
    if answer.status_code != 202 or len(queued) != 1:
        raise SystemExit(f"request: {answer.status_code} {answer.content[:300]!r}")

    began = time.perf_counter()
    job = lab_import.lab_import_run(job_id=queued[0])
    job_time = time.perf_counter() - began
    if job.status != LabImport.Status.DONE or job.written != ROWS:
        raise SystemExit(f"job: {job.status} {job.totals} {job.error_rows[:3]}")

    other = lab_file(patients_for(clinic, protocol, "K"))
    began = time.perf_counter()
    report = lab_import.lab_import_apply(
        clinic=clinic, text=other, actor=actor, mode=lab_import.SKIP_BAD_ROWS
    )
    one_request = time.perf_counter() - began
    if report.totals["written"] != ROWS:
        raise SystemExit(f"one request: {report.totals}")
    return {
        "bytes": len(text.encode()),
        "request": request_time,
        "job": job_time,
        "chunks": job.chunks_done,
        "written": job.written,
        "one_request": one_request,
    }


if __name__ == "__main__":
    main()
