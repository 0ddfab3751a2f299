"""The clinic administrator's catalog pages: items, restocking, the stock ledger, the month."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from rewards.catalog import catalog_item_create, stock_adjust, stock_receive
from rewards.forms import dollars_to_cents
from rewards.models import CatalogItem, StockMovement
from rewards.redemptions import redemption_approve, redemption_handover, redemption_request
from tests.factories import ClinicFactory, MembershipFactory, UserFactory
from vouchers import adjustments

ITEM = {
    "name": "Bus pass",
    "description": "Seven days",
    "category": "transport",
    "price": "12.50",
    "stock": "5",
    "low_stock_at": "2",
    "prize_tier": "",
    "is_active": "on",
}


@pytest.fixture
def admin_client(client, clinic_admin):
    client.force_login(clinic_admin)
    return client


@pytest.fixture
def bus_pass(clinic, clinic_admin):
    return catalog_item_create(
        clinic=clinic,
        name="Bus pass",
        category="transport",
        price_cents=1250,
        stock=5,
        low_stock_at=2,
        actor=clinic_admin,
    )


def stock_url(item):
    return reverse("catalog-stock", args=[item.pk])


def text(response) -> str:
    return response.content.decode()


# --- adding and editing ---------------------------------------------------------------------------


def test_an_admin_adds_an_item_priced_in_dollars_with_its_opening_stock(admin_client, clinic):
    response = admin_client.post(reverse("catalog-add"), ITEM)

    assert response.status_code == 302
    item = CatalogItem.objects.get(clinic=clinic)
    assert (item.name, item.price_cents, item.stock, item.category) == (
        "Bus pass",
        1250,
        5,
        "transport",
    )
    opening = item.movements.get()
    assert (opening.kind, opening.quantity, opening.by.username) == ("received", 5, "ada")
    page = text(admin_client.get(response.url))
    assert "Bus pass" in page and "$12.50" in page and "1250" in page


def test_an_unlimited_item_needs_no_stock_and_has_no_stock_ledger(admin_client, clinic):
    data = {**ITEM, "name": "Phone minutes", "stock": "", "unlimited": "on"}

    admin_client.post(reverse("catalog-add"), data)

    item = CatalogItem.objects.get(name="Phone minutes")
    assert item.stock is None and not item.movements.exists()
    assert "unlimited" in text(admin_client.get(reverse("catalog")))


def test_an_item_without_stock_or_unlimited_is_refused(admin_client):
    response = admin_client.post(reverse("catalog-add"), {**ITEM, "stock": ""})

    assert response.status_code == 400
    assert "Give the opening stock, or tick unlimited." in text(response)
    assert not CatalogItem.objects.exists()


@pytest.mark.parametrize("price", ["abc", "-1", "1.234", "", "NaN", "1e3", "12.", "$"])
def test_a_bad_price_is_a_form_error_and_nothing_is_saved(admin_client, price):
    response = admin_client.post(reverse("catalog-add"), {**ITEM, "price": price})

    assert response.status_code == 400
    assert 'aria-invalid="true"' in text(response)
    assert not CatalogItem.objects.exists()
    assert not StockMovement.objects.exists()


@pytest.mark.parametrize(
    ("typed", "cents"),
    [("12.50", 1250), ("12.5", 1250), ("12", 1200), ("$1,234.05", 123405), (".99", 99), ("0", 0)],
)
def test_prices_typed_in_dollars_become_exact_cents(typed, cents):
    assert dollars_to_cents(typed) == cents


@pytest.mark.parametrize(
    "price",
    ["١٢", "۱۲.۵۰", "１２", "१२", "1٢.50", "12.٥0", "12\u00a0000"],
    ids=["arabic", "persian", "fullwidth", "devanagari", "mixed", "mixed cents", "nbsp"],
)
def test_a_price_in_digits_other_than_0_to_9_is_a_form_error(admin_client, price):
    # Python reads "١٢" as 12, so it was saved as $12.00: the form shows only 0-9.
    response = admin_client.post(reverse("catalog-add"), {**ITEM, "price": price})

    assert response.status_code == 400
    assert "Give the price in dollars and cents, for example 12.50." in text(response)
    assert not CatalogItem.objects.exists()


@pytest.mark.parametrize("field", ["stock", "low_stock_at"])
def test_a_count_in_digits_other_than_0_to_9_is_a_form_error(admin_client, field):
    response = admin_client.post(reverse("catalog-add"), {**ITEM, field: "٥"})

    assert response.status_code == 400
    assert "Enter a whole number." in text(response)
    assert not CatalogItem.objects.exists()


def test_a_description_over_1000_characters_is_a_form_error(admin_client):
    response = admin_client.post(reverse("catalog-add"), {**ITEM, "description": "x" * 1001})

    assert response.status_code == 400
    assert "Ensure this value has at most 1000 characters (it has 1001)." in text(response)
    assert not CatalogItem.objects.exists()


def test_a_description_of_1000_characters_is_kept_whole(admin_client):
    response = admin_client.post(reverse("catalog-add"), {**ITEM, "description": "x" * 1000})

    assert response.status_code == 302
    assert CatalogItem.objects.get().description == "x" * 1000


def test_an_admin_adds_an_item_with_a_picture(admin_client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    gif = (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
        b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )
    picture = SimpleUploadedFile("pass.gif", gif, content_type="image/gif")

    response = admin_client.post(reverse("catalog-add"), {**ITEM, "image": picture})

    assert response.status_code == 302
    item = CatalogItem.objects.get()
    assert item.image.name.startswith("catalog/pass")
    assert item.movements.count() == 1  # the picture moved no stock


def test_a_file_that_is_not_a_picture_is_refused(admin_client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile("pass.gif", b"not a picture", content_type="image/gif")

    response = admin_client.post(reverse("catalog-add"), {**ITEM, "image": upload})

    assert response.status_code == 400
    assert not CatalogItem.objects.exists()


def test_an_admin_edits_an_item_and_retires_it(admin_client, bus_pass):
    url = reverse("catalog-edit", args=[bus_pass.pk])
    form = admin_client.get(url)
    assert 'value="12.50"' in text(form)

    data = {**ITEM, "name": "Bus pass (monthly)", "price": "45", "stock": "99"}
    del data["is_active"]  # unticked: retired
    response = admin_client.post(url, data)

    assert response.status_code == 302
    bus_pass.refresh_from_db()
    assert (bus_pass.name, bus_pass.price_cents, bus_pass.is_active) == (
        "Bus pass (monthly)",
        4500,
        False,
    )
    assert bus_pass.stock == 5  # stock is never edited here
    assert "Retired" in text(admin_client.get(reverse("catalog")))


def test_a_bad_price_on_edit_changes_nothing(admin_client, bus_pass):
    response = admin_client.post(
        reverse("catalog-edit", args=[bus_pass.pk]), {**ITEM, "price": "1.234"}
    )

    assert response.status_code == 400
    bus_pass.refresh_from_db()
    assert bus_pass.price_cents == 1250


# --- stock ----------------------------------------------------------------------------------------


def test_an_admin_restocks_and_the_ledger_shows_it(admin_client, bus_pass):
    response = admin_client.post(
        stock_url(bus_pass), {"action": "receive", "receive-quantity": "3", "receive-reason": ""}
    )

    assert response.status_code == 302
    bus_pass.refresh_from_db()
    assert bus_pass.stock == 8
    page = text(admin_client.get(stock_url(bus_pass)))
    assert "Bus pass: stock is now 8." in page
    assert "Stock now 8 = sum of movements (8)." in page
    assert page.count("Received") == 2


def test_an_adjustment_with_a_reason_is_recorded(admin_client, bus_pass):
    response = admin_client.post(
        stock_url(bus_pass),
        {"action": "adjust", "adjust-quantity": "-1", "adjust-reason": "Dropped in the rain"},
    )

    assert response.status_code == 302
    bus_pass.refresh_from_db()
    assert bus_pass.stock == 4
    page = text(admin_client.get(stock_url(bus_pass)))
    assert "Dropped in the rain" in page and "Adjusted" in page and "ada" in page
    assert "Stock now 4 = sum of movements (4)." in page


def test_an_adjustment_without_a_reason_is_refused_and_nothing_changes(admin_client, bus_pass):
    response = admin_client.post(
        stock_url(bus_pass), {"action": "adjust", "adjust-quantity": "-1", "adjust-reason": " "}
    )

    assert response.status_code == 400
    assert "This field is required." in text(response)
    bus_pass.refresh_from_db()
    assert bus_pass.stock == 5
    assert bus_pass.movements.count() == 1


def test_an_adjustment_in_other_digits_or_with_a_2_mb_reason_is_refused(admin_client, bus_pass):
    digits = admin_client.post(
        stock_url(bus_pass),
        {"action": "adjust", "adjust-quantity": "-١", "adjust-reason": "Counted"},
    )
    long = admin_client.post(
        stock_url(bus_pass),
        {"action": "adjust", "adjust-quantity": "-1", "adjust-reason": "x" * 2_000_000},
    )

    assert (digits.status_code, long.status_code) == (400, 400)
    assert "Enter a whole number." in text(digits)
    assert "Ensure this value has at most 500 characters (it has 2000000)." in text(long)
    bus_pass.refresh_from_db()
    assert bus_pass.stock == 5 and bus_pass.movements.count() == 1


def test_an_adjustment_below_zero_shows_the_conflict(admin_client, bus_pass):
    response = admin_client.post(
        stock_url(bus_pass),
        {"action": "adjust", "adjust-quantity": "-6", "adjust-reason": "Counted"},
    )

    assert response.status_code == 409
    assert "Only 5 in stock; it cannot go below zero." in text(response)
    bus_pass.refresh_from_db()
    assert bus_pass.stock == 5 and bus_pass.movements.count() == 1


def test_an_unlimited_item_offers_no_restocking(admin_client, clinic, clinic_admin):
    minutes = catalog_item_create(
        clinic=clinic, name="Phone minutes", price_cents=1000, actor=clinic_admin
    )

    page = text(admin_client.get(stock_url(minutes)))

    assert "Unlimited: this item is not counted." in page
    assert "receive-quantity" not in page
    response = admin_client.post(
        stock_url(minutes), {"action": "receive", "receive-quantity": "3"}, follow=True
    )
    assert "This item has unlimited stock; there is nothing to count." in text(response)
    assert not minutes.movements.exists()


def test_the_ledger_links_a_redemption_to_its_patient(admin_client, bus_pass, patient, counselor):
    adjustments.ledger_adjust(patient=patient, amount_cents=5000, reason="credit", actor=counselor)
    redemption = redemption_request(patient=patient, items=[(bus_pass, 2)], requested_by=counselor)

    page = text(admin_client.get(stock_url(bus_pass)))

    assert f"Redemption #{redemption.pk}" in page
    assert reverse("patient-detail", args=[patient.pk]) in page
    assert "Stock now 3 = sum of movements (3)." in page


# --- the catalog page -----------------------------------------------------------------------------


def test_a_low_stock_item_shows_in_the_warning_box(admin_client, bus_pass, clinic, clinic_admin):
    catalog_item_create(clinic=clinic, name="Socks", price_cents=300, stock=40, actor=clinic_admin)
    stock_adjust(item=bus_pass, quantity=-3, reason="Counted", actor=clinic_admin)

    page = text(admin_client.get(reverse("catalog")))

    box = page.split('id="low-stock-heading"')[1].split("</section>")[0]
    assert "Bus pass" in box and "2 left" in box
    assert "Socks" not in box


def test_no_warning_box_when_stock_is_fine(admin_client, bus_pass):
    assert "low-stock-heading" not in text(admin_client.get(reverse("catalog")))


def test_the_catalog_costs_the_same_queries_for_5_and_50_items(admin_client, clinic):
    def count(n):
        CatalogItem.objects.bulk_create(
            CatalogItem(clinic=clinic, name=f"Item {i}", price_cents=100, stock=i % 3)
            for i in range(n - CatalogItem.objects.count())
        )
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(reverse("catalog"))
        assert response.status_code == 200
        return len(queries)

    assert count(5) == count(50)


# --- the monthly reconciliation -------------------------------------------------------------------


def test_the_reconciliation_shows_the_month(admin_client, bus_pass, patient, counselor, clinic):
    restocker = UserFactory(username="rita", first_name="Rita", last_name="Restock")
    MembershipFactory(user=restocker, clinic=clinic, role="admin")
    stock_receive(item=bus_pass, quantity=3, actor=restocker)
    stock_adjust(item=bus_pass, quantity=-1, reason="Torn", actor=restocker)
    adjustments.ledger_adjust(patient=patient, amount_cents=5000, reason="credit", actor=counselor)
    redemption = redemption_request(patient=patient, items=[(bus_pass, 2)], requested_by=counselor)
    redemption_handover(
        redemption=redemption_approve(redemption=redemption, actor=counselor), actor=counselor
    )

    response = admin_client.get(reverse("catalog-reconciliation"))

    assert response.status_code == 200
    page = text(response)
    row = page.split('<th scope="row">Bus pass')[1].split("</tr>")[0]
    cells = [c.split("<")[0] for c in row.split('<td class="num">')[1:]]
    # opening 0, received 5 + 3, issued 2, adjusted -1, closing 5, value 2 × $12.50
    assert cells == ["0", "8", "2", "-1", "5", "$25.00"]
    assert "casey" in row and "Rita Restock" in row and "ada" in row
    month = timezone.localtime(timezone.now(), clinic.tz).strftime("%B")
    assert month in page


def test_a_past_month_before_anything_happened_is_empty(admin_client, bus_pass):
    page = text(admin_client.get(reverse("catalog-reconciliation"), {"year": 2020, "month": 1}))

    assert "January 2020" in page
    assert "year=2019&amp;month=12" in page  # previous month
    assert "year=2020&amp;month=2" in page  # next month


@pytest.mark.parametrize("query", [{"year": "abc", "month": "1"}, {"year": "2026", "month": "13"}])
def test_a_bad_month_shows_the_current_month_with_an_error(admin_client, query):
    response = admin_client.get(reverse("catalog-reconciliation"), query)

    assert response.status_code == 200
    assert 'aria-invalid="true"' in text(response)


# --- who may come in ------------------------------------------------------------------------------


def every_page(item):
    """Each catalog page, about the item's clinic."""
    ours = f"?clinic={item.clinic_id}"
    return [
        reverse("catalog") + ours,
        reverse("catalog-add") + ours,
        reverse("catalog-edit", args=[item.pk]),
        reverse("catalog-stock", args=[item.pk]),
        reverse("catalog-reconciliation") + ours,
    ]


