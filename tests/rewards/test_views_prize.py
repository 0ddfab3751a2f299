"""The prize draws page: the counselor runs the patient's draws on the screen, reads out each slip,
and hands over a prize of each tier won from the clinic's cabinet."""

import random
import re
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rewards import catalog, prizes
from rewards.models import CatalogItem, PrizeDraw, StockMovement
from tests.conftest import at
from tests.factories import EnrollmentFactory, PatientFactory, preset_protocol
from vouchers import protocols, recording
from vouchers.models import Wallet

MONDAY = date(2026, 1, 5)
NEGATIVE = dict.fromkeys(["cocaine", "amphetamine", "methamphetamine"], "negative")
# Slip numbers in the standard 500-slip bowl.
GOOD_JOB, SMALL, LARGE, JUMBO = 0, 250, 459, 499


class Slips:
    """Stands in for secrets.SystemRandom: draws the given slip numbers in turn."""

    slips: list[int] = []

    def randrange(self, n):
        assert n == 500
        return Slips.slips.pop(0)


@pytest.fixture
def bowl(monkeypatch):
    """Rig the bowl: `bowl(SMALL, GOOD_JOB)` makes the next draws come out in that order."""
    monkeypatch.setattr(prizes.secrets, "SystemRandom", Slips)

    def rig(*slips):
        Slips.slips = list(slips)

    return rig


@pytest.fixture
def fishbowl(patient):
    return EnrollmentFactory(
        patient=patient, protocol=preset_protocol("va-prize"), start_date=MONDAY
    )


def negatives(patient, counselor, n):
    """n consecutive negatives, Monday and Thursday: 1 + 2 + ... + n draws."""
    day = MONDAY
    for _ in range(n):
        recording.specimen_record(
            patient=patient,
            collected_at=at(patient.clinic, day),
            results=NEGATIVE,
            recorded_by=counselor,
        )
        day += timedelta(days=3 if day.weekday() == 0 else 4)


def prize_item(clinic, admin, name, tier="small", stock=3):
    return catalog.catalog_item_create(
        clinic=clinic, name=name, price_cents=100, stock=stock, prize_tier=tier, actor=admin
    )


def draws_url(patient):
    return reverse("prize-draws", args=[patient.pk])


def draw_key(response) -> str:
    return re.search(r'name="idempotency_key" value="([^"]+)"', response.text).group(1)


def press_draw(client, patient, key=None, count=None, **headers):
    page = client.get(draws_url(patient))
    data = {
        "idempotency_key": key or draw_key(page),
        "count": count or Wallet.objects.get(patient=patient).draws_available,
    }
    return client.post(draws_url(patient), data, follow=True, **headers)


def claim(client, draw, item, drawn=""):
    return client.post(
        reverse("prize-claim", args=[draw.pk]), {"item": item.pk, "drawn": drawn}, follow=True
    )


def wallet(patient) -> Wallet:
    return Wallet.objects.get(patient=patient)


# --- drawing -------------------------------------------------------------------------------------


def test_the_page_shows_the_draws_available_and_a_button_to_draw_them(
    client, counselor, patient, fishbowl
):
    negatives(patient, counselor, 2)  # 1 + 2 draws
    client.force_login(counselor)

    response = client.get(draws_url(patient))

    assert response.status_code == 200
    assert "Draw 3 slips" in response.text
    assert "No draws yet." in response.text
    assert "Can still be won this year" not in response.text  # the preset sets no cap


def test_drawing_shows_each_slip_and_uses_the_draws(client, counselor, patient, fishbowl, bowl):
    negatives(patient, counselor, 2)
    bowl(SMALL, GOOD_JOB, LARGE)
    client.force_login(counselor)

    response = press_draw(client, patient)

    assert response.status_code == 200
    results = response.text.split('id="draw-results"')[1].split("Every draw")[0]
    assert "Small prize · $1.00" in results
    assert "Large prize · $20.00" in results
    assert "Good job!" in results
    assert wallet(patient).draws_available == 0
    assert [d.tier for d in PrizeDraw.objects.order_by("id")] == ["small", "good job", "large"]
    assert "No draws to make right now" in response.text
    assert "Draw 3 slips" not in response.text


