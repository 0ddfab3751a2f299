"""The patient portal (/me/): what a patient sees on their phone, and that it is only theirs."""

import re
from datetime import UTC, date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from patients.models import Enrollment
from tests.conftest import at, protocol
from tests.factories import EnrollmentFactory, UserFactory
from vouchers import adjustments, recording
from vouchers.selectors import reward_summary
from vouchers.templatetags.money import dollars

PORTAL = "/me/"


def clinic_today(clinic) -> date:
    return clinic.local_date(timezone.now())


def recent_monday(clinic, weeks_ago: int = 2) -> date:
    today = clinic_today(clinic)
    return today - timedelta(days=today.weekday(), weeks=weeks_ago)


def negative(patient, day, hour=10, substances=("cocaine",)):
    return recording.specimen_record(
        patient=patient,
        collected_at=at(patient.clinic, day, hour),
        results=dict.fromkeys(substances, "negative"),
    )


def positive(patient, day, hour=10):
    return recording.specimen_record(
        patient=patient, collected_at=at(patient.clinic, day, hour), results={"cocaine": "positive"}
    )


@pytest.fixture
def recent(patient, higgins):
    """Higgins from a Monday two weeks ago: test days Mon/Wed/Fri, some still to come."""
    return EnrollmentFactory(
        patient=patient, protocol=higgins, start_date=recent_monday(patient.clinic)
    )


@pytest.fixture
def signed_in(client, patient_user):
    client.force_login(patient_user)
    return client


def page(client, url=PORTAL) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


# --- what the patient sees ------------------------------------------------------------------


def test_it_shows_the_balance_streak_and_next_reward_that_reward_summary_computes(
    signed_in, patient, recent
):
    start = recent.start_date
    for day in (start, start + timedelta(days=2), start + timedelta(days=4)):
        negative(patient, day)
    summary = reward_summary(patient=patient, today=clinic_today(patient.clinic))

    html = page(signed_in)

    # Higgins: $2.50 + $3.75 + $5.00 and a $10 bonus for 3 in a row; the next is $6.25.
    assert summary.wallet.balance_cents == 2125
    assert summary.next_cents == 625
    assert f'<p class="stat">{dollars(summary.wallet.balance_cents)}</p>' in html
    assert f"Your next negative test earns {dollars(summary.next_cents)}." in html
    assert "3 negative tests in a row" in html
    assert dollars(summary.earned_this_year_cents) in html.split("Earned in")[1]


def test_after_a_positive_it_shows_the_reset_and_the_start_value_again(signed_in, patient, recent):
    start = recent.start_date
    negative(patient, start)
    negative(patient, start + timedelta(days=2))
    positive(patient, start + timedelta(days=4))

    html = page(signed_in)

    assert "0 negative tests in a row" in html
    assert "Your next negative test earns $2.50." in html
    assert '<span class="badge positive">Positive</span>' in html


def test_the_last_five_results_show_with_their_outcome(signed_in, patient, recent):
    start = recent.start_date
    days = [start + timedelta(days=d) for d in (0, 2, 4, 7, 9, 11)]
    for day in days:
        negative(patient, day)

    results = page(signed_in).split("Your last results")[1].split("</section>")[0]

    assert results.count('<span class="badge negative">Negative</span>') == 5
    for day in days[1:]:
        assert f'<time datetime="{day:%Y-%m-%d}">' in results
    assert f'<time datetime="{days[0]:%Y-%m-%d}">' not in results


def test_a_result_late_in_the_evening_shows_the_clinics_day_not_utcs(signed_in, patient, recent):
    day = recent.start_date
    specimen = negative(patient, day, hour=23).specimen
    assert timezone.localtime(specimen.collected_at, UTC).date() == day + timedelta(1)

    results = page(signed_in).split("Your last results")[1]

    assert f'<time datetime="{day:%Y-%m-%d}">' in results
    assert f'<time datetime="{day + timedelta(1):%Y-%m-%d}">' not in results


def test_the_ledger_says_in_plain_words_what_was_earned_and_what_was_corrected(
    signed_in, patient, recent, counselor
):
    day = recent.start_date
    specimen = negative(patient, day).specimen
    recording.specimen_correct(
        specimen=specimen,
        changed_by=counselor,
        reason="lab confirmation came back positive",
        results={"cocaine": "positive"},
    )

    html = page(signed_in)

    when = f"{day:%a} {day.day} {day:%b}"
    assert f"You earned $2.50 for your negative test on {when}." in html
    assert (
        f"Correction: $2.50 taken back after the result of your test on {when} was corrected."
        in html
    )
    assert "+$2.50" in html and "-$2.50" in html


