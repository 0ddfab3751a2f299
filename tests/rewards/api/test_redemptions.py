import pytest

from rewards import redemptions
from rewards.models import CatalogItem, Redemption
from vouchers.models import LedgerEntry

pytestmark = pytest.mark.django_db

URL = "/api/v1/redemptions/"


@pytest.fixture
def bus_pass(clinic):
    return CatalogItem.objects.create(clinic=clinic, name="Bus pass", price_cents=100, stock=2)


@pytest.fixture
def requested(patient, bus_pass, counselor, negative):
    return redemptions.redemption_request(
        patient=patient, items=[(bus_pass, 1)], requested_by=counselor
    )


def _ask(item, quantity=1, **extra):
    return {"items": [{"item": item.id, "quantity": quantity}], **extra}


def test_a_patient_redeems_via_the_api_and_the_balance_shows_the_hold(
    api, patient_user, patient, bus_pass, negative
):
    client = api(patient_user)

    response = client.post(URL, _ask(bus_pass, 2), format="json")

    assert response.status_code == 201
    body = response.json()
    assert (body["patient"], body["status"], body["total_cents"]) == (patient.id, "requested", 200)
    assert body["lines"] == [
        {"item": bus_pass.id, "name": "Bus pass", "quantity": 2, "price_cents": 100}
    ]
    assert body["requested_by"] == patient_user.id
    balance = client.get(f"/api/v1/patients/{patient.id}/balance/").json()
    assert (balance["held_cents"], balance["balance_cents"]) == (200, 50)


def test_staff_must_say_which_patient(api, counselor, bus_pass, negative):
    response = api(counselor).post(URL, _ask(bus_pass), format="json")

    assert response.status_code == 400
    assert "patient" in response.json()


def test_a_patient_cannot_redeem_for_another_patient(api, patient_user, other_patient, bus_pass):
    response = api(patient_user).post(URL, _ask(bus_pass, patient=other_patient.id), format="json")

    assert response.status_code == 400
    assert "patient" in response.json()
    assert not Redemption.objects.exists()


def test_an_overspend_is_a_409_with_its_message(api, counselor, patient, clinic, negative):
    tablet = CatalogItem.objects.create(clinic=clinic, name="Tablet", price_cents=5000)

    response = api(counselor).post(URL, _ask(tablet, patient=patient.id), format="json")

    assert response.status_code == 409
    assert "balance" in response.json()
    assert response.json()["detail"]
    assert not Redemption.objects.exists()


def test_more_than_the_stock_is_a_409(api, counselor, patient, clinic, negative):
    stamp = CatalogItem.objects.create(clinic=clinic, name="Stamp", price_cents=10, stock=2)

    response = api(counselor).post(URL, _ask(stamp, 3, patient=patient.id), format="json")

    assert response.status_code == 409
    assert "stock" in response.json()


def test_an_item_of_another_clinic_is_a_400(api, counselor, patient, other_clinic, negative):
    theirs = CatalogItem.objects.create(clinic=other_clinic, name="Theirs", price_cents=1)

    response = api(counselor).post(URL, _ask(theirs, patient=patient.id), format="json")

    assert response.status_code == 400
    assert "items" in response.json()


def test_no_items_is_a_400(api, patient_user, negative):
    response = api(patient_user).post(URL, {"items": []}, format="json")

    assert response.status_code == 400
    assert "items" in response.json()


def test_the_same_idempotency_key_charges_once(api, counselor, patient, bus_pass, negative):
    client = api(counselor)
    payload = _ask(bus_pass, patient=patient.id, idempotency_key="kiosk-1")

    first = client.post(URL, payload, format="json")
    again = client.post(URL, payload, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Redemption.objects.count() == 1
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REDEEM).count() == 1


def test_staff_approve_and_hand_over(api, counselor, requested):
    client = api(counselor)

    approved = client.post(f"{URL}{requested.id}/approve/")
    handed = client.post(f"{URL}{requested.id}/handover/")

    assert approved.status_code == handed.status_code == 200
    assert approved.json()["status"] == "approved"
    assert approved.json()["decided_by"] == counselor.id
    assert handed.json()["status"] == "handed_over"
    assert handed.json()["handed_over_at"]


def test_a_double_approve_is_a_409(api, counselor, requested):
    client = api(counselor)

    first = client.post(f"{URL}{requested.id}/approve/")
    again = client.post(f"{URL}{requested.id}/approve/")

    assert (first.status_code, again.status_code) == (200, 409)
    assert "status" in again.json()


def test_a_handover_before_approval_is_a_409(api, counselor, requested):
    assert api(counselor).post(f"{URL}{requested.id}/handover/").status_code == 409


