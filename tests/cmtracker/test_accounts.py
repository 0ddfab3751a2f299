"""Sign-in for patients: staff create it and hand over a one-time link; nobody signs up alone.
And password reset by email for anyone with an email address on their account."""

import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse

from patients import accounts
from tests.factories import PatientFactory

User = get_user_model()
NEW_PASSWORD = "river stones and quiet mornings"


def access_url(patient) -> str:
    return reverse("patient-access", args=[patient.pk])


def link_on(response) -> str:
    """The invitation link shown to staff, as a path."""
    match = re.search(
        r'id="invitation-link" value="https?://testserver([^"]+)"', response.content.decode()
    )
    assert match, "no invitation link on the page"
    return match.group(1)


def choose_password(client, link: str, password: str = NEW_PASSWORD):
    """Follow a one-time link and set a password, as the patient would on their phone."""
    response = client.get(link, follow=True)
    assert response.status_code == 200
    if not response.context["validlink"]:
        return response
    form_url = response.redirect_chain[-1][0]
    return client.post(
        form_url, {"new_password1": password, "new_password2": password}, follow=True
    )


def sign_in(client, username: str, password: str = NEW_PASSWORD, ip: str = "10.0.0.1"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


@pytest.fixture
def staff(client, counselor):
    client.force_login(counselor)
    return client


# --- staff create the sign-in ---------------------------------------------------------------


def test_staff_see_that_a_patient_has_no_sign_in_yet(staff, patient):
    html = staff.get(access_url(patient)).content.decode()

    assert "This patient has no sign-in yet." in html
    assert "Create sign-in" in html


def test_creating_a_sign_in_links_an_account_without_a_password_and_shows_a_link(staff, patient):
    patient.record_number = "RR-0042"
    patient.email = "pat@example.org"
    patient.save()

    response = staff.post(access_url(patient), {"action": "invite"})

    assert response.status_code == 200
    patient.refresh_from_db()
    user = patient.user
    assert user.username == "rr-0042"
    assert user.email == "pat@example.org"
    assert not user.has_usable_password()
    assert link_on(response).startswith("/accounts/reset/")
    html = response.content.decode()
    assert "Sign-in created. The username is rr-0042." in html
    assert response.headers["Cache-Control"].startswith("max-age=0")


def test_the_invitation_link_sets_a_password_once_and_the_patient_can_sign_in(staff, patient):
    link = link_on(staff.post(access_url(patient), {"action": "invite"}))
    phone = Client()

    done = choose_password(phone, link)

    assert "Your password is saved" in done.content.decode()
    landed = sign_in(phone, patient_username(patient))
    assert landed.status_code == 302 and landed.url == reverse("home")
    assert phone.get(reverse("portal")).status_code == 200

    # The same link again: refused, and the password stays the patient's.
    again = choose_password(Client(), link, password="someone else entirely 9")
    assert "This link no longer works" in again.content.decode()
    assert sign_in(Client(), patient_username(patient)).status_code == 302


def test_the_page_shows_the_username_the_patient_will_sign_in_with(staff, patient):
    link = link_on(staff.post(access_url(patient), {"action": "invite"}))

    response = Client().get(link, follow=True)

    assert f"Your username is <strong>{patient_username(patient)}</strong>" in (
        response.content.decode()
    )


def test_a_new_invitation_voids_the_earlier_unused_link(staff, patient):
    first = link_on(staff.post(access_url(patient), {"action": "invite"}))
    second = link_on(staff.post(access_url(patient), {"action": "invite"}))

    assert "This link no longer works" in choose_password(Client(), first).content.decode()
    assert "Your password is saved" in choose_password(Client(), second).content.decode()
    assert User.objects.filter(patient=patient).count() == 1


def test_reset_takes_away_the_password_signs_the_patient_out_and_gives_a_new_link(
    staff, patient, patient_user
):
    phone = Client()
    assert sign_in(phone, "pat", "a long test password").status_code == 302
    assert phone.get(reverse("portal")).status_code == 200

    link = link_on(staff.post(access_url(patient), {"action": "reset"}))

    assert phone.get(reverse("portal")).status_code == 302  # signed out
    assert sign_in(Client(), "pat", "a long test password").status_code == 200
    assert "Your password is saved" in choose_password(Client(), link).content.decode()
    assert sign_in(Client(), "pat").status_code == 302


def test_a_new_invitation_does_not_take_away_a_password_already_chosen(
    staff, patient, patient_user
):
    staff.post(access_url(patient), {"action": "invite"})

    assert sign_in(Client(), "pat", "a long test password").status_code == 302


def test_usernames_stay_unique_when_two_clinics_use_the_same_record_number(patient, other_clinic):
    patient.record_number = "A100"
    patient.save()
    elsewhere = PatientFactory(clinic=other_clinic, record_number="A100")

    first = accounts.patient_signin_invite(patient=patient).user
    second = accounts.patient_signin_invite(patient=elsewhere).user

    assert (first.username, second.username) == ("a100", "a100-2")


def test_an_unknown_action_is_refused_and_creates_nothing(staff, patient):
    response = staff.post(access_url(patient), {"action": "make-me-admin"})

    assert response.status_code == 400
    patient.refresh_from_db()
    assert patient.user is None


def test_only_staff_of_the_patients_clinic_reach_the_access_page(
    client, patient, other_counselor, patient_user, clinic_admin
):
    client.force_login(other_counselor)
    assert client.get(access_url(patient)).status_code == 404
    assert client.post(access_url(patient), {"action": "invite"}).status_code == 404
    client.force_login(patient_user)
    assert client.get(access_url(patient)).status_code == 404
    client.force_login(clinic_admin)
    assert client.get(access_url(patient)).status_code == 200
    client.logout()
    response = client.get(access_url(patient))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_there_is_no_open_sign_up(client, db):
    for path in ("/accounts/signup/", "/accounts/register/", "/signup/", "/register/"):
        assert client.get(path).status_code == 404


def patient_username(patient) -> str:
    patient.refresh_from_db()
    return patient.user.username


# --- password reset by email ----------------------------------------------------------------


def test_a_reset_email_brings_a_one_time_link_to_a_new_password(client, counselor):
    counselor.email = "casey@example.org"
    counselor.save()

    response = client.post(reverse("password_reset"), {"email": "casey@example.org"})

    assert response.status_code == 302 and response.url == reverse("password_reset_done")
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["casey@example.org"]
    assert email.subject == "Choose a new cmtracker password"
    assert '"casey"' in email.body
    link = re.search(r"https?://testserver(/accounts/reset/\S+)", email.body).group(1)

    assert "Your password is saved" in choose_password(client, link).content.decode()
    assert sign_in(Client(), "casey").status_code == 302
    assert sign_in(Client(), "casey", "a long test password").status_code == 200
    assert "This link no longer works" in choose_password(Client(), link).content.decode()


def test_an_unknown_email_sends_nothing_and_says_the_same(client, db):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.org"}, follow=True)

    assert mail.outbox == []
    assert "Check your email" in response.content.decode()


def test_the_reset_pages_are_the_projects_own_and_translatable(client, db):
    html = client.get(reverse("password_reset"), HTTP_ACCEPT_LANGUAGE="es").content.decode()

    assert '<html lang="es">' in html
    assert '<label for="id_email">' in html
    assert "Reset your password" in html or "contraseña" in html


def test_a_too_short_password_is_refused_with_a_message_and_the_link_still_works(staff, patient):
    link = link_on(staff.post(access_url(patient), {"action": "invite"}))
    phone = Client()

    response = choose_password(phone, link, password="short")

    assert "This password is too short" in response.content.decode()
    patient.refresh_from_db()
    assert not patient.user.has_usable_password()
    assert "Your password is saved" in choose_password(Client(), link).content.decode()


def test_staff_see_when_the_patient_last_signed_in_in_the_clinics_time(
    staff, patient, patient_user
):
    patient_user.last_login = datetime(2026, 3, 2, 3, 30, tzinfo=UTC)  # 9:30 pm in Chicago
    patient_user.save()

    html = staff.get(access_url(patient)).content.decode()

    assert "March 1, 2026, 9:30 p.m." in html
    assert "Set by the patient" in html


# --- what makes a password acceptable: length and not a common one, no composition rules -----


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("eleven char", "This password is too short. It must contain at least 12 characters."),
        ("qwerty123456", "This password is too common."),
        ("123456789123", "This password is too common."),
        ("mariagonzalez1990", "The password is too similar to the email address."),
    ],
)
def test_a_weak_password_is_refused_saying_why(staff, patient, password, message):
    patient.email = "mariagonzalez1990@example.org"
    patient.save()
    link = link_on(staff.post(access_url(patient), {"action": "invite"}))

    response = choose_password(Client(), link, password=password)

    assert message in response.content.decode()
    patient.refresh_from_db()
    assert not patient.user.has_usable_password()


@pytest.mark.parametrize(
    "password",
    [
        "apples in the winter sun",  # lowercase words: no capital, digit or symbol needed
        "8402751936417",  # only digits, long and not a common one
        "twelve chars",  # exactly the minimum
    ],
)
def test_any_long_uncommon_password_is_accepted_without_composition_rules(staff, patient, password):
    link = link_on(staff.post(access_url(patient), {"action": "invite"}))

    response = choose_password(Client(), link, password=password)

    assert "Your password is saved" in response.content.decode()
    assert sign_in(Client(), patient_username(patient), password).status_code == 302