def test_a_correction_after_spending_tells_the_patient_what_comes_out_of_later_earnings(
    signed_in, patient, recent, counselor
):
    specimen = negative(patient, recent.start_date).specimen
    adjustments.ledger_adjust(
        patient=patient, amount_cents=-200, reason="bus pass", actor=counselor
    )
    recording.specimen_correct(
        specimen=specimen, changed_by=counselor, reason="lab", results={"cocaine": "positive"}
    )

    html = page(signed_in)

    assert "The clinic took off $2.00: bus pass" in html
    assert "$2.00 will come out of your next earnings." in html
    assert "After a corrected result, $2.00 will come out of your next earnings." in html


def test_the_earnings_chart_is_drawn_from_the_enrollments_awards(signed_in, patient, recent):
    negative(patient, recent.start_date)

    html = page(signed_in)

    assert '<svg xmlns="http://www.w3.org/2000/svg" viewBox' in html
    assert "$2.50 earned from" in html


def test_upcoming_test_days_are_the_next_scheduled_days_of_the_enrollment(
    signed_in, patient, recent
):
    today = clinic_today(patient.clinic)
    start = recent.start_date
    expected = [
        start + timedelta(weeks=w, days=d)
        for w in range(2, 6)
        for d in (0, 2, 4)
        if start + timedelta(weeks=w, days=d) >= today
    ][:5]

    upcoming = page(signed_in).split("Your next test days")[1].split("</section>")[0]

    assert [f'<time datetime="{d:%Y-%m-%d}">' in upcoming for d in expected] == [True] * 5
    assert upcoming.count("<li>") == 5


def test_upcoming_test_days_in_spanish_read_as_spanish_dates(signed_in, patient, recent):
    patient.preferred_language = "es"
    patient.save()

    upcoming = page(signed_in).split("Tus próximos días de prueba")[1].split("</section>")[0]

    days = re.findall(r'<time datetime="[-\d]+">([^<]+)</time>', upcoming)
    assert days
    assert all(re.fullmatch(r"\w+ \d{1,2} de \w+", d) for d in days), days  # "lunes 7 de diciembre"


def test_todays_test_day_is_no_longer_upcoming_once_tested(signed_in, patient, higgins):
    today = clinic_today(patient.clinic)
    # Every weekday offered: today, the start, is a test day whatever weekday it is.
    EnrollmentFactory(
        patient=patient, protocol=higgins, start_date=today, test_weekdays=list(range(7))
    )
    negative(patient, today, hour=0)

    upcoming = page(signed_in).split("Your next test days")[1].split("</section>")[0]

    assert f'<time datetime="{today:%Y-%m-%d}">' not in upcoming
    assert f'<time datetime="{today + timedelta(days=2):%Y-%m-%d}">' in upcoming


def test_a_capped_protocol_shows_what_can_still_be_earned_this_year(signed_in, patient, clinic):
    EnrollmentFactory(
        patient=patient, protocol=protocol("ca-rip"), start_date=recent_monday(clinic)
    )
    negative(
        patient, recent_monday(clinic), substances=("cocaine", "amphetamine", "methamphetamine")
    )
    summary = reward_summary(patient=patient, today=clinic_today(clinic))

    html = page(signed_in)

    assert summary.cap_remaining_cents is not None
    assert f"You can still earn {dollars(summary.cap_remaining_cents)}." in html


def test_a_prize_protocol_promises_draws_not_dollars(signed_in, patient, clinic):
    EnrollmentFactory(
        patient=patient, protocol=protocol("petry-fishbowl"), start_date=recent_monday(clinic)
    )

    html = page(signed_in)

    assert "Your next negative test earns 1 prize draw." in html
    # Prizes won count toward the year's total but are not points: the page says so.
    assert "Earned and won in" in html
    assert "they are not points to spend" in html


def test_a_voucher_protocol_says_earned_only(signed_in, patient, recent):
    html = page(signed_in)

    assert "Earned in" in html
    assert "Earned and won in" not in html


def test_a_paused_enrollment_says_rewards_are_paused_and_lists_no_test_days(
    signed_in, patient, recent
):
    Enrollment.objects.filter(pk=recent.pk).update(status=Enrollment.Status.PAUSED)

    html = page(signed_in)

    assert "Your rewards are paused" in html
    assert "Your next negative test earns" not in html
    assert "No test days are planned." in html


