"""A long lab file through the API: 202 at once with a job, whose progress is read by id, in the
caller's clinic only. The limit is lowered so a few rows make a long file."""

from datetime import UTC, date, datetime

import pytest
import time_machine

from patients.models import Specimen
from tests.factories import EnrollmentFactory, PatientFactory
from vouchers.labs import importer
from vouchers.models import LabImport

pytestmark = pytest.mark.django_db

URL = "/api/v1/imports/lab-results/"
NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _pinned_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def _small_files_are_long(monkeypatch):
    monkeypatch.setattr(importer, "SYNC_MAX_ROWS", 2)
    monkeypatch.setattr(importer, "CHUNK_ROWS", 1)


@pytest.fixture
def alice(clinic, counselor, higgins):
    patient = PatientFactory(clinic=clinic, record_number="A1")
    EnrollmentFactory(patient=patient, protocol=higgins, start_date=date(2026, 1, 5))
    return patient


CSV = (
    "record_number,collected_at,cocaine\n"
    "A1,2026-01-05 09:00,negative\n"
    "A1,2026-01-07 09:00,negative\n"
    "NOBODY,2026-01-07 09:00,negative\n"
)


def test_a_long_file_answers_202_at_once_and_its_job_imports_it(
    api, counselor, alice, django_capture_on_commit_callbacks
):
    client = api(counselor)
    with django_capture_on_commit_callbacks() as started:
        answer = client.post(URL, {"csv": CSV, "mode": "skip_bad_rows"}, format="json")

    assert answer.status_code == 202
    body = answer.json()
    job_url = f"http://testserver{URL}{body['id']}/"
    assert (body["url"], answer["Location"]) == (job_url, job_url)
    assert (body["status"], body["rows_total"], body["rows_done"]) == ("queued", 3, 0)
    assert (body["created_by"], body["mode"]) == (counselor.pk, "skip_bad_rows")
    assert not Specimen.objects.exists()  # nothing done in the request

    for callback in started:  # the worker (eager here) takes the job
        callback()
    done = client.get(job_url).json()

    assert (done["status"], done["rows_done"], done["rows_total"]) == ("done", 3, 3)
    assert done["totals"] == {
        "rows": 3,
        "ok": 2,
        "errors": 1,
        "written": 2,
        "skipped": 0,
        "settled": 1,
    }
    [bad] = done["rows"]
    assert (bad["number"], bad["record_number"], bad["status"]) == (4, "NOBODY", "error")
    assert done["finished_at"] is not None
    assert Specimen.objects.count() == 2


def test_a_running_job_reads_its_progress(api, counselor, clinic):
    job = LabImport.objects.create(
        clinic=clinic,
        created_by=counselor,
        mode="all_or_nothing",
        status=LabImport.Status.RUNNING,
        rows_total=100_000,
        rows_done=25_000,
        written=25_000,
        expires_at=NOW,
    )

    body = api(counselor).get(f"{URL}{job.pk}/").json()

    assert (body["status"], body["rows_done"], body["rows_total"]) == ("running", 25_000, 100_000)
    assert body["totals"]["written"] == 25_000


def test_a_short_file_still_answers_its_report(api, counselor, alice):
    short = "record_number,collected_at,cocaine\nA1,2026-01-05 09:00,negative\n"

    answer = api(counselor).post(URL, {"csv": short, "mode": "skip_bad_rows"}, format="json")

    assert answer.status_code == 200
    assert answer.json()["totals"]["written"] == 1
    assert not LabImport.objects.exists()


@pytest.mark.parametrize(
    ("persona", "status"),
    [("other_counselor", 404), ("patient_user", 403), (None, 401), ("clinic_admin", 200)],
)
def test_a_job_is_read_only_by_its_clinics_staff(api, request, clinic, counselor, persona, status):
    job = LabImport.objects.create(
        clinic=clinic, created_by=counselor, status=LabImport.Status.DONE, expires_at=NOW
    )
    user = request.getfixturevalue(persona) if persona else None

    assert api(user).get(f"{URL}{job.pk}/").status_code == status


def test_an_upload_waiting_for_its_preview_is_not_a_job(api, counselor, clinic):
    upload = LabImport.objects.create(clinic=clinic, created_by=counselor, expires_at=NOW)

    assert api(counselor).get(f"{URL}{upload.pk}/").status_code == 404
