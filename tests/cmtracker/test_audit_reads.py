"""Every way staff can read a patient's name is in the audit trail: each page of the app, each API
resource and each page of the Django admin logs exactly one read of each patient it shows, and
none of a patient it does not show.

The pages come from the URL resolver (through the permission matrix, which
`test_every_route_is_in_a_matrix` keeps complete) and the admin pages from the admin's registry,
so a new page that names a patient without logging it fails here, not in an inspection. Whether
a page shows a patient is read from the page itself: the patients have names found nowhere else.
"""

from collections import Counter
from datetime import date

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from cmtracker.models import AuditEvent
from patients.models import Patient, SpecimenResult
from rewards import redemptions
from rewards.models import CatalogItem
from tests.api.conftest import client_for
from tests.api.test_permission_matrix import MATRIX as API_MATRIX
from tests.conftest import at
from tests.test_permission_matrix import PAGES, _records
from vouchers import adjustments, recording
from vouchers.models import LabImport


@pytest.fixture
def named(patient, other_patient, enrollment):
    """The two patients of clinic A, named and numbered so that a page shows either only by
    showing them."""
    for p, (first, last, number) in zip(
        (patient, other_patient),
        (("Quillon", "Zabriskie-Ortt", "ZQ-7301"), ("Marisol", "Vandergraaf", "ZQ-7302")),
        strict=True,
    ):
        Patient.objects.filter(pk=p.pk).update(
            first_name=first, last_name=last, record_number=number
        )
        p.refresh_from_db()
    return [patient, other_patient]


@pytest.fixture
def records(named, clinic, counselor, clinic_admin, patient, enrollment):
    records = _records(clinic, counselor, patient, enrollment, 0)
    # The other patient has a request in the queue too, so lists show two patients.
    other = named[1]
    other.enrollments.create(protocol=enrollment.protocol, start_date=enrollment.start_date)
    adjustments.ledger_adjust(patient=other, amount_cents=500, reason="seed", actor=clinic_admin)
    item = CatalogItem.objects.get(pk=records["item"])
    records["other_requested"] = redemptions.redemption_request(
        patient=other, items=[(item, 1)], requested_by=counselor
    ).pk
    approved = redemptions.redemption_request(
        patient=patient, items=[(item, 1)], requested_by=counselor
    )
    redemptions.redemption_approve(redemption=approved, actor=counselor)
    redemptions.redemption_handover(redemption=approved, actor=counselor)  # on the stock ledger
    records["approved"] = approved.pk
    records["attendance"] = recording.attendance_record(
        patient=patient, occurred_at=at(clinic, date(2026, 1, 20)), session_kind="group"
    ).attendance.pk
    records["protocol"] = enrollment.protocol_id
    return records


def _shown(content: str, patients) -> set[int]:
    """The patients a page names, or gives the record number of (the lab import's rows, a
    download's file name)."""
    return {p.pk for p in patients if p.last_name in content or p.record_number in content}


def _read(fetch, patients) -> tuple[set[int], Counter, object]:
    """Fetch a page; return the patients it shows, the reads it logged (per patient) and the
    response."""
    since = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    response = fetch()
    if getattr(response, "streaming", False):
        content = b"".join(response.streaming_content).decode()
    else:
        content = response.content.decode()
    content += response.get("Content-Disposition", "")
    # A clinic-wide export's own event names no patient (tests/vouchers/reports/test_exports.py
    # checks it); the patients it names are logged one by one like any page's.
    logged = Counter(
        AuditEvent.objects.filter(
            id__gt=since,
            action__in=[AuditEvent.Action.READ, AuditEvent.Action.EXPORT],
            patient_id__isnull=False,
        ).values_list("patient_id", flat=True)
    )
    return _shown(content, patients), logged, response


def _one_read_each(shown: set[int]) -> Counter:
    return Counter({pk: 1 for pk in shown})


def test_every_page_of_the_app_logs_one_read_per_patient_it_shows(
    records, named, clinic_admin, counselor
):
    client = Client()
    client.force_login(clinic_admin)  # staff of clinic A who reaches every staff page
    pages_with_names = []
    wrong = {}
    for name, method, args, _data, _expected in PAGES:
        if method != "get":
            continue
        url = reverse(name, args=[records[a] for a in args])
        shown, logged, _response = _read(lambda url=url: client.get(url, follow=True), named)
        if shown:
            pages_with_names.append(name)
        if logged != _one_read_each(shown):
            wrong[name] = (sorted(shown), dict(logged))

    assert wrong == {}
    # The walk did see the pages it is about (it is not passing because nothing shows a name).
    assert {
        "patient-list",
        "patient-detail",
        "specimen-correct",
        "specimen-excuse",
        "prize-draws",
        "redemptions",
        "notifications",
        "catalog-stock",
    } <= set(pages_with_names)


def test_every_api_resource_logs_one_read_per_patient_it_returns(records, named, counselor):
    client = client_for(counselor)
    wrong = {}
    seen = []
    for method, path, *_rest in API_MATRIX:
        if method != "get" or not path.startswith("/api/v1/"):
            continue
        lab_import = LabImport.objects.create(
            clinic=named[0].clinic,
            status=LabImport.Status.DONE,
            expires_at=at(named[0].clinic, date(2026, 1, 7)),
        )
        url = path.format(**{**records, "lab_import": lab_import.pk, "clinic": named[0].clinic_id})
        shown, logged, response = _read(lambda url=url: client.get(url), named)
        # An answer is about the patients it names, it gives the id of ("patient": 7), or whose
        # resource it is (/patients/7/ledger/).
        shown |= set(_patient_ids(response.json())) & {p.pk for p in named}
        if path.startswith("/api/v1/patients/{patient}/"):
            shown.add(records["patient"])
        seen.extend([path] if shown else [])
        if logged != _one_read_each(shown):
            wrong[path] = (sorted(shown), dict(logged))

    assert wrong == {}
    assert "/api/v1/patients/" in seen


