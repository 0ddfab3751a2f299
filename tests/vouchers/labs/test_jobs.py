"""Long lab files: imported by a background job, a chunk of patients at a time, with progress on
the page; the previewed file waits in an upload row, not in the session; the clinic's clock is
read by the record form's rule.

The patients are on Higgins 1994 (target: cocaine) from Monday 5 January 2026, at a clinic in
America/Chicago. The job limits are lowered so a few rows make a "long" file of several chunks.
"""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from messaging.models import Notification
from patients.models import Specimen
from tests.factories import EnrollmentFactory, MembershipFactory, PatientFactory, UserFactory
from vouchers import recording
from vouchers.forms import SpecimenForm
from vouchers.labs import importer
from vouchers.labs.importer import (
    SKIP_BAD_ROWS,
    lab_import_apply,
    lab_import_job_create,
    lab_import_run,
    lab_import_upload,
)
from vouchers.labs.rows import lab_import_preview, lab_import_rows_count
from vouchers.labs.tasks import lab_imports_sweep
from vouchers.labs.views import SESSION_KEY
from vouchers.models import LabImport, LedgerEntry, Wallet

URL = "/import/lab-results/"
NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
HEADER = "record_number,collected_at,cocaine\n"


@pytest.fixture(autouse=True)
def _pinned_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch):
    monkeypatch.setattr(importer, "SYNC_MAX_ROWS", 4)
    monkeypatch.setattr(importer, "CHUNK_ROWS", 3)


@pytest.fixture
def patients(clinic, counselor, higgins):
    """Four patients, A1 to A4, enrolled from Monday 5 January 2026."""
    found = []
    for n in range(1, 5):
        patient = PatientFactory(clinic=clinic, record_number=f"A{n}", primary_counselor=counselor)
        EnrollmentFactory(patient=patient, protocol=higgins, start_date=date(2026, 1, 5))
        found.append(patient)
    return found


def long_file() -> str:
    """Ten rows over four patients: a positive among the negatives, and one bad row."""
    lines = []
    for day in (6, 7, 9):
        for n in range(1, 4):
            result = "positive" if (n, day) == (2, 7) else "negative"
            lines.append(f"A{n},2026-01-{day:02d} 09:00,{result}\n")
    lines.append("NOPE,2026-01-09 09:00,negative\n")
    return HEADER + "".join(lines)


def outcome(patients) -> dict:
    """What a user notices of an import: each patient's balance, tests and notices."""
    return {
        p.record_number: (
            Wallet.objects.get(patient=p).balance_cents,
            sorted(
                Specimen.objects.filter(enrollment__patient=p).values_list(
                    "collected_at", "outcome"
                )
            ),
            LedgerEntry.objects.filter(patient=p).count(),
            Notification.objects.filter(patient=p).count(),
        )
        for p in patients
        if Wallet.objects.filter(patient=p).exists()
    }


def run_job(clinic, counselor, text, mode=SKIP_BAD_ROWS) -> LabImport:
    job = lab_import_job_create(
        clinic=clinic,
        actor=counselor,
        text=text,
        rows=lab_import_rows_count(text=text),
        mode=mode,
        now=timezone.now(),
    )
    return lab_import_run(job_id=job.pk)


class _Undo(Exception):
    pass


def in_one_request(clinic, counselor, patients) -> dict:
    """The outcome of importing the long file in one request, as before jobs; then undone."""
    try:
        with transaction.atomic():
            lab_import_apply(clinic=clinic, text=long_file(), actor=counselor, mode=SKIP_BAD_ROWS)
            found = outcome(patients)
            raise _Undo
    except _Undo:
        pass
    assert not Specimen.objects.exists()
    return found


