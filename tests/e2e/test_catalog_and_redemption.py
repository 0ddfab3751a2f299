"""In a real browser: the reward catalog from the administrator's desk to the patient's hands."""

import pytest

from rewards.catalog import catalog_item_create
from rewards.models import CatalogItem
from tests.e2e.conftest import DESKTOP, PHONE, axe_serious_violations, screenshot, sign_in
from tests.factories import UserFactory
from vouchers import adjustments

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _page(browser, live_server, viewport):
    context = browser.new_context(viewport=viewport, base_url=live_server.url, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def test_an_administrator_adds_an_item_and_restocks_it(browser, live_server, clinic_admin):
    page = _page(browser, live_server, DESKTOP)
    sign_in(page, "ada")
    page.goto("/catalog/new/")
    page.get_by_label("Name").fill("Bus pass")
    page.get_by_label("Price in dollars").fill("5.00")
    page.get_by_label("Opening stock").fill("2")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    item = CatalogItem.objects.get(name="Bus pass")
    assert (item.price_cents, item.stock) == (500, 2)
    assert "Bus pass" in page.locator("main").inner_text()
    assert axe_serious_violations(page) == []

    page.goto(f"/catalog/{item.pk}/stock/")
    page.get_by_label("Quantity received").fill("3")
    page.get_by_role("button", name="Add to stock").click()
    page.wait_for_load_state()
    assert "5" in page.locator(".stat").first.inner_text()
    assert axe_serious_violations(page) == []
    screenshot(page, "catalog-stock")
    page.context.close()


@pytest.fixture
def shop(clinic, clinic_admin, counselor, patient):
    patient.user = UserFactory(username="pat")
    patient.preferred_language = "en"
    patient.save()
    adjustments.ledger_adjust(
        patient=patient, amount_cents=2000, reason="opening balance", actor=clinic_admin
    )
    catalog_item_create(
        clinic=clinic, name="Bus pass", price_cents=500, stock=5, actor=clinic_admin
    )
    return patient


def _request_bus_pass(phone):
    phone.goto("/me/catalog/")
    phone.get_by_label("Bus pass").fill("1")
    phone.get_by_role("button", name="Request", exact=True).click()
    phone.wait_for_load_state()


def test_a_patient_requests_on_a_phone_and_a_counselor_approves_and_hands_it_over(
    browser, live_server, shop
):
    phone = _page(browser, live_server, PHONE)
    sign_in(phone, "pat")
    _request_bus_pass(phone)
    assert "$5.00 held from your balance" in phone.locator("main").inner_text()
    assert axe_serious_violations(phone) == []
    screenshot(phone, "patient-request-phone")

    desk = _page(browser, live_server, DESKTOP)
    sign_in(desk, "casey")
    desk.goto("/redemptions/")
    desk.get_by_role("button", name="Approve").click()
    desk.wait_for_load_state()
    desk.get_by_role("button", name="Hand over").click()
    desk.wait_for_load_state()
    assert axe_serious_violations(desk) == []

    phone.goto("/me/redemptions/")
    assert "Handed over" in phone.locator("main").inner_text()
    phone.goto("/me/")
    assert "$15.00" in phone.locator("main").inner_text()
    phone.context.close()
    desk.context.close()


def test_a_declined_request_gives_the_points_back(browser, live_server, shop):
    phone = _page(browser, live_server, PHONE)
    sign_in(phone, "pat")
    _request_bus_pass(phone)
    phone.goto("/me/")
    assert "$15.00" in phone.locator("main").inner_text()

    desk = _page(browser, live_server, DESKTOP)
    sign_in(desk, "casey")
    desk.goto("/redemptions/")
    desk.locator("details.decline summary").first.click()
    desk.locator("textarea[name=reason]").first.fill("Not a fit with this week's treatment goals")
    desk.get_by_role("button", name="Decline and return the points").click()
    desk.wait_for_load_state()

    phone.goto("/me/")
    assert "$20.00" in phone.locator("main").inner_text()
    phone.goto("/me/redemptions/")
    assert "treatment goals" in phone.locator("main").inner_text()
    phone.context.close()
    desk.context.close()
