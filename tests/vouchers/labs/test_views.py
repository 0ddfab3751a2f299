"""The lab import page: upload, see every row checked, confirm, read the report."""

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from patients.models import Specimen
from tests.factories import EnrollmentFactory, MembershipFactory, PatientFactory
from vouchers.labs.rows import MAX_BYTES
from vouchers.labs.views import SESSION_KEY
from vouchers.models import Wallet

URL = "/import/lab-results/"
FILE = (
    "record_number,collected_at,cocaine\n"
    "A1,2026-01-06 09:00,negative\n"
    "A1,2026-01-07 09:00,maybe\n"
    "NOPE,2026-01-08 09:00,negative\n"
    "A1,2026-01-08 09:00,negative\n"
)


@pytest.fixture
def alice(clinic, counselor, higgins):
    patient = PatientFactory(clinic=clinic, record_number="A1", first_name="Alice")
    EnrollmentFactory(patient=patient, protocol=higgins, start_date=date(2026, 1, 5))
    return patient


@pytest.fixture
def desk(client, counselor):
    client.force_login(counselor)
    return client


def upload(content: bytes | str, name: str = "results.csv") -> SimpleUploadedFile:
    data = content.encode() if isinstance(content, str) else content
    return SimpleUploadedFile(name, data, content_type="text/csv")


def test_the_url_is_named():
    assert reverse("lab-import") == URL


def test_upload_preview_confirm_report(desk, alice):
    page = desk.get(URL)
    assert page.status_code == 200
    assert b'<th scope="col">' not in page.content  # no table before a file

    preview = desk.post(URL, {"step": "preview", "file": upload(FILE), "mode": "skip_bad_rows"})

    assert preview.status_code == 200
    html = preview.content.decode()
    assert "4 rows: 2 ready, 2 with errors" in html
    assert "maybe" in html and "No patient with record number NOPE in this clinic." in html
    assert "Alice" in html and '<th scope="row">' in html
    assert not Specimen.objects.exists()
    token = desk.session[SESSION_KEY]["token"]

    report = desk.post(URL, {"step": "confirm", "token": token, "mode": "skip_bad_rows"})

    assert report.status_code == 200
    assert report.context["report"].totals["written"] == 2
    assert "Import report" in report.content.decode()
    assert Specimen.objects.filter(enrollment__patient=alice).count() == 2
    assert Wallet.objects.get(patient=alice).balance_cents > 0
    assert SESSION_KEY not in desk.session


def test_the_preview_shows_what_each_test_found_apart_from_whether_the_row_is_ok(desk, alice):
    """A positive row reads "Positive" in the test's column; "OK" only says the row can be
    written, in a neutral badge, not the green of a negative test."""
    text = "record_number,collected_at,cocaine\nA1,2026-01-06 09:00,positive\n"

    html = desk.post(
        URL, {"step": "preview", "text": text, "mode": "skip_bad_rows"}
    ).content.decode()

    row = html.split('<th scope="row">2</th>')[1].split("</tr>")[0]
    assert '<span class="badge positive">Positive</span>' in row
    assert '<span class="badge">OK</span>' in row
    assert "badge negative" not in row


def test_pasted_text_and_all_or_nothing_write_nothing_when_a_row_is_bad(desk, alice):
    desk.post(URL, {"step": "preview", "text": FILE, "mode": "all_or_nothing"})
    token = desk.session[SESSION_KEY]["token"]

    report = desk.post(URL, {"step": "confirm", "token": token, "mode": "all_or_nothing"})

    assert report.context["report"].totals["skipped"] == 2
    assert "Nothing was written" in report.content.decode()
    assert not Specimen.objects.exists()


def test_a_second_confirm_imports_nothing_more(desk, alice):
    desk.post(URL, {"step": "preview", "text": FILE, "mode": "skip_bad_rows"})
    token = desk.session[SESSION_KEY]["token"]
    desk.post(URL, {"step": "confirm", "token": token, "mode": "skip_bad_rows"})

    again = desk.post(
        URL, {"step": "confirm", "token": token, "mode": "skip_bad_rows"}, follow=True
    )

    assert "This preview has expired" in again.content.decode()
    assert Specimen.objects.count() == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Choose a CSV file, or paste its text."),
        ({"file": upload(b"")}, "The submitted file is empty."),
        ({"file": upload(FILE, name="results.xlsx")}, "Choose a CSV file"),
        ({"file": upload(b"\xff\xfe\x00P\x00K")}, "This is not a CSV text file"),
        ({"file": upload(b"a" * (MAX_BYTES + 1))}, "larger than 5 MB"),
        ({"file": upload("name,when\nA1,today\n")}, "The header must name the columns"),
        ({"file": upload("record_number,collected_at,heroin\nA1,x,y\n")}, "Unknown column: heroin"),
        ({"text": "record_number,collected_at,cocaine\n"}, "a header but no rows"),
    ],
    ids=[
        "nothing",
        "empty",
        "not csv",
        "binary",
        "too large",
        "wrong header",
        "unknown",
        "no rows",
    ],
)
def test_a_bad_file_is_a_form_error(desk, alice, data, message):
    response = desk.post(URL, {"step": "preview", "mode": "skip_bad_rows", **data})

    assert response.status_code == 200
    assert message in response.content.decode()
    assert SESSION_KEY not in desk.session


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_a_patient_gets_404(client, patient_user):
    client.force_login(patient_user)
    assert client.get(URL).status_code == 404
    assert client.post(URL, {"step": "preview", "text": FILE}).status_code == 404


def test_another_clinics_counselor_cannot_import_into_this_clinic(
    client, other_counselor, clinic, alice
):
    client.force_login(other_counselor)

    assert client.get(URL, {"clinic": clinic.pk}).status_code == 404
    response = client.post(
        f"{URL}?clinic={clinic.pk}", {"step": "preview", "text": FILE, "mode": "skip_bad_rows"}
    )
    assert response.status_code == 404
    # In their own clinic the record number means nobody.
    own = client.post(URL, {"step": "preview", "text": FILE, "mode": "skip_bad_rows"})
    assert own.context["report"].totals["ok"] == 0


def test_a_counselor_of_two_clinics_chooses_one(desk, counselor, other_clinic, alice):
    MembershipFactory(user=counselor, clinic=other_clinic)

    page = desk.get(URL, {"clinic": other_clinic.pk})

    assert page.context["clinic"] == other_clinic
    assert f"?clinic={other_clinic.pk}" in page.context["action"]


def test_a_token_for_another_clinic_is_refused(desk, counselor, other_clinic, alice, clinic):
    MembershipFactory(user=counselor, clinic=other_clinic)
    desk.post(
        f"{URL}?clinic={clinic.pk}", {"step": "preview", "text": FILE, "mode": "skip_bad_rows"}
    )
    token = desk.session[SESSION_KEY]["token"]

    response = desk.post(
        f"{URL}?clinic={other_clinic.pk}",
        {"step": "confirm", "token": token, "mode": "skip_bad_rows"},
        follow=True,
    )

    assert "This preview has expired" in response.content.decode()
    assert not Specimen.objects.exists()
