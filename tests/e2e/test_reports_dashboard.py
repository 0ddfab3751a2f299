"""In a real browser: the supervisor reads the program dashboard on a desktop and, in Spanish, on
a 390px phone — no sideways scroll outside the tables' own scroll boxes, axe clean, nothing but
counts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.conftest import at
from tests.e2e.conftest import PHONE, axe_serious_violations, screenshot, sign_in
from tests.factories import EnrollmentFactory, PatientFactory
from vouchers import recording

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def program(clinic, counselor, higgins, supervisor):
    """Six Higgins patients enrolled 8 weeks ago, tested every other day with a mix of results."""
    today = timezone.now().astimezone(clinic.tz).date()
    start = today - timedelta(days=56)
    patients = []
    for n in range(6):
        patient = PatientFactory(
            clinic=clinic, primary_counselor=counselor, first_name="Hidden", last_name=f"Name{n}"
        )
        EnrollmentFactory(
            patient=patient, protocol=higgins, start_date=start, test_weekdays=list(range(7))
        )
        for day in range(0, 40 - 5 * n, 3):
            outcome = "positive" if (day + n) % 4 == 0 else "negative"
            recording.specimen_record(
                patient=patient,
                collected_at=at(clinic, start + timedelta(days=day)),
                results={"cocaine": outcome},
            )
        patients.append(patient)
    return patients


def fits_the_phone(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_the_supervisor_reads_the_dashboard_on_a_desktop(desktop, program):
    sign_in(desktop, "sam")
    assert desktop.url.endswith("/reports/")  # a supervisor's home

    main = desktop.locator("main")
    assert "Program dashboard · Riverside Recovery" in main.inner_text()
    assert "6 enrollments" in main.inner_text()
    assert "Hidden" not in desktop.content()  # counts only, nobody named
    assert desktop.locator("figure.chart svg").count() == 4  # weekly, retention, LDA, cost
    assert axe_serious_violations(desktop) == []
    screenshot(desktop, "reports-dashboard")

    desktop.get_by_label("Break down by").select_option("cohort")
    desktop.get_by_role("button", name="Show", exact=True).last.click()
    desktop.wait_for_load_state()
    assert desktop.locator("[aria-labelledby=breakdown-heading] tbody tr").count() == 1
    desktop.locator("details.chart-data summary").first.click()
    assert desktop.locator("details.chart-data table").first.is_visible()
    assert axe_serious_violations(desktop) == []

    desktop.get_by_label("First day").fill("2030-01-01")
    desktop.get_by_role("button", name="Show", exact=True).last.click()
    desktop.wait_for_load_state()
    assert "Please correct the range above." in desktop.locator("main").inner_text()


def test_the_supervisor_reads_it_on_a_phone_in_spanish(phone, program):
    sign_in(phone, "sam")
    phone.goto("/reports/?by=counselor")

    assert phone.locator("html").get_attribute("lang") == "es"
    text = phone.locator("main").inner_text()
    assert "Panel del programa" in text
    assert "Muestras negativas" in text
    fits_the_phone(phone)
    assert axe_serious_violations(phone) == []
    screenshot(phone, "reports-dashboard-phone")

    phone.goto("/reports/organization/")
    assert "Tus clínicas" in phone.locator("main").inner_text()
    fits_the_phone(phone)
    assert axe_serious_violations(phone) == []
