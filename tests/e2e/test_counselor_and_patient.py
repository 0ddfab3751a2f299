"""In a real browser: the front-desk flow a counselor runs, and the patient's phone view.

Screenshots land in var/screenshots/ so the pages can be looked at (`make screenshots` retakes
the README's, in docs/screenshots/).
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.conftest import at
from tests.e2e.conftest import PHONE, axe_serious_violations, screenshot, sign_in
from tests.factories import EnrollmentFactory, PatientFactory, UserFactory
from vouchers import recording

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _today(clinic):
    return timezone.now().astimezone(clinic.tz).date()


@pytest.fixture
def front_desk(clinic, counselor, higgins):
    """Two Higgins patients whose week-1 test day is today; Rosa tested negative two days ago."""
    today = _today(clinic)
    start = today - timedelta(days=2)
    maria = PatientFactory(clinic=clinic, first_name="María", last_name="González",
                           primary_counselor=counselor, preferred_language="es",
                           user=UserFactory(username="maria"))  # fmt: skip
    rosa = PatientFactory(clinic=clinic, first_name="Rosa", last_name="Hernández",
                          primary_counselor=counselor)  # fmt: skip
    for patient in (maria, rosa):
        # Every weekday offered, so day 0, 2, 4 are test days whatever weekday today is.
        EnrollmentFactory(
            patient=patient, protocol=higgins, start_date=start, test_weekdays=list(range(7))
        )
    recording.specimen_record(
        patient=rosa, collected_at=at(clinic, start), results={"cocaine": "negative"}
    )
    return maria, rosa


def test_a_counselor_records_a_negative_and_sees_the_award_and_the_next_value(
    desktop, front_desk, counselor
):
    maria, _ = front_desk
    sign_in(desktop, "casey")
    desktop.goto("/today/")
    due = desktop.locator(".today-due")
    assert "María González" in due.inner_text()
    assert axe_serious_violations(desktop) == []
    screenshot(desktop, "today-board")

    due.get_by_role("link", name=re.compile("Record result · María")).click()
    desktop.get_by_role("button", name="Save result").click()
    result = desktop.locator("#record-result")
    result.get_by_text("Earned $2.50").wait_for()
    assert "The next negative test earns $3.75." in result.inner_text()
    assert axe_serious_violations(desktop) == []
    screenshot(desktop, "record-result-saved")

    desktop.goto("/today/")
    assert "María González" in desktop.locator(".today-seen").inner_text()


def test_a_positive_resets_and_a_correction_with_a_reason_restores_the_balance(
    desktop, front_desk, counselor
):
    _, rosa = front_desk
    sign_in(desktop, "casey")
    desktop.goto(f"/patients/{rosa.pk}/specimens/new/")
    desktop.locator("input[name=positive][value=cocaine]").check()
    desktop.get_by_role("button", name="Save result").click()
    result = desktop.locator("#record-result")
    result.get_by_text("Nothing earned.").wait_for()
    assert "The next negative test earns $2.50." in result.inner_text()

    desktop.goto(f"/patients/{rosa.pk}/")
    assert "$2.50" in desktop.locator("main").inner_text()
    assert axe_serious_violations(desktop) == []
    positive_row = desktop.locator("tr", has=desktop.locator(".badge.positive"))
    positive_row.get_by_role("link", name=re.compile("^Correct")).click()
    desktop.locator("input[name=positive][value=cocaine]").uncheck()
    desktop.locator("textarea[name=reason], input[name=reason]").fill(
        "Lab confirmation negative; the cup screen was a false positive."
    )
    desktop.locator("form [type=submit]").last.click()
    desktop.wait_for_load_state()
    page = desktop.locator("main").inner_text()
    assert "$6.25" in page  # $2.50 + $3.75: the streak was never broken
    assert "false positive" in page  # the correction's reason is in the history
    screenshot(desktop, "patient-page-after-correction")


def test_a_patient_sees_the_same_balance_and_promise_on_a_phone_in_spanish(
    phone, front_desk, counselor
):
    maria, _ = front_desk
    recording.specimen_record(
        patient=maria, collected_at=timezone.now(), results={"cocaine": "negative"}
    )
    sign_in(phone, "maria")
    phone.goto("/me/")
    assert phone.locator("html").get_attribute("lang") == "es"
    text = phone.locator("main").inner_text()
    assert "$2.50" in text
    assert "$3.75" in text
    assert "Tu próxima prueba negativa" in text
    assert axe_serious_violations(phone) == []
    screenshot(phone, "patient-portal-phone")


def test_a_patient_trying_another_patients_page_gets_not_found(phone, front_desk):
    _, rosa = front_desk
    sign_in(phone, "maria")
    response = phone.goto(f"/patients/{rosa.pk}/")
    assert response.status == 404


def test_on_a_phone_the_staff_menu_and_the_today_board_fit_the_screen(
    phone, front_desk, clinic_admin
):
    """No sideways scrolling: every menu link and every record button within the 390px."""
    maria, _ = front_desk
    sign_in(phone, "ada")  # an administrator has the longest menu
    phone.goto("/today/")

    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    for link in phone.locator("header nav a").all():
        box = link.bounding_box()
        assert box is not None and box["x"] + box["width"] <= PHONE["width"], link.inner_text()
    button = phone.get_by_role("link", name=re.compile(f"· {maria.full_name}")).first
    box = button.bounding_box()
    assert box["x"] + box["width"] <= PHONE["width"]
    screenshot(phone, "today-board-phone")


@pytest.fixture
def caseload(clinic, counselor, higgins):
    """Casey's patients: Lena, negative on days 0, 2, 4, 7 and 9 of her enrollment (a long
    streak); Tomás, positive then missed (slipping). Every weekday offered."""
    today = _today(clinic)
    start = today - timedelta(days=12)
    lena = PatientFactory(clinic=clinic, first_name="Lena", last_name="Fischer",
                          primary_counselor=counselor)  # fmt: skip
    tomas = PatientFactory(clinic=clinic, first_name="Tomás", last_name="Rivera",
                           primary_counselor=counselor)  # fmt: skip
    for patient in (lena, tomas):
        EnrollmentFactory(
            patient=patient, protocol=higgins, start_date=start, test_weekdays=list(range(7))
        )
    for day in (0, 2, 4, 7, 9):
        recording.specimen_record(
            patient=lena,
            collected_at=at(clinic, start + timedelta(days=day)),
            results={"cocaine": "negative"},
        )
    recording.specimen_record(
        patient=tomas, collected_at=at(clinic, start + timedelta(days=7)),
        results={"cocaine": "positive"},
    )  # fmt: skip
    recording.specimen_record(
        patient=tomas, collected_at=at(clinic, start + timedelta(days=9)), status="missed"
    )
    return lena, tomas


def test_on_a_phone_a_counselor_reads_their_caseload(phone, caseload):
    """The caseload panel on Today: readable at 390px (the phone reads Spanish), no sideways
    scrolling, axe clean, and each name a link to the patient's page."""
    lena, tomas = caseload
    sign_in(phone, "casey")
    phone.goto("/today/")

    panel = phone.locator(".caseload")
    assert "Tus pacientes" in panel.inner_text()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert axe_serious_violations(phone) == []
    streaks = panel.locator("section", has_text="En una racha larga")
    assert "5 negativas seguidas (2 semanas)" in streaks.inner_text()
    link = panel.get_by_role("link", name=tomas.full_name)
    box = link.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"]
    screenshot(phone, "today-caseload-phone")
    link.click()
    phone.wait_for_url(f"**/patients/{tomas.pk}/")