def test_a_job_writes_what_the_one_request_import_writes(clinic, counselor, patients):
    expected = in_one_request(clinic, counselor, patients)

    job = run_job(clinic, counselor, long_file())

    assert outcome(patients) == expected
    assert job.status == LabImport.Status.DONE
    assert (job.rows_total, job.rows_done, job.chunks_done) == (10, 10, 3)
    assert (job.written, job.errors, job.settled) == (9, 1, 3)
    assert job.error_rows[0]["record_number"] == "NOPE"
    assert "No patient with record number NOPE" in job.error_rows[0]["messages"][0]
    assert job.text == ""  # the file is not kept once imported


def test_all_or_nothing_with_a_bad_row_writes_nothing(clinic, counselor, patients):
    job = run_job(clinic, counselor, long_file(), mode=importer.ALL_OR_NOTHING)

    assert (job.status, job.written, job.errors, job.skipped) == ("done", 0, 1, 9)
    assert not Specimen.objects.exists()


def test_a_job_stopped_midway_resumes_and_writes_nothing_twice(
    clinic, counselor, patients, monkeypatch
):
    expected = in_one_request(clinic, counselor, patients)
    write = importer._write_and_settle
    calls = []

    def dies_on_the_second_chunk(*args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return write(*args)

    monkeypatch.setattr(importer, "_write_and_settle", dies_on_the_second_chunk)
    job = lab_import_job_create(
        clinic=clinic, actor=counselor, text=long_file(), rows=10, mode=SKIP_BAD_ROWS, now=NOW
    )
    with pytest.raises(RuntimeError):
        lab_import_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.chunks_done, job.rows_done) == ("running", 1, 4)
    assert Specimen.objects.count() == 3

    lab_import_run(job_id=job.pk)  # the retry
    lab_import_run(job_id=job.pk)  # and once more, after it finished: nothing happens

    job.refresh_from_db()
    assert (job.status, job.written, job.errors) == ("done", 9, 1)
    assert Specimen.objects.count() == 9
    assert outcome(patients) == expected