def test_a_double_click_with_the_same_key_draws_once(client, counselor, patient, fishbowl, bowl):
    negatives(patient, counselor, 1)
    bowl(SMALL)
    client.force_login(counselor)
    key = draw_key(client.get(draws_url(patient)))

    first = client.post(draws_url(patient), {"idempotency_key": key, "count": 1})
    second = client.post(draws_url(patient), {"idempotency_key": key, "count": 1})

    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert PrizeDraw.objects.count() == 1
    assert "Small prize · $1.00" in client.get(second["Location"]).text


def test_with_htmx_the_button_swaps_in_the_results_alone(
    client, counselor, patient, fishbowl, bowl
):
    negatives(patient, counselor, 1)
    bowl(LARGE)
    client.force_login(counselor)
    key = draw_key(client.get(draws_url(patient)))

    response = client.post(
        draws_url(patient), {"idempotency_key": key, "count": 1}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert "<html" not in response.text
    assert "Large prize · $20.00" in response.text
    assert response["HX-Push-Url"].endswith(f"?drawn={key}")


def test_a_good_job_slip_is_a_kind_word_with_nothing_to_claim(
    client, counselor, clinic_admin, patient, fishbowl, bowl
):
    prize_item(patient.clinic, clinic_admin, "Bus pass")
    negatives(patient, counselor, 1)
    bowl(GOOD_JOB)
    client.force_login(counselor)

    response = press_draw(client, patient)

    assert "Good job!" in response.text
    assert "Choose a prize" not in response.text
    assert "Bus pass" not in response.text


def test_no_draws_left_says_so_and_draws_nothing(client, counselor, patient, fishbowl, bowl):
    negatives(patient, counselor, 1)
    bowl(SMALL)
    client.force_login(counselor)
    stale = client.get(draws_url(patient))
    press_draw(client, patient)

    response = client.post(draws_url(patient), {"idempotency_key": draw_key(stale), "count": 1})

    assert response.status_code == 409
    assert "This patient has no draws to make." in response.text
    assert PrizeDraw.objects.count() == 1


def test_a_voucher_patient_gets_a_clear_message_and_no_button(
    client, counselor, patient, enrollment
):
    client.force_login(counselor)

    response = client.get(draws_url(patient))

    assert response.status_code == 200
    assert "not on a prize protocol" in response.text
    assert "idempotency_key" not in response.text

    posted = client.post(
        draws_url(patient), {"idempotency_key": "0b0e7c1e-3c5d-4a57-9a3c-2f4f7a1d2e3b", "count": 1}
    )
    assert posted.status_code == 400
    assert "not enrolled in a prize protocol" in posted.text
    assert not PrizeDraw.objects.exists()


def test_a_capped_draw_says_so_and_what_can_still_be_won(client, counselor, patient, bowl):
    protocol = protocols.protocol_new_version(protocol=preset_protocol("va-prize"))
    protocol.year_cap_cents = 1000
    protocol.save()
    EnrollmentFactory(patient=patient, protocol=protocol, start_date=MONDAY)
    negatives(patient, counselor, 1)
    bowl(LARGE)
    client.force_login(counselor)
    assert "Can still be won this year: $10.00" in client.get(draws_url(patient)).text

    response = press_draw(client, patient)

    assert "Small prize · $1.00" in response.text
    assert "Capped: the yearly limit left room only for this." in response.text
    assert "Can still be won this year: $9.00" in response.text


# --- handing over a prize ------------------------------------------------------------------------


def test_a_small_win_offers_the_small_prizes_in_stock_and_claiming_takes_one(
    client, counselor, clinic_admin, patient, fishbowl, bowl
):
    bus = prize_item(patient.clinic, clinic_admin, "Bus pass", stock=3)
    prize_item(patient.clinic, clinic_admin, "Sold out socks", stock=0)
    prize_item(patient.clinic, clinic_admin, "Phone card", tier="large")
    negatives(patient, counselor, 1)
    bowl(SMALL)
    client.force_login(counselor)

    drawn = press_draw(client, patient)
    assert "Choose a prize" in drawn.text
    assert "Bus pass" in drawn.text
    assert "Sold out socks" not in drawn.text and "Phone card" not in drawn.text

    draw = PrizeDraw.objects.get()
    drawn_key = re.search(r'name="drawn" value="([^"]+)"', drawn.text).group(1)
    response = claim(client, draw, bus, drawn=drawn_key)

    assert response.status_code == 200
    assert "Bus pass handed over; stock now 2." in response.text
    bus.refresh_from_db()
    assert bus.stock == 2
    draw.refresh_from_db()
    assert (draw.claimed_item, draw.claimed_by) == (bus, counselor)
    assert "Choose a prize" not in response.text
    assert "Handed over: Bus pass" in response.text  # the slips just drawn stay on screen
    history = response.text.split("Every draw")[1]
    assert "Bus pass" in history and "casey" in history


def test_a_prize_not_claimed_at_once_can_be_picked_later(
    client, counselor, clinic_admin, patient, fishbowl, bowl
):
    prize_item(patient.clinic, clinic_admin, "Bus pass")
    negatives(patient, counselor, 1)
    bowl(SMALL)
    client.force_login(counselor)
    press_draw(client, patient)

    later = client.get(draws_url(patient))

    unclaimed = later.text.split("Prizes won, not yet handed over")[1].split("Every draw")[0]
    assert "Small prize · $1.00" in unclaimed and "Bus pass" in unclaimed


def test_a_win_with_nothing_of_its_tier_in_stock_says_restock(
    client, counselor, clinic_admin, patient, fishbowl, bowl
):
    prize_item(patient.clinic, clinic_admin, "Bus pass", stock=0)
    negatives(patient, counselor, 1)
    bowl(SMALL)
    client.force_login(counselor)

    response = press_draw(client, patient)

    assert "No small prizes in stock" in response.text
    assert "Choose a prize" not in response.text


def test_claiming_an_item_of_the_wrong_tier_changes_nothing(
    client, counselor, clinic_admin, patient, fishbowl, bowl
):
    phone = prize_item(patient.clinic, clinic_admin, "Phone card", tier="large")
    negatives(patient, counselor, 1)
    bowl(SMALL)
    client.force_login(counselor)
    press_draw(client, patient)
    draw = PrizeDraw.objects.get()

    response = client.post(reverse("prize-claim", args=[draw.pk]), {"item": phone.pk})

    assert response.status_code == 400
    assert "Choose an item of the tier won: Small." in response.text
    draw.refresh_from_db()
    phone.refresh_from_db()
    assert draw.claimed_item is None and phone.stock == 3
    assert not StockMovement.objects.filter(kind="issued").exists()


def test_claiming_an_item_out_of_stock_changes_nothing(
    client, counselor, clinic_admin, patient, fishbowl, bowl
):
    bus = prize_item(patient.clinic, clinic_admin, "Bus pass", stock=1)
    negatives(patient, counselor, 1)
    bowl(SMALL)
    client.force_login(counselor)
    press_draw(client, patient)
    draw = PrizeDraw.objects.get()
    catalog.stock_adjust(item=bus, quantity=-1, reason="Broken", actor=clinic_admin)

    response = client.post(reverse("prize-claim", args=[draw.pk]), {"item": bus.pk})

    assert response.status_code == 409
    assert "This item is out of stock." in response.text
    draw.refresh_from_db()
    assert draw.claimed_item is None


def test_a_prize_is_handed_over_once(client, counselor, clinic_admin, patient, fishbowl, bowl):
    bus = prize_item(patient.clinic, clinic_admin, "Bus pass", stock=3)
    negatives(patient, counselor, 1)
    bowl(SMALL)
    client.force_login(counselor)
    press_draw(client, patient)
    draw = PrizeDraw.objects.get()
    claim(client, draw, bus)

    again = client.post(reverse("prize-claim", args=[draw.pk]), {"item": bus.pk})

    assert again.status_code == 409
    assert "This prize has already been claimed." in again.text
    bus.refresh_from_db()
    assert bus.stock == 2


def test_a_good_job_slip_cannot_be_claimed(
    client, counselor, clinic_admin, patient, fishbowl, bowl
):
    bus = prize_item(patient.clinic, clinic_admin, "Bus pass")
    negatives(patient, counselor, 1)
    bowl(GOOD_JOB)
    client.force_login(counselor)
    press_draw(client, patient)

    response = client.post(
        reverse("prize-claim", args=[PrizeDraw.objects.get().pk]), {"item": bus.pk}
    )

    assert response.status_code == 400
    assert "nothing to claim" in response.text
    bus.refresh_from_db()
    assert bus.stock == 3


def test_another_clinics_item_cannot_be_chosen(
    client, counselor, clinic_admin, other_clinic, patient, fishbowl, bowl
):
    theirs = prize_item(other_clinic, None, "Their bus pass")
    negatives(patient, counselor, 1)
    bowl(SMALL)
    client.force_login(counselor)
    press_draw(client, patient)
    draw = PrizeDraw.objects.get()

    response = client.post(reverse("prize-claim", args=[draw.pk]), {"item": theirs.pk})

    assert response.status_code == 400
    assert "Choose one of the prizes listed." in response.text
    assert CatalogItem.objects.get(pk=theirs.pk).stock == 3


# --- who may see it ------------------------------------------------------------------------------


def test_another_clinics_counselor_and_patients_get_404(
    client, counselor, other_counselor, patient_user, clinic_admin, patient, fishbowl, bowl
):
    bus = prize_item(patient.clinic, clinic_admin, "Bus pass")
    negatives(patient, counselor, 2)
    bowl(SMALL)
    client.force_login(counselor)
    press_draw(client, patient, count=1)
    draw = PrizeDraw.objects.get()

    for user in (other_counselor, patient_user):
        client.force_login(user)
        assert client.get(draws_url(patient)).status_code == 404
        posted = client.post(draws_url(patient), {"idempotency_key": draw_key_for(), "count": 1})
        assert posted.status_code == 404
        claimed = client.post(reverse("prize-claim", args=[draw.pk]), {"item": bus.pk})
        assert claimed.status_code == 404

    assert PrizeDraw.objects.count() == 1 and wallet(patient).draws_available == 2
    draw.refresh_from_db()
    assert draw.claimed_item is None


def draw_key_for() -> str:
    return "5f2b0c9e-8a1d-4c3e-9b7a-6d5e4f3a2b1c"


def test_signed_out_visitors_are_sent_to_sign_in(client, patient, fishbowl):
    response = client.get(draws_url(patient))

    assert response.status_code == 302
    assert reverse("login") in response["Location"]


# --- queries -------------------------------------------------------------------------------------


def test_the_page_costs_the_same_queries_for_few_or_many_draws(
    client, counselor, clinic_admin, patient, fishbowl
):
    prize_item(patient.clinic, clinic_admin, "Bus pass")
    prize_item(patient.clinic, clinic_admin, "Phone card", tier="large")
    other = PatientFactory(clinic=patient.clinic)
    EnrollmentFactory(patient=other, protocol=fishbowl.protocol, start_date=MONDAY)
    client.force_login(counselor)

    def queries(who, slips):
        negatives(who, counselor, 12 if slips > 10 else 4)  # 78 or 10 draws
        prizes.draws_run(patient=who, count=slips, drawn_by=counselor, rng=random.Random(7))
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(draws_url(who)).status_code == 200
        return len(ctx)

    assert queries(other, 60) == queries(patient, 3)


def test_with_htmx_a_refused_draw_says_why_in_the_region(client, counselor, patient, fishbowl):
    negatives(patient, counselor, 1)
    client.force_login(counselor)
    key = draw_key(client.get(draws_url(patient)))

    response = client.post(
        draws_url(patient), {"idempotency_key": key, "count": 5}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200  # htmx swaps only 2xx answers
    assert "<html" not in response.text
    assert "Only 1 draw is available." in response.text
    assert not PrizeDraw.objects.exists()