def test_a_patient_without_an_enrollment_sees_an_empty_portal_not_an_error(signed_in):
    html = page(signed_in)

    assert "You are not in a rewards program right now." in html
    assert "$0.00" in html


def queries_for_portal(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        page(client)
    return len(queries)


def test_the_portal_costs_the_same_queries_with_one_result_or_many(signed_in, patient, recent):
    start = recent.start_date
    negative(patient, start)
    short = queries_for_portal(signed_in)
    for d in (2, 4, 7, 9, 11):
        negative(patient, start + timedelta(days=d))
    adjustments.ledger_adjust(patient=patient, amount_cents=-100, reason="snack", actor=None)

    assert queries_for_portal(signed_in) == short <= 20


# --- only their own -------------------------------------------------------------------------


def test_a_patient_sees_their_own_balance_never_another_patients(
    client, patient_user, recent, other_patient, higgins
):
    EnrollmentFactory(patient=other_patient, protocol=higgins, start_date=recent.start_date)
    negative(other_patient, recent.start_date)
    negative(other_patient, recent.start_date + timedelta(days=2))
    client.force_login(other_patient.user)
    assert '<p class="stat">$6.25</p>' in page(client)

    client.force_login(patient_user)
    html = page(client)

    assert '<p class="stat">$0.00</p>' in html
    assert "$6.25" not in html
    assert "0 negative tests in a row" in html


def test_the_portal_url_carries_no_patient_id():
    assert reverse("portal") == PORTAL


@pytest.mark.parametrize(
    "url",
    [
        "/today/",
        "/patients/",
        "/patients/{own}/",
        "/patients/{other}/",
        "/patients/{own}/access/",
        "/patients/{other}/access/",
        "/patients/{own}/specimens/new/",
        "/patients/{other}/attendance/new/",
    ],
)
def test_a_patient_gets_404_on_staff_pages_and_other_patients_records(
    signed_in, patient, other_patient, url
):
    response = signed_in.get(url.format(own=patient.pk, other=other_patient.pk))

    assert response.status_code == 404


def test_a_patient_cannot_post_to_another_patients_access_page(signed_in, other_patient):
    response = signed_in.post(f"/patients/{other_patient.pk}/access/", {"action": "reset"})

    assert response.status_code == 404
    other_patient.user.refresh_from_db()
    assert other_patient.user.has_usable_password()


def test_staff_get_404_on_the_patient_portal(client, counselor, clinic_admin):
    for user in (counselor, clinic_admin):
        client.force_login(user)
        assert client.get(PORTAL).status_code == 404


def test_anyone_signed_out_is_sent_to_sign_in(client, db):
    response = client.get(PORTAL)

    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={PORTAL}"


# --- landing and language -------------------------------------------------------------------


def test_home_sends_a_patient_to_their_portal_and_a_counselor_to_today(
    client, patient_user, counselor
):
    client.force_login(patient_user)
    assert client.get("/").url == PORTAL

    client.force_login(counselor)
    assert client.get("/").url == reverse("today")


def test_signing_in_as_a_patient_lands_on_the_portal(client, patient_user):
    response = client.post(
        reverse("login"), {"username": "pat", "password": "a long test password"}, follow=True
    )

    assert response.redirect_chain[-1][0] == PORTAL
    assert response.status_code == 200


def test_a_spanish_speaking_patient_gets_the_portal_in_spanish(signed_in, patient):
    patient.preferred_language = "es"
    patient.save()

    html = page(signed_in)

    assert '<html lang="es">' in html
    assert signed_in.get(PORTAL).headers["Content-Language"] == "es"


def test_a_patient_who_switches_to_english_stays_in_english(signed_in, patient):
    patient.preferred_language = "es"
    patient.save()
    assert '<html lang="es">' in page(signed_in)

    response = signed_in.post(reverse("set_language"), {"language": "en", "next": PORTAL})
    assert response.status_code == 302

    assert '<html lang="en">' in page(signed_in)
    assert '<html lang="en">' in page(signed_in)


def test_staff_follow_their_browser_language(client, counselor):
    client.force_login(counselor)

    response = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="es")

    assert '<html lang="es">' in response.content.decode()


def test_someone_signed_in_who_is_neither_staff_nor_a_patient_gets_404(client, db):
    client.force_login(UserFactory(username="nobody"))

    assert client.get(PORTAL).status_code == 404