def test_a_decline_refunds_the_points_and_the_stock(api, counselor, patient, bus_pass, requested):
    client = api(counselor)

    response = client.post(f"{URL}{requested.id}/decline/", {"reason": "Not now"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "declined"
    assert response.json()["decision_reason"] == "Not now"
    balance = client.get(f"/api/v1/patients/{patient.id}/balance/").json()
    assert (balance["balance_cents"], balance["held_cents"]) == (250, 0)
    bus_pass.refresh_from_db()
    assert bus_pass.stock == 2


def test_a_decline_without_a_reason_is_a_400(api, counselor, requested):
    response = api(counselor).post(f"{URL}{requested.id}/decline/", {}, format="json")

    assert response.status_code == 400
    assert "reason" in response.json()
    requested.refresh_from_db()
    assert requested.status == "requested"


def test_a_decline_reason_over_500_characters_is_a_400(api, counselor, requested):
    response = api(counselor).post(
        f"{URL}{requested.id}/decline/", {"reason": "x" * 501}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"reason": ["Ensure this field has no more than 500 characters."]}
    requested.refresh_from_db()
    assert requested.status == "requested"


def test_a_patient_cancels_their_own_waiting_request(api, patient_user, requested):
    response = api(patient_user).post(f"{URL}{requested.id}/cancel/")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"


def test_a_patient_cannot_cancel_once_approved(api, patient_user, counselor, requested):
    api(counselor).post(f"{URL}{requested.id}/approve/")

    assert api(patient_user).post(f"{URL}{requested.id}/cancel/").status_code == 409


def test_a_patient_cannot_approve_their_own_request(api, patient_user, requested):
    assert api(patient_user).post(f"{URL}{requested.id}/approve/").status_code == 403


def test_another_patient_cannot_cancel_it_nor_see_it(api, other_patient, requested):
    client = api(other_patient.user)

    assert client.post(f"{URL}{requested.id}/cancel/").status_code == 404
    assert client.get(URL).json()["count"] == 0


def test_the_list_is_scoped_and_filtered(api, counselor, other_counselor, patient_user, requested):
    assert api(counselor).get(f"{URL}?status=requested").json()["count"] == 1
    assert api(counselor).get(f"{URL}?status=approved").json()["count"] == 0
    assert api(patient_user).get(URL).json()["count"] == 1
    assert api(other_counselor).get(URL).json()["count"] == 0


def test_filtering_by_a_patient_id_leaks_nothing(api, counselor, patient, requested):
    client = api(counselor)

    assert client.get(f"{URL}?patient={patient.id}").json()["count"] == 1
    missing = client.get(f"{URL}?patient=999999")
    assert (missing.status_code, missing.json()["count"]) == (200, 0)


def test_two_lines_of_one_item_are_added_up_and_over_99_is_a_400(
    api, counselor, patient, bus_pass, negative
):
    # Each line alone is a number the database can hold; their sum is not (it was a 500).
    line = {"item": bus_pass.id, "quantity": 2_147_483_647}
    body = {"patient": patient.id, "items": [line, line]}

    response = api(counselor).post(URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["items"]
    assert not Redemption.objects.exists()


def test_two_lines_of_one_item_within_99_each_but_over_it_together_are_a_400(
    api, counselor, patient, clinic, negative
):
    pencil = CatalogItem.objects.create(clinic=clinic, name="Pencil", price_cents=0)
    line = {"item": pencil.id, "quantity": 50}

    response = api(counselor).post(
        URL, {"patient": patient.id, "items": [line, line]}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"items": ["At most 99 of one item in one request."]}
    assert not Redemption.objects.exists()


@pytest.mark.parametrize("quantity", [100, 2_147_483_648, 10**30])
def test_a_huge_quantity_is_a_400_on_its_line(
    api, counselor, patient, bus_pass, negative, quantity
):
    response = api(counselor).post(URL, _ask(bus_pass, quantity, patient=patient.id), format="json")

    assert response.status_code == 400
    assert response.json() == {
        "items": {"0": {"quantity": ["Ensure this value is less than or equal to 99."]}}
    }
    assert not Redemption.objects.exists()


def test_99_of_one_item_is_accepted(api, counselor, patient, clinic, negative):
    pencil = CatalogItem.objects.create(clinic=clinic, name="Pencil", price_cents=0)
    lines = [{"item": pencil.id, "quantity": 90}, {"item": pencil.id, "quantity": 9}]

    response = api(counselor).post(URL, {"patient": patient.id, "items": lines}, format="json")

    assert response.status_code == 201
    assert response.json()["lines"][0]["quantity"] == 99
