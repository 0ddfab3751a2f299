import pytest

from rewards.models import CatalogItem

pytestmark = pytest.mark.django_db

URL = "/api/v1/catalog/"


@pytest.fixture
def shelf(clinic, other_clinic):
    return {
        "bus": CatalogItem.objects.create(
            clinic=clinic, name="Bus pass", category="transport", price_cents=200, stock=3
        ),
        "soap": CatalogItem.objects.create(
            clinic=clinic, name="Soap", category="hygiene", price_cents=100
        ),
        "prize": CatalogItem.objects.create(
            clinic=clinic, name="Headphones", price_cents=2000, stock=1, prize_tier="large"
        ),
        "retired": CatalogItem.objects.create(
            clinic=clinic, name="Old card", price_cents=100, is_active=False
        ),
        "elsewhere": CatalogItem.objects.create(
            clinic=other_clinic, name="Their pass", price_cents=100
        ),
    }


def _names(response) -> list[str]:
    assert response.status_code == 200
    return sorted(item["name"] for item in response.json()["results"])


def test_a_patient_sees_their_clinics_active_items_that_are_not_prizes(api, patient_user, shelf):
    assert _names(api(patient_user).get(URL)) == ["Bus pass", "Soap"]


def test_staff_see_every_active_item_prizes_included(api, counselor, shelf):
    assert _names(api(counselor).get(URL)) == ["Bus pass", "Headphones", "Soap"]


def test_another_clinics_counselor_sees_only_their_own_catalog(api, other_counselor, shelf):
    assert _names(api(other_counselor).get(URL)) == ["Their pass"]


def test_the_catalog_filters_by_category_and_prize_tier(api, counselor, shelf):
    client = api(counselor)

    assert _names(client.get(f"{URL}?category=transport")) == ["Bus pass"]
    assert _names(client.get(f"{URL}?prize_tier=large")) == ["Headphones"]


def test_an_item_says_its_price_stock_and_that_it_has_no_image(api, counselor, shelf):
    results = api(counselor).get(f"{URL}?ordering=price_cents").json()["results"]

    soap = next(item for item in results if item["name"] == "Soap")
    assert soap["stock"] is None  # unlimited
    assert soap["image"] is None
    assert soap["price_cents"] == 100
    assert set(soap) >= {"id", "description", "category", "prize_tier"}
    assert [item["price_cents"] for item in results] == [100, 200, 2000]
