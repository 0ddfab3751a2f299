"""The counselor's patients list: their clinics' patients, searched, filtered and paginated."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import EnrollmentFactory, MembershipFactory, PatientFactory, UserFactory

URL = reverse("patient-list")


def names(response) -> list[str]:
    return [p.full_name for p in response.context["patients"]]


@pytest.fixture
def jordan(clinic):
    user = UserFactory(username="jordan", first_name="Jordan", last_name="Reyes")
    MembershipFactory(user=user, clinic=clinic, role="counselor")
    return user


@pytest.fixture
def roster(clinic, counselor, jordan, higgins):
    """Four patients: two active (one each counselor), one paused, one never enrolled."""
    ana = PatientFactory(
        clinic=clinic,
        first_name="Ana",
        last_name="Lopez",
        record_number="RR-100",
        primary_counselor=counselor,
    )
    ben = PatientFactory(
        clinic=clinic,
        first_name="Ben",
        last_name="Okafor",
        record_number="RR-200",
        primary_counselor=jordan,
    )
    cy = PatientFactory(
        clinic=clinic,
        first_name="Cy",
        last_name="Lopez-Hart",
        record_number="RR-300",
        primary_counselor=counselor,
    )
    dee = PatientFactory(
        clinic=clinic,
        first_name="Dee",
        last_name="Novak",
        record_number="RR-400",
        primary_counselor=None,
    )
    EnrollmentFactory(patient=ana, protocol=higgins)
    EnrollmentFactory(patient=ben, protocol=higgins)
    EnrollmentFactory(patient=cy, protocol=higgins, status="paused")
    return ana, ben, cy, dee


def test_the_list_shows_the_clinics_patients_with_counselor_protocol_and_status(
    client, counselor, roster
):
    client.force_login(counselor)

    response = client.get(URL)

    assert response.status_code == 200
    assert names(response) == ["Ana Lopez", "Cy Lopez-Hart", "Dee Novak", "Ben Okafor"]
    html = response.content.decode()
    assert reverse("patient-detail", args=[roster[0].pk]) in html
    assert "RR-100" in html
    assert "Jordan Reyes" in html
    assert "Higgins et al. 1994" in html
    assert '<span class="badge paused">Paused</span>' in html
    assert "Not enrolled" in html
    assert "4 patients" in html


def test_another_clinics_patients_are_not_listed(client, counselor, roster, other_clinic):
    PatientFactory(clinic=other_clinic, first_name="Zed", last_name="Elsewhere")
    client.force_login(counselor)

    assert "Zed Elsewhere" not in names(client.get(URL))


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("lopez", ["Ana Lopez", "Cy Lopez-Hart"]),
        ("ana lopez", ["Ana Lopez"]),
        ("RR-200", ["Ben Okafor"]),
        ("rr-4", ["Dee Novak"]),
        ("nobody", []),
        ("", ["Ana Lopez", "Cy Lopez-Hart", "Dee Novak", "Ben Okafor"]),
    ],
)
def test_search_by_name_or_record_number(client, counselor, roster, q, expected):
    client.force_login(counselor)

    assert names(client.get(URL, {"q": q})) == expected


def test_filter_by_counselor(client, counselor, jordan, roster):
    client.force_login(counselor)

    assert names(client.get(URL, {"counselor": jordan.pk})) == ["Ben Okafor"]
    assert names(client.get(URL, {"counselor": counselor.pk})) == ["Ana Lopez", "Cy Lopez-Hart"]


def test_another_clinics_counselor_cannot_be_chosen(client, counselor, other_counselor, roster):
    client.force_login(counselor)

    response = client.get(URL, {"counselor": other_counselor.pk})

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert other_counselor not in response.context["form"].fields["counselor"].queryset


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("active", ["Ana Lopez", "Ben Okafor"]),
        ("paused", ["Cy Lopez-Hart"]),
        ("none", ["Dee Novak"]),
        ("completed", []),
    ],
)
def test_filter_by_enrollment_status(client, counselor, roster, status, expected):
    client.force_login(counselor)

    assert names(client.get(URL, {"status": status})) == expected


def test_an_ended_enrollment_shows_until_a_new_one_opens(client, counselor, roster, higgins):
    ana = roster[0]
    ana.enrollments.update(status="completed", end_date=date(2026, 3, 1))
    client.force_login(counselor)
    assert names(client.get(URL, {"status": "completed"})) == ["Ana Lopez"]

    EnrollmentFactory(patient=ana, protocol=higgins, start_date=date(2026, 1, 1))  # earlier start

    assert names(client.get(URL, {"status": "active"})) == ["Ana Lopez", "Ben Okafor"]
    assert names(client.get(URL, {"status": "completed"})) == []


def test_the_list_is_paginated_25_a_page_keeping_the_filters(client, counselor, clinic):
    for i in range(30):
        PatientFactory(clinic=clinic, first_name="Pat", last_name=f"Tester{i:02d}")
    client.force_login(counselor)

    first = client.get(URL, {"q": "tester"})
    second = client.get(URL, {"q": "tester", "page": 2})

    assert len(names(first)) == 25
    assert names(second) == [f"Pat Tester{i:02d}" for i in range(25, 30)]
    assert "?q=tester&amp;page=2" in first.content.decode()
    assert "Page 2 of 2" in second.content.decode()
    assert names(client.get(URL, {"q": "tester", "page": "junk"})) == names(first)


def _patients(clinic, counselor, higgins, n):
    for i in range(n):
        patient = PatientFactory(clinic=clinic, primary_counselor=counselor)
        if i % 2:
            EnrollmentFactory(patient=patient, protocol=higgins)


@pytest.mark.parametrize("query", [{}, {"q": "a", "status": "active"}])
def test_queries_per_page_do_not_grow_with_the_number_of_patients(
    client, counselor, clinic, higgins, query
):
    client.force_login(counselor)

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(URL, query).status_code == 200
        return len(queries)

    _patients(clinic, counselor, higgins, 10)
    ten = count()
    _patients(clinic, counselor, higgins, 190)
    two_hundred = count()

    assert ten == two_hundred


def test_a_patient_gets_404(client, patient_user):
    client.force_login(patient_user)

    assert client.get(URL).status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(client, db):
    response = client.get(URL)

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
