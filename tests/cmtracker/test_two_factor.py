"""Two-factor sign-in: staff need a code from an authenticator app (or a backup code) before they
reach any patient data; patients may turn it on for themselves."""

import re
from base64 import b32decode

import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from tests.conftest import give_second_factor, second_factor_code, second_factor_device

PASSWORD = "a long test password"


def sign_in(client, username):
    response = client.post(reverse("login"), {"username": username, "password": PASSWORD})
    assert response.status_code == 302
    return response


def patient_data_urls(patient):
    return [
        reverse("today"),
        reverse("patient-list"),
        reverse("patient-detail", args=[patient.pk]),
        reverse("specimen-record", args=[patient.pk]),
        reverse("patient-audit", args=[patient.pk]),
        reverse("admin:index"),
        reverse("admin:patients_patient_changelist"),
    ]


@pytest.mark.parametrize("who", ["counselor", "clinic_admin"])
def test_staff_signed_in_with_a_password_alone_reach_no_patient_data(client, request, who, patient):
    user = request.getfixturevalue(who)
    second_factor_device(user)
    sign_in(client, user.username)

    for url in patient_data_urls(patient):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("two-factor")), url
    api = client.get("/api/v1/patients/")
    assert api.status_code == 403
    assert "two-factor" in api.json()["detail"]