def test_a_row_recorded_meanwhile_is_reported_and_a_resumed_job_still_writes_every_other_row(
    clinic, counselor, patients, monkeypatch
):
    check, write = importer._job_check, importer._write_and_settle
    calls = []

    def check_then_the_front_desk_records_one(job, lines):
        check(job, lines)
        recording.specimen_record(
            patient=patients[0],
            collected_at=datetime(2026, 1, 6, 9, tzinfo=clinic.tz),
            results={"cocaine": "negative"},
        )

    def dies_on_the_second_chunk(*args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return write(*args)

    monkeypatch.setattr(importer, "_job_check", check_then_the_front_desk_records_one)
    monkeypatch.setattr(importer, "_write_and_settle", dies_on_the_second_chunk)
    job = lab_import_job_create(
        clinic=clinic, actor=counselor, text=long_file(), rows=10, mode=SKIP_BAD_ROWS, now=NOW
    )
    with pytest.raises(RuntimeError):
        lab_import_run(job_id=job.pk)

    job = lab_import_run(job_id=job.pk)

    assert (job.status, job.written, job.errors) == ("done", 8, 2)
    assert "Already recorded" in job.error_rows[1]["messages"][0]
    for patient in patients[:3]:
        assert Specimen.objects.filter(enrollment__patient=patient).count() == 3


def test_a_chunk_run_again_after_its_progress_was_lost_writes_nothing(clinic, counselor, patients):
    job = run_job(clinic, counselor, long_file())
    entries = LedgerEntry.objects.count()
    # As if two workers had both taken the job before either counted a chunk done.
    LabImport.objects.filter(pk=job.pk).update(
        status=LabImport.Status.RUNNING, chunks_done=0, rows_done=1, written=0, text=long_file()
    )

    job = lab_import_run(job_id=job.pk)

    assert Specimen.objects.count() == 9
    assert LedgerEntry.objects.count() == entries
    assert job.written == 0
    assert any("Already recorded" in m for row in job.error_rows for m in row["messages"])


def test_the_stalled_job_is_started_again_by_the_sweep(clinic, counselor, patients):
    job = lab_import_job_create(
        clinic=clinic, actor=counselor, text=long_file(), rows=10, mode=SKIP_BAD_ROWS, now=NOW
    )
    LabImport.objects.filter(pk=job.pk).update(updated_at=NOW - timedelta(minutes=20))

    lab_imports_sweep.delay()

    job.refresh_from_db()
    assert (job.status, job.written) == ("done", 9)


# --- the pages ---------------------------------------------------------------------------------


@pytest.fixture
def desk(client, counselor):
    client.force_login(counselor)
    return client


def test_a_long_file_confirmed_on_the_page_is_imported_in_the_background(
    desk, patients, django_capture_on_commit_callbacks
):
    preview = desk.post(URL, {"step": "preview", "text": long_file(), "mode": "skip_bad_rows"})
    html = preview.content.decode()
    assert "imported in the background" in html and "(at most 500)" in html
    assert "NOPE" in html and ">A1<" not in html  # only the rows with errors are listed
    token = desk.session[SESSION_KEY]["token"]

    with django_capture_on_commit_callbacks(execute=True):
        answer = desk.post(URL, {"step": "confirm", "token": token, "mode": "skip_bad_rows"})

    job = LabImport.objects.get()
    assert answer.status_code == 302
    assert answer["Location"] == f"{URL}{job.pk}/"
    page = desk.get(answer["Location"]).content.decode()
    assert "10 of 10 rows done." in page
    assert "<dt>Written</dt><dd>9</dd>" in page
    assert "No patient with record number NOPE" in page
    assert "hx-get" not in page  # finished: no more polling
    assert Specimen.objects.count() == 9


def test_the_page_shows_a_running_jobs_progress_and_asks_again(desk, clinic, counselor):
    job = LabImport.objects.create(
        clinic=clinic,
        created_by=counselor,
        status=LabImport.Status.RUNNING,
        rows_total=100_000,
        rows_done=42_000,
        written=41_990,
        errors=10,
        expires_at=NOW,
    )
    url = f"{URL}{job.pk}/"

    page = desk.get(url).content.decode()
    fragment = desk.get(url, headers={"HX-Request": "true"}).content.decode()

    assert "Importing" in page and "42000 of 100000 rows done." in page
    assert f'hx-get="{url}" hx-trigger="every 2s"' in page
    assert f'<a href="{url}">Refresh</a>' in page  # without scripts, a plain link
    assert '<progress max="100000" value="42000">' in page
    assert "<html" not in fragment and "42000 of 100000 rows done." in fragment


def test_another_clinics_counselor_gets_404_for_the_job(client, other_counselor, clinic, counselor):
    job = LabImport.objects.create(
        clinic=clinic, created_by=counselor, status=LabImport.Status.DONE, expires_at=NOW
    )
    client.force_login(other_counselor)

    assert client.get(f"{URL}{job.pk}/").status_code == 404


# --- the upload waits on the server, not in the session ----------------------------------------


def test_the_session_keeps_only_the_uploads_id_and_the_upload_goes_once_confirmed(desk, patients):
    text = HEADER + "A1,2026-01-06 09:00,negative\n"

    desk.post(URL, {"step": "preview", "text": text, "mode": "skip_bad_rows"})

    stored = desk.session[SESSION_KEY]
    upload = LabImport.objects.get()
    assert set(stored) == {"upload", "token", "clinic"}
    assert "A1,2026-01-06" not in str(dict(desk.session))
    assert (upload.pk, upload.text, upload.status) == (stored["upload"], text, "uploaded")
    assert upload.expires_at == NOW + timedelta(days=1)

    desk.post(URL, {"step": "confirm", "token": stored["token"], "mode": "skip_bad_rows"})

    assert not LabImport.objects.exists()
    assert Specimen.objects.count() == 1


@pytest.mark.parametrize("who", ["colleague", "other clinic's counselor"])
def test_nobody_else_can_confirm_an_upload(
    client, clinic, counselor, other_counselor, patients, who
):
    text = HEADER + "A1,2026-01-06 09:00,negative\n"
    upload = lab_import_upload(clinic=clinic, actor=counselor, text=text, rows=1, now=NOW)
    if who == "colleague":
        intruder = UserFactory(username="colleague")
        MembershipFactory(user=intruder, clinic=clinic)
    else:
        intruder = other_counselor
        MembershipFactory(user=intruder, clinic=clinic)  # a counselor of both clinics
    client.force_login(intruder)
    session = client.session
    session[SESSION_KEY] = {"upload": upload.pk, "token": upload.token, "clinic": clinic.pk}
    session.save()

    answer = client.post(
        f"{URL}?clinic={clinic.pk}",
        {"step": "confirm", "token": upload.token, "mode": "skip_bad_rows"},
        follow=True,
    )

    assert "This preview has expired" in answer.content.decode()
    assert not Specimen.objects.exists()
    assert LabImport.objects.get().status == LabImport.Status.UPLOADED


def test_an_expired_upload_cannot_be_confirmed_and_is_swept(desk, patients):
    desk.post(URL, {"step": "preview", "text": long_file(), "mode": "skip_bad_rows"})
    token = desk.session[SESSION_KEY]["token"]
    LabImport.objects.update(expires_at=NOW)

    answer = desk.post(
        URL, {"step": "confirm", "token": token, "mode": "skip_bad_rows"}, follow=True
    )

    assert "This preview has expired" in answer.content.decode()
    assert lab_imports_sweep.delay().get() == 1

    assert not LabImport.objects.exists()
    assert not Specimen.objects.exists()


# --- one rule for the clinic's clock -----------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["2026-11-01 01:30", "2026-03-08 02:30"],
    ids=["fall-back overlap (ambiguous)", "spring-forward gap (does not exist)"],
)
def test_a_clinic_time_the_clock_change_makes_ambiguous_or_skips_is_refused_as_on_the_form(
    clinic, patients, typed
):
    form = SpecimenForm(
        {"collected_at": typed, "kind": "urine", "status": "tested", "panel": ["cocaine"]},
        clinic=clinic,
    )
    assert not form.is_valid()
    [form_message] = form.errors["collected_at"]

    [row] = lab_import_preview(clinic=clinic, text=HEADER + f"A1,{typed},negative\n").rows

    assert row.status == "error"
    assert row.messages == [f"collected_at: {form_message}"]
    assert "America/Chicago" in form_message and "ambiguous" in form_message