@pytest.mark.parametrize("who", ["counselor", "patient_user", "other_admin"])
def test_only_the_clinics_administrators_get_in(client, request, bus_pass, other_clinic, who):
    if who == "other_admin":
        user = UserFactory(username="otis")
        MembershipFactory(user=user, clinic=other_clinic, role="admin")
    else:
        user = request.getfixturevalue(who)
    client.force_login(user)

    for url in every_page(bus_pass):
        assert client.get(url).status_code == 404, url
    for url in every_page(bus_pass)[1:4]:
        data = {**ITEM, "action": "receive", "receive-quantity": "3"}
        assert client.post(url, data).status_code == 404, url
    bus_pass.refresh_from_db()
    assert bus_pass.stock == 5 and bus_pass.name == "Bus pass"
    assert CatalogItem.objects.count() == 1


def test_another_clinics_admin_sees_only_their_own_catalog(client, bus_pass, other_clinic):
    user = UserFactory(username="otis")
    MembershipFactory(user=user, clinic=other_clinic, role="admin")
    client.force_login(user)

    page = text(client.get(reverse("catalog")))

    assert "Hillside Health" in page and "Bus pass" not in page


def test_signed_out_visitors_are_sent_to_sign_in(client, bus_pass):
    response = client.get(reverse("catalog"))

    assert response.status_code == 302 and reverse("login") in response.url


def test_an_admin_of_two_clinics_chooses_between_them(client, bus_pass, clinic_admin):
    second = ClinicFactory(name="Lakeside", slug="lakeside")
    MembershipFactory(user=clinic_admin, clinic=second, role="admin")
    client.force_login(clinic_admin)

    lakeside = text(client.get(reverse("catalog"), {"clinic": second.pk}))
    riverside = text(client.get(reverse("catalog"), {"clinic": bus_pass.clinic_id}))

    assert "Bus pass" not in lakeside and "Bus pass" in riverside
    client.post(reverse("catalog-add") + f"?clinic={second.pk}", {**ITEM, "name": "Lake towel"})
    assert CatalogItem.objects.get(name="Lake towel").clinic == second
    assert client.get(reverse("catalog"), {"clinic": 99999}).status_code == 404