def test_a_superuser_needs_the_code_for_the_admin_too(client, admin_user):
    admin_user.set_password(PASSWORD)
    admin_user.save()
    sign_in(client, admin_user.username)

    response = client.get(reverse("admin:index"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("two-factor"))


def test_an_htmx_request_is_sent_to_the_code_page_as_a_whole(client, counselor, patient):
    second_factor_device(counselor)
    sign_in(client, "casey")

    response = client.get(reverse("today"), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert response["HX-Redirect"].startswith(reverse("two-factor"))


def test_the_right_code_lets_staff_in_and_back_to_the_page_they_wanted(client, counselor, patient):
    second_factor_device(counselor)
    sign_in(client, "casey")
    wanted = reverse("patient-detail", args=[patient.pk])
    page = client.get(wanted, follow=True)
    assert "Enter your code" in page.content.decode()

    response = client.post(
        reverse("two-factor"), {"code": second_factor_code(counselor), "next": wanted}
    )

    assert response.status_code == 302
    assert response["Location"] == wanted
    assert client.get(wanted).status_code == 200


def test_a_wrong_code_is_refused_with_a_message(client, counselor, patient):
    second_factor_device(counselor)
    sign_in(client, "casey")
    wrong = f"{(int(second_factor_code(counselor)) + 1) % 1_000_000:06d}"

    response = client.post(reverse("two-factor"), {"code": wrong})

    assert response.status_code == 400
    assert "That code is not right" in response.content.decode()
    assert client.get(reverse("patient-list")).status_code == 302


def test_a_code_cannot_be_used_twice(client, counselor):
    second_factor_device(counselor)
    code = second_factor_code(counselor)
    sign_in(client, "casey")
    assert client.post(reverse("two-factor"), {"code": code}).status_code == 302
    client.post(reverse("logout"))

    sign_in(client, "casey")
    assert client.post(reverse("two-factor"), {"code": code}).status_code == 400


def test_first_sign_in_sets_up_an_authenticator_and_shows_ten_backup_codes_once(client, counselor):
    sign_in(client, "casey")

    setup = client.get(reverse("two-factor"), follow=True)
    html = setup.content.decode()
    assert "Set up two-factor sign-in" in html
    assert 'src="data:image/svg+xml' in html  # the QR code, served with the page: no CDN
    device = TOTPDevice.objects.get(user=counselor, confirmed=False)
    code = f"{totp(device.bin_key):06d}"

    done = client.post(reverse("two-factor-setup"), {"code": code})

    codes = re.findall(r"<code>([0-9a-f]{8})</code>", done.content.decode())
    assert len(codes) == 10
    assert TOTPDevice.objects.get(user=counselor).confirmed
    assert client.get(reverse("patient-list")).status_code == 200


def test_the_code_pages_show_no_menu_until_the_code_is_given(client, counselor):
    """Its links would only lead back to the code page."""
    sign_in(client, "casey")
    setup = client.get(reverse("two-factor"), follow=True).content.decode()
    assert 'aria-label="Main"' not in setup
    assert "Sign out" in setup
    client.post(reverse("two-factor-setup"), {"code": second_factor_code(counselor)})
    client.post(reverse("logout"))

    sign_in(client, "casey")
    verify = client.get(reverse("two-factor")).content.decode()
    assert "Enter your code" in verify
    assert 'aria-label="Main"' not in verify
    client.post(reverse("two-factor"), {"code": second_factor_code(counselor)})

    assert 'aria-label="Main"' in client.get(reverse("today")).content.decode()


def test_the_key_to_type_comes_in_groups_of_four(client, counselor):
    sign_in(client, "casey")
    html = client.get(reverse("two-factor-setup")).content.decode()
    device = TOTPDevice.objects.get(user=counselor, confirmed=False)

    shown = re.search(r'<code class="secret">([^<]+)</code>', html).group(1)

    assert re.fullmatch(r"[A-Z2-7]{4}( [A-Z2-7]{1,4})+", shown)
    assert b32decode(shown.replace(" ", "") + "=" * (-len(shown.replace(" ", "")) % 8)) == bytes(
        device.bin_key
    )


def test_a_backup_code_works_once(client, counselor):
    from cmtracker.two_factor import backup_codes_new

    second_factor_device(counselor)
    [code, *_rest] = backup_codes_new(counselor)
    sign_in(client, "casey")

    assert client.post(reverse("two-factor"), {"code": code}).status_code == 302
    assert not StaticToken.objects.filter(token=code).exists()
    client.post(reverse("logout"))
    sign_in(client, "casey")
    assert client.post(reverse("two-factor"), {"code": code}).status_code == 400


def test_replacing_the_authenticator_needs_the_current_one_first(client, counselor):
    second_factor_device(counselor)
    sign_in(client, "casey")

    response = client.get(reverse("two-factor-setup"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("two-factor"))


def test_a_patient_signs_in_with_a_password_alone(client, patient_user, enrollment):
    sign_in(client, "pat")

    assert client.get(reverse("portal")).status_code == 200


def test_a_patient_who_turned_it_on_is_asked_for_the_code(client, patient_user, enrollment):
    second_factor_device(patient_user)
    sign_in(client, "pat")

    assert client.get(reverse("portal")).status_code == 302
    give_second_factor(client, patient_user)
    assert client.get(reverse("portal")).status_code == 200


def test_a_session_api_call_without_the_code_is_refused(counselor):
    second_factor_device(counselor)
    client = APIClient()
    # The sign-in page takes a form; this client sends the API's JSON unless told otherwise.
    login = {"username": "casey", "password": PASSWORD}
    assert client.post(reverse("login"), login, format="multipart").status_code == 302

    assert client.get("/api/v1/patients/").status_code == 403


def test_staff_resetting_a_patients_access_also_forgets_their_authenticator(
    client, counselor, patient, patient_user
):
    second_factor_device(patient_user)
    client.force_login(counselor)

    response = client.post(reverse("patient-access", args=[patient.pk]), {"action": "reset"})

    assert response.status_code == 200
    assert not TOTPDevice.objects.filter(user=patient_user).exists()


def test_the_account_page_shows_the_backup_codes_left_and_makes_new_ones(client, counselor):
    sign_in(client, "casey")
    client.get(reverse("two-factor-setup"))
    device = TOTPDevice.objects.get(user=counselor, confirmed=False)
    client.post(reverse("two-factor-setup"), {"code": f"{totp(device.bin_key):06d}"})
    StaticToken.objects.filter(device__user=counselor).first().delete()  # one used

    page = client.get(reverse("account")).content.decode()
    assert "9 backup codes left" in page
    assert "Staff accounts always use it." in page

    assert client.get(reverse("two-factor-backup-codes"))["Location"] == reverse("account")
    made = client.post(reverse("two-factor-backup-codes")).content.decode()
    assert len(re.findall(r"<code>([0-9a-f]{8})</code>", made)) == 10
    assert "10 backup codes left" in client.get(reverse("account")).content.decode()


def test_a_patient_without_it_is_offered_to_turn_it_on(client, patient_user):
    client.force_login(patient_user)

    page = client.get(reverse("account")).content.decode()

    assert "Turn on two-factor sign-in" in page
    assert reverse("password_change") in page