def _patient_ids(data):
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "patient" and isinstance(value, int):
                yield value
            else:
                yield from _patient_ids(value)
    elif isinstance(data, list):
        for value in data:
            yield from _patient_ids(value)


def test_every_admin_page_logs_one_read_per_patient_it_shows(records, named, admin_user):
    client = Client()
    client.force_login(admin_user)
    wrong = {}
    seen = []
    for model in admin.site._registry:
        opts = model._meta
        row = model._default_manager.order_by("pk").first()
        urls = [reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")]
        if row is not None:
            urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk]))
        for url in urls:
            shown, logged, _response = _read(lambda url=url: client.get(url), named)
            seen.extend([url] if shown else [])
            if model is SpecimenResult:
                # A drug test's result is the patient's record, named or not: all are patient A's.
                shown = {named[0].pk}
            if logged != _one_read_each(shown):
                wrong[url] = (sorted(shown), dict(logged))

    assert wrong == {}
    assert len(seen) >= 10  # lists and forms of patients, ledgers, notifications, requests...


# --- pages reached by a form: the lab import ----------------------------------------------------


def _reads(since: int) -> Counter:
    return Counter(
        AuditEvent.objects.filter(id__gt=since, action=AuditEvent.Action.READ).values_list(
            "patient_id", flat=True
        )
    )


def _last_id() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def test_the_lab_import_preview_and_report_log_a_read_of_each_patient_they_list(
    client, counselor, named, other_clinic
):
    patient, other = named
    stranger = Patient.objects.create(
        clinic=other_clinic, record_number="ZQ-7302-B", first_name="Not", last_name="Listed"
    )
    text = (
        "record_number,collected_at,cocaine\n"
        f"{patient.record_number},2026-01-06 09:00,negative\n"
        f"{patient.record_number},2026-01-07 09:00,negative\n"
        f"{other.record_number},2026-01-07 09:00,negative\n"  # not enrolled: an error row
        f"{stranger.record_number},2026-01-07 09:00,negative\n"  # another clinic's: unknown
    )
    client.force_login(counselor)

    since = _last_id()
    preview = client.post(
        reverse("lab-import"), {"step": "preview", "text": text, "mode": "skip_bad_rows"}
    )

    page = preview.content.decode()
    assert patient.last_name in page and other.last_name in page
    assert _reads(since) == Counter({patient.pk: 1, other.pk: 1})

    since = _last_id()
    token = client.session["lab_import"]["token"]
    report = client.post(
        reverse("lab-import"), {"step": "confirm", "token": token, "mode": "skip_bad_rows"}
    )

    assert patient.last_name in report.content.decode()
    assert _reads(since) == Counter({patient.pk: 1, other.pk: 1})


def test_a_finished_import_jobs_page_logs_a_read_of_each_patient_its_rows_name(
    client, counselor, named, clinic
):
    patient, other = named
    job = LabImport.objects.create(
        clinic=clinic,
        created_by=counselor,
        status=LabImport.Status.DONE,
        expires_at=at(clinic, date(2026, 1, 7)),
        rows_total=3,
        errors=2,
        error_rows=[
            {"number": 2, "record_number": other.record_number, "status": "error", "messages": []},
            {"number": 3, "record_number": "NOPE", "status": "error", "messages": []},
        ],
    )
    client.force_login(counselor)

    since = _last_id()
    page = client.get(reverse("lab-import-job", args=[job.pk])).content.decode()

    assert other.record_number in page and patient.record_number not in page
    assert _reads(since) == Counter({other.pk: 1})


@pytest.mark.parametrize("status", [LabImport.Status.DONE, LabImport.Status.RUNNING])
def test_an_import_jobs_api_answer_logs_a_read_of_each_patient_its_rows_name(
    counselor, named, clinic, status
):
    # Like the page's, but the API returns the rows the first check refused while the job runs.
    patient, other = named
    job = LabImport.objects.create(
        clinic=clinic,
        created_by=counselor,
        status=status,
        expires_at=at(clinic, date(2026, 1, 7)),
        rows_total=3,
        errors=2,
        error_rows=[
            {"number": 2, "record_number": other.record_number, "status": "error", "messages": []},
            {"number": 3, "record_number": "NOPE", "status": "error", "messages": []},
        ],
    )

    since = _last_id()
    body = client_for(counselor).get(f"/api/v1/imports/lab-results/{job.pk}/").json()

    assert [row["record_number"] for row in body["rows"]] == [other.record_number, "NOPE"]
    assert _reads(since) == Counter({other.pk: 1})


def test_a_running_import_jobs_page_shows_no_rows_and_logs_no_read(
    client, counselor, named, clinic
):
    _patient, other = named
    job = LabImport.objects.create(
        clinic=clinic,
        created_by=counselor,
        status=LabImport.Status.RUNNING,
        expires_at=at(clinic, date(2026, 1, 7)),
        rows_total=3,
        errors=1,
        error_rows=[
            {"number": 2, "record_number": other.record_number, "status": "error", "messages": []},
        ],
    )
    client.force_login(counselor)

    since = _last_id()
    page = client.get(reverse("lab-import-job", args=[job.pk])).content.decode()

    assert other.record_number not in page
    assert _reads(since) == Counter()
