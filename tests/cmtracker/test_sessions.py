"""Automatic logoff and login throttling: what a counselor at a shared desk and an attacker meet."""

import time
from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

from cmtracker.middleware import LAST_SEEN, SIGNED_IN
from tests.conftest import api_token, give_second_factor

PASSWORD = "a long test password"  # the factories' password
MINUTE = 60


def sign_in(client, username, password=PASSWORD, ip="10.0.0.1"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def age_session(client, *, idle: int = 0, since_sign_in: int = 0) -> None:
    """Pretend the last request was `idle` seconds ago and sign-in `since_sign_in` seconds ago."""
    session = client.session
    session[LAST_SEEN] -= idle
    session[SIGNED_IN] -= since_sign_in
    session.save()


def signed_in_as(client) -> str | None:
    """Who the next request is made by, as the page's Sign out button tells."""
    response = client.get(reverse("login"))
    return "signed-in" if "Sign out" in response.content.decode() else None


@pytest.fixture
def desk(client, counselor):
    """A counselor signed in at the front desk (a real sign-in, so the clocks start), with the
    code from their authenticator. Both steps on one frozen second, as a quick person takes them:
    otherwise the second factor can land on the next second and move the idle clock on."""
    with time_machine.travel(time.time(), tick=False):
        assert sign_in(client, "casey").status_code == 302
        give_second_factor(client, counselor)
    return client


@pytest.fixture
def phone(client, patient_user):
    assert sign_in(client, "pat").status_code == 302
    return client


# --- automatic logoff -----------------------------------------------------------------------


def test_signing_in_starts_both_clocks(desk):
    session = desk.session

    assert session[SIGNED_IN] == session[LAST_SEEN]


def test_staff_are_signed_out_after_fifteen_idle_minutes(desk):
    age_session(desk, idle=15 * MINUTE + 1)

    response = desk.get(reverse("patient-access", args=[1]))

    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next=/patients/1/access/"
    assert "_auth_user_id" not in desk.session


def test_staff_active_within_fifteen_minutes_stay_signed_in(desk, patient):
    age_session(desk, idle=14 * MINUTE)

    assert desk.get(reverse("patient-access", args=[patient.pk])).status_code == 200
    assert desk.session[LAST_SEEN] >= desk.session[SIGNED_IN]  # the idle clock restarted


def test_a_patient_may_stay_idle_longer_than_staff_but_not_forever(phone, settings):
    age_session(phone, idle=20 * MINUTE)
    assert phone.get(reverse("portal")).status_code == 200

    age_session(phone, idle=settings.PATIENT_IDLE_TIMEOUT_SECONDS + 1)
    assert phone.get(reverse("portal")).status_code == 302


def test_the_idle_limit_comes_from_settings(desk, patient, settings):
    settings.STAFF_IDLE_TIMEOUT_SECONDS = 5 * MINUTE
    age_session(desk, idle=6 * MINUTE)

    assert desk.get(reverse("patient-access", args=[patient.pk])).status_code == 302


def test_a_busy_session_still_ends_at_the_absolute_limit(desk, patient, settings):
    age_session(desk, since_sign_in=settings.SESSION_ABSOLUTE_SECONDS + 1)

    response = desk.get(reverse("patient-access", args=[patient.pk]))

    assert response.status_code == 302
    assert "_auth_user_id" not in desk.session


def test_the_login_page_still_works_after_a_timeout_and_says_why(desk):
    age_session(desk, idle=16 * MINUTE)

    response = desk.get(reverse("login"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "For your security you were signed out." in html
    assert "Sign out" not in html
    assert sign_in(desk, "casey").status_code == 302
    assert signed_in_as(desk)


def test_signing_in_again_restarts_the_absolute_clock(desk, settings):
    age_session(desk, since_sign_in=settings.SESSION_ABSOLUTE_SECONDS - MINUTE)

    sign_in(desk, "casey")

    assert desk.session[SIGNED_IN] == desk.session[LAST_SEEN]


def test_an_htmx_request_after_a_timeout_sends_the_whole_page_to_sign_in(desk, patient):
    page = f"/patients/{patient.pk}/"
    age_session(desk, idle=16 * MINUTE)

    response = desk.get(
        reverse("patient-access", args=[patient.pk]),
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver{page}",
    )

    assert response.headers["HX-Redirect"] == f"{reverse('login')}?next={page}"
    assert "_auth_user_id" not in desk.session


# --- login throttling (django-axes) ---------------------------------------------------------


def test_five_wrong_passwords_lock_the_username_even_for_the_right_password(client, counselor):
    for _ in range(4):
        assert sign_in(client, "casey", "wrong").status_code == 200

    fifth = sign_in(client, "casey", "wrong")
    sixth = sign_in(client, "casey", PASSWORD)

    assert fifth.status_code == 429
    assert sixth.status_code == 429
    assert "Too many sign-in attempts" in sixth.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_lockout_is_for_that_username_from_that_address_only(client, counselor, clinic_admin):
    for _ in range(5):
        sign_in(client, "casey", "wrong", ip="10.6.6.6")

    assert sign_in(Client(), "casey", ip="10.0.0.2").status_code == 302
    assert sign_in(Client(), "ada", ip="10.6.6.6").status_code == 302


def test_the_lockout_cools_off_so_nobody_can_lock_a_counselor_out_for_good(
    client, counselor, settings
):
    for _ in range(5):
        sign_in(client, "casey", "wrong")
    assert sign_in(client, "casey").status_code == 429

    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= settings.AXES_COOLOFF_TIME + timedelta(seconds=1)
        attempt.save()

    assert sign_in(client, "casey").status_code == 302


def test_a_successful_sign_in_clears_earlier_failures(client, counselor):
    for _ in range(4):
        sign_in(client, "casey", "wrong")
    assert sign_in(Client(), "casey").status_code == 302

    for _ in range(4):
        assert sign_in(client, "casey", "wrong").status_code == 200


def test_resetting_a_patients_access_lifts_their_lockout(client, patient_user, patient):
    from patients import accounts

    for _ in range(5):
        sign_in(client, "pat", "wrong")
    assert AccessAttempt.objects.filter(username="pat").exists()

    accounts.patient_signin_reset(patient=patient)

    assert not AccessAttempt.objects.filter(username="pat").exists()


# --- a new session at sign-in; a deactivated account's sessions end -------------------------


def test_signing_in_starts_a_new_session_so_a_planted_session_id_stays_signed_out(
    client, patient_user, settings
):
    planted = client.session.session_key  # as if someone had set this cookie beforehand

    assert sign_in(client, "pat").status_code == 302

    assert client.cookies[settings.SESSION_COOKIE_NAME].value != planted
    assert client.get(reverse("portal")).status_code == 200
    someone = Client()
    someone.cookies[settings.SESSION_COOKIE_NAME] = planted
    response = someone.get(reverse("portal"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_a_deactivated_patient_is_signed_out_on_their_next_request(phone, patient_user):
    assert phone.get(reverse("portal")).status_code == 200

    patient_user.is_active = False
    patient_user.save()

    response = phone.get(reverse("portal"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert not signed_in_as(phone)
    assert "_auth_user_id" not in sign_in(Client(), "pat").wsgi_request.session


def test_a_deactivated_counselor_at_the_desk_is_signed_out_on_their_next_request(
    desk, counselor, patient
):
    assert desk.get(reverse("patient-access", args=[patient.pk])).status_code == 200

    counselor.is_active = False
    counselor.save()

    response = desk.get(reverse("patient-access", args=[patient.pk]))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_a_deactivated_accounts_api_token_stops_working(client, patient_user):
    auth = {"HTTP_AUTHORIZATION": f"Token {api_token(patient_user)}"}
    assert client.get("/api/v1/patients/", **auth).status_code == 200

    patient_user.is_active = False
    patient_user.save()

    assert client.get("/api/v1/patients/", **auth).status_code == 401