def test_the_same_moment_with_its_offset_is_accepted(clinic, patients):
    # 01:30 the second time round, in Central Standard Time: one instant, no doubt.
    [row] = lab_import_preview(
        clinic=clinic, text=HEADER + "A1,2026-11-01T01:30:00-06:00,negative\n"
    ).rows

    assert row.status == "ok"


def test_the_next_upload_sweeps_the_expired_ones(clinic, counselor):
    old = lab_import_upload(clinic=clinic, actor=counselor, text=HEADER, rows=0, now=NOW)

    lab_import_upload(
        clinic=clinic, actor=counselor, text=HEADER, rows=0, now=NOW + timedelta(days=2)
    )

    assert not LabImport.objects.filter(pk=old.pk).exists()
    assert LabImport.objects.count() == 1


def test_a_job_that_keeps_failing_is_given_up_after_five_attempts(
    clinic, counselor, patients, monkeypatch
):
    def always_dies(*args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(importer, "_write_and_settle", always_dies)
    job = lab_import_job_create(
        clinic=clinic, actor=counselor, text=long_file(), rows=10, mode=SKIP_BAD_ROWS, now=NOW
    )
    for _attempt in range(5):
        with pytest.raises(RuntimeError):
            lab_import_run(job_id=job.pk)

    assert lab_import_run(job_id=job.pk) is None

    job.refresh_from_db()
    assert (job.status, job.attempts, job.written, job.text) == ("failed", 5, 0, "")
    assert "Stopped after 5 attempts" in job.failure
    assert importer.lab_import_jobs_stalled(now=NOW + timedelta(hours=1)) == []
