"""Spending points in the web app: a patient asks for items on their phone, a counselor approves,
declines or hands them over, and each sees what happened to the points."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import formats, timezone

from rewards.catalog import catalog_item_create
from rewards.models import Redemption, RedemptionLine, StockMovement
from rewards.redemptions import redemption_approve, redemption_decline, redemption_request
from tests.factories import PatientFactory
from vouchers import adjustments
from vouchers.models import LedgerEntry
from vouchers.selectors import wallet_get

pytestmark = pytest.mark.django_db


def credit(patient, cents, actor):
    adjustments.ledger_adjust(
        patient=patient, amount_cents=cents, reason="test credit", actor=actor
    )


def balance(patient) -> int:
    return wallet_get(patient=patient).balance_cents


def stock(item):
    item.refresh_from_db()
    return item.stock


def written():
    """Everything a refused request must leave untouched."""
    return (
        Redemption.objects.count(),
        RedemptionLine.objects.count(),
        LedgerEntry.objects.count(),
        StockMovement.objects.count(),
    )


@pytest.fixture
def bus_pass(clinic, clinic_admin):
    return catalog_item_create(
        clinic=clinic, name="Bus pass", price_cents=500, stock=3, category="transport",
        actor=clinic_admin,
    )  # fmt: skip


@pytest.fixture
def phone_card(clinic, clinic_admin):
    return catalog_item_create(
        clinic=clinic, name="Phone card", price_cents=1000, category="phone", actor=clinic_admin
    )


@pytest.fixture
def funded(patient, patient_user, counselor):
    """The patient, signed in, with $20.00 to spend."""
    credit(patient, 2000, counselor)
    return patient


def ask(client, user, data, url=None, key=None):
    client.force_login(user)
    payload = {"idempotency_key": key or str(uuid.uuid4())}
    payload.update({f"item_{item.pk}": quantity for item, quantity in data.items()})
    return client.post(url or reverse("portal-catalog"), payload)


def act(client, user, redemption, action, **data):
    client.force_login(user)
    return client.post(reverse("redemption-action", args=[redemption.pk, action]), data)


def requested(patient, actor, *items, key=None):
    return redemption_request(
        patient=patient,
        items=[(item, 1) for item in items],
        requested_by=actor,
        idempotency_key=key,
    )


# --- the patient's catalog ---------------------------------------------------------------------


def test_the_catalog_shows_items_prices_stock_and_the_balance(
    client, funded, patient_user, clinic, clinic_admin, bus_pass, phone_card
):
    catalog_item_create(
        clinic=clinic, name="Jumbo radio", price_cents=2000, prize_tier="jumbo", actor=clinic_admin
    )
    retired = catalog_item_create(
        clinic=clinic, name="Old voucher", price_cents=100, actor=clinic_admin
    )
    retired.is_active = False
    retired.save()
    client.force_login(patient_user)

    response = client.get(reverse("portal-catalog"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "$20.00" in html  # the balance, on top
    assert "Bus pass" in html and "$5.00" in html and "500 points" in html
    assert "3 left" in html
    assert "Phone card" in html and "$10.00" in html
    assert html.count(" left") == 1  # unlimited stock says nothing
    assert "Jumbo radio" not in html  # a prize is won, not bought
    assert "Old voucher" not in html
    assert 'name="idempotency_key"' in html
    assert f'<label for="id_item_{bus_pass.pk}"' in html


def test_a_patient_requests_an_item_and_the_points_are_held_at_once(
    client, funded, patient_user, bus_pass
):
    response = ask(client, patient_user, {bus_pass: 2})

    assert response.status_code == 302
    assert response.url == reverse("portal-redemptions")
    assert balance(funded) == 1000
    assert stock(bus_pass) == 1
    redemption = Redemption.objects.get()
    assert redemption.requested_by == patient_user
    html = client.get(response.url).content.decode()
    assert "Requested: 2 × Bus pass. $10.00 held from your balance." in html
    assert "Waiting for your counselor" in html
    assert "Cancel this request" in html


def test_choosing_nothing_asks_for_an_item_and_writes_nothing(
    client, funded, patient_user, bus_pass
):
    before = written()

    response = ask(client, patient_user, {bus_pass: 0})

    assert response.status_code == 400
    assert "Choose at least one item." in response.content.decode()
    assert written() == before


@pytest.mark.parametrize("quantity", ["100", "2147483648", "1" + "0" * 30])
def test_more_than_99_of_an_item_is_a_form_error_and_writes_nothing(
    client, funded, patient_user, phone_card, quantity
):
    before = written()

    response = ask(client, patient_user, {phone_card: quantity})

    assert response.status_code == 400
    assert "Ensure this value is less than or equal to 99." in response.content.decode()
    assert written() == before


def test_a_quantity_in_digits_other_than_0_to_9_is_a_form_error(
    client, funded, patient_user, phone_card
):
    before = written()

    response = ask(client, patient_user, {phone_card: "٢"})

    assert response.status_code == 400
    assert "Enter a whole number." in response.content.decode()
    assert written() == before


def test_a_request_over_the_balance_is_refused_with_409_and_nothing_held(
    client, funded, patient_user, bus_pass, phone_card
):
    before = written()

    response = ask(client, patient_user, {phone_card: 2, bus_pass: 1})

    assert response.status_code == 409
    assert "This costs 2500 points; the balance is 2000." in response.content.decode()
    assert written() == before
    assert balance(funded) == 2000
    assert stock(bus_pass) == 3


def test_a_request_for_more_than_is_left_is_refused_with_409(
    client, funded, patient_user, bus_pass
):
    before = written()

    response = ask(client, patient_user, {bus_pass: 4})

    assert response.status_code == 409
    assert "Only 3 of Bus pass left." in response.content.decode()
    assert written() == before
    assert stock(bus_pass) == 3


def test_an_empty_cabinet_shows_out_of_stock_and_its_quantity_is_ignored(
    client, funded, patient_user, clinic, clinic_admin, bus_pass
):
    empty = catalog_item_create(
        clinic=clinic, name="Sold-out socks", price_cents=100, stock=0, actor=clinic_admin
    )
    client.force_login(patient_user)
    assert "Out of stock" in client.get(reverse("portal-catalog")).content.decode()

    response = ask(client, patient_user, {empty: 1})

    assert response.status_code == 400
    assert Redemption.objects.count() == 0


def test_sending_the_same_form_twice_charges_once(client, funded, patient_user, bus_pass):
    key = str(uuid.uuid4())

    first = ask(client, patient_user, {bus_pass: 1}, key=key)
    second = ask(client, patient_user, {bus_pass: 1}, key=key)

    assert first.status_code == second.status_code == 302
    assert Redemption.objects.count() == 1
    assert balance(funded) == 1500
    assert stock(bus_pass) == 2


def test_a_patient_cancels_a_waiting_request_and_gets_the_points_back(
    client, funded, patient_user, bus_pass
):
    redemption = requested(funded, patient_user, bus_pass)
    assert balance(funded) == 1500
    client.force_login(patient_user)

    response = client.post(reverse("portal-redemption-cancel", args=[redemption.pk]), follow=True)

    html = response.content.decode()
    assert "Request cancelled. $5.00 is back in your balance." in html
    assert "Cancelled — points returned" in html
    assert balance(funded) == 2000
    assert stock(bus_pass) == 3


def test_a_patient_cannot_cancel_once_approved(client, funded, patient_user, counselor, bus_pass):
    redemption = requested(funded, patient_user, bus_pass)
    redemption_approve(redemption=redemption, actor=counselor)
    client.force_login(patient_user)

    response = client.post(reverse("portal-redemption-cancel", args=[redemption.pk]))

    assert response.status_code == 409
    html = response.content.decode()
    assert "This request cannot be cancelled: it is Approved." in html
    assert "Approved — pick it up at the front desk" in html
    assert balance(funded) == 1500


def test_another_patient_can_neither_see_nor_cancel_the_request(
    client, funded, patient_user, other_patient, bus_pass
):
    redemption = requested(funded, patient_user, bus_pass)
    client.force_login(other_patient.user)

    listing = client.get(reverse("portal-redemptions"))
    cancel = client.post(reverse("portal-redemption-cancel", args=[redemption.pk]))

    assert "Bus pass" not in listing.content.decode()
    assert cancel.status_code == 404
    assert Redemption.objects.get().status == Redemption.Status.REQUESTED


# --- the counselors' queue ---------------------------------------------------------------------


def test_a_counselor_approves_then_hands_over_and_the_patient_sees_it(
    client, funded, patient_user, counselor, bus_pass
):
    redemption = requested(funded, patient_user, bus_pass)
    client.force_login(counselor)
    queue = client.get(reverse("redemptions")).content.decode()
    assert funded.full_name in queue and "1 × Bus pass" in queue
    on_the_clinics_clock = formats.date_format(
        timezone.localtime(redemption.requested_at, funded.clinic.tz), "DATETIME_FORMAT"
    )
    assert f"Requested by the patient, {on_the_clinics_clock}" in queue

    approved = act(client, counselor, redemption, "approve")
    handed = act(client, counselor, redemption, "handover")

    assert approved.status_code == handed.status_code == 302
    redemption.refresh_from_db()
    assert redemption.status == Redemption.Status.HANDED_OVER
    assert redemption.handed_over_by == counselor
    assert "Handed over to" in client.get(reverse("redemptions")).content.decode()
    assert balance(funded) == 1500
    client.force_login(patient_user)
    assert "Handed over on" in client.get(reverse("portal-redemptions")).content.decode()


def test_a_second_click_on_approve_is_a_message_not_an_error(
    client, funded, patient_user, counselor, bus_pass
):
    redemption = requested(funded, patient_user, bus_pass)
    act(client, counselor, redemption, "approve")

    again = act(client, counselor, redemption, "approve")

    assert again.status_code == 409
    assert "This request cannot be approved: it is Approved." in again.content.decode()


def test_an_item_that_costs_more_than_the_balance_says_so_before_asking(
    client, patient, patient_user, counselor, bus_pass, phone_card
):
    credit(patient, 700, counselor)  # $7.00: the $5.00 bus pass, not the $10.00 phone card
    client.force_login(patient_user)

    html = client.get(reverse("portal-catalog")).content.decode()

    bus = html.split(f'for="id_item_{bus_pass.pk}"')[1].split("</li>")[0]
    card = html.split(f'for="id_item_{phone_card.pk}"')[1].split("</li>")[0]
    assert "Not enough points yet" not in bus
    assert "Not enough points yet" in card


def test_the_portal_offers_to_spend_only_when_there_is_something_to_spend(
    client, patient, patient_user, counselor
):
    client.force_login(patient_user)
    assert "See the rewards" in client.get(reverse("portal")).content.decode()

    credit(patient, 500, counselor)

    assert "Spend your points" in client.get(reverse("portal")).content.decode()


def test_cancelling_from_the_queue_asks_first_and_says_the_points_go_back(
    client, funded, patient_user, counselor, bus_pass
):
    requested(funded, patient_user, bus_pass)
    client.force_login(counselor)

    html = client.get(reverse("redemptions")).content.decode()

    cancel = html.split('<details class="cancel">')[1].split("</details>")[0]
    assert "<summary>Cancel</summary>" in cancel
    assert "The request is withdrawn and $5.00 goes back to the patient's balance." in cancel
    assert "Cancel the request</button>" in cancel


def test_handing_over_twice_is_refused_with_a_message(
    client, funded, patient_user, counselor, bus_pass
):
    redemption = requested(funded, patient_user, bus_pass)
    act(client, counselor, redemption, "approve")
    act(client, counselor, redemption, "handover")

    again = act(client, counselor, redemption, "handover")
    cancel = act(client, counselor, redemption, "cancel")

    assert again.status_code == cancel.status_code == 409
    assert "cannot be cancelled: it is Handed over" in cancel.content.decode()
    assert balance(funded) == 1500


def test_a_decline_needs_a_reason_and_then_returns_the_points(
    client, funded, patient_user, counselor, bus_pass
):
    redemption = requested(funded, patient_user, bus_pass)

    without = act(client, counselor, redemption, "decline", reason="  ")

    assert without.status_code == 400
    assert "Say why the request is declined." in without.content.decode()
    assert Redemption.objects.get().status == Redemption.Status.REQUESTED
    assert balance(funded) == 1500

    declined = act(client, counselor, redemption, "decline", reason="Not part of the plan")

    assert declined.status_code == 302
    assert balance(funded) == 2000
    assert stock(bus_pass) == 3
    client.force_login(patient_user)
    html = client.get(reverse("portal-redemptions")).content.decode()
    assert "Declined: Not part of the plan — points returned" in html


def test_a_counselor_cancels_an_approved_request_and_the_points_come_back(
    client, funded, patient_user, counselor, bus_pass
):
    redemption = requested(funded, patient_user, bus_pass)
    act(client, counselor, redemption, "approve")

    response = act(client, counselor, redemption, "cancel")

    assert response.status_code == 302
    assert balance(funded) == 2000


def test_a_counselor_requests_items_for_the_patient(client, funded, counselor, bus_pass):
    url = reverse("patient-redemption-new", args=[funded.pk])
    client.force_login(counselor)
    page = client.get(url).content.decode()
    assert funded.full_name in page and "Bus pass" in page and "$20.00" in page

    response = ask(client, counselor, {bus_pass: 1}, url=url)

    assert response.status_code == 302
    assert response.url == reverse("redemptions")
    redemption = Redemption.objects.get()
    assert redemption.requested_by == counselor
    assert balance(funded) == 1500
    queue = client.get(response.url).content.decode()
    assert "$5.00 held from their balance." in queue
    assert "Requested by casey" in queue


def test_another_clinics_counselor_gets_404(
    client, funded, patient_user, other_counselor, bus_pass
):
    redemption = requested(funded, patient_user, bus_pass)
    client.force_login(other_counselor)

    assert "Bus pass" not in client.get(reverse("redemptions")).content.decode()
    for action in ("approve", "handover", "cancel"):
        assert act(client, other_counselor, redemption, action).status_code == 404
    assert act(client, other_counselor, redemption, "decline", reason="x").status_code == 404
    new = client.get(reverse("patient-redemption-new", args=[funded.pk]))
    assert new.status_code == 404
    assert Redemption.objects.get().status == Redemption.Status.REQUESTED


def test_patients_get_404_on_staff_pages(client, funded, patient_user, bus_pass):
    redemption = requested(funded, patient_user, bus_pass)
    client.force_login(patient_user)

    assert client.get(reverse("redemptions")).status_code == 404
    assert act(client, patient_user, redemption, "approve").status_code == 404
    assert client.get(reverse("patient-redemption-new", args=[funded.pk])).status_code == 404
    assert Redemption.objects.get().status == Redemption.Status.REQUESTED


def test_staff_get_404_on_the_portal_pages(client, counselor):
    client.force_login(counselor)

    assert client.get(reverse("portal-catalog")).status_code == 404
    assert client.get(reverse("portal-redemptions")).status_code == 404


def queue_queries(client, counselor) -> int:
    client.force_login(counselor)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("redemptions"))
    assert response.status_code == 200
    return len(queries)


def test_the_queue_costs_the_same_queries_for_5_or_50_redemptions(
    client, clinic, counselor, clinic_admin, phone_card
):
    def fill(count):
        for n in range(count):
            patient = PatientFactory(clinic=clinic)
            credit(patient, 5000, counselor)
            redemption = redemption_request(
                patient=patient, items=[(phone_card, 1)], requested_by=counselor
            )
            if n % 3 == 1:
                redemption_approve(redemption=redemption, actor=counselor)
            elif n % 3 == 2:
                redemption_decline(redemption=redemption, actor=counselor, reason="Not now")

    fill(5)
    few = queue_queries(client, counselor)
    fill(45)
    many = queue_queries(client, counselor)

    assert few == many
