"""Phone numbers: one spelling (E.164), read in the clinic's country, matched only when equal.

Every way a number comes in (the admin's patient form, the API) stores E.164 or answers a clear
error; a STOP reply opts out only the patients with exactly that number; the data migration
rewrites the numbers already stored.
"""

import importlib
import io
from datetime import UTC, datetime

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.urls import reverse

from cmtracker.phones import phone_e164
from messaging import sms
from messaging.sms_inbound import patients_sms_opt
from patients.models import Patient
from tests.factories import ClinicFactory, PatientFactory, UserFactory

NOW = datetime(2026, 3, 3, 16, tzinfo=UTC)
US = "+1 312 555 0100"
AUSTRALIA = "+61 312 555 0100"  # the same ten digits after another country code


def test_numbers_from_different_countries_are_different_numbers():
    assert not sms.same_phone(US, AUSTRALIA)
    assert not sms.same_phone("+13125550100", "+613125550100")


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("+1 (312) 555-0100", "+13125550100", True),
        ("+1.312.555.0100", "+1 312 555 0100", True),
        ("+13125550100", "+13125550101", False),
        ("+13125550100", "+19175550100", False),
        ("+61 3 9555 0100", "+61395550100", True),
        # Without a country code a number is not guessed at: only the same spelling matches.
        ("312-555-0100", "+13125550100", False),
        ("312-555-0100", "312-555-0100", True),
        ("", "", False),
    ],
)
def test_phone_numbers_compare_equal_in_e164(a, b, same):
    assert sms.same_phone(a, b) is same


@pytest.mark.parametrize(
    ("typed", "region", "stored"),
    [
        ("(312) 555-0100", "US", "+13125550100"),
        ("312.555.0100", "US", "+13125550100"),
        ("+1 312 555 0100", "MX", "+13125550100"),  # its own country code wins
        ("55 1234 5678", "MX", "+525512345678"),
        ("(03) 9555 0100", "AU", "+61395550100"),
        ("  ", "US", ""),
    ],
)
def test_a_number_is_stored_in_e164_read_in_the_clinics_country(typed, region, stored):
    assert phone_e164(typed, region=region) == stored


@pytest.mark.parametrize("typed", ["555-0100", "1", "call me", AUSTRALIA, "+1 555 0100"])
def test_an_invalid_number_is_refused_with_a_message(typed):
    with pytest.raises(ValidationError) as refused:
        phone_e164(typed, region="US")
    assert refused.value.messages == [
        "Enter a valid phone number: with its country code (+1 312 555 0100), or as dialled "
        "in the clinic's country (US)."
    ]


# --- the STOP webhook's matching -----------------------------------------------------------------


def test_a_stop_from_another_country_does_not_opt_out_a_patient_with_the_same_digits(
    clinic, other_clinic
):
    texting = PatientFactory(clinic=clinic, phone="+13125550100", reminder_consent_sms=True)
    other_clinic.phone_region = "AU"
    other_clinic.save()
    abroad = PatientFactory(clinic=other_clinic, phone="+61395550100", reminder_consent_sms=True)

    assert patients_sms_opt(phone=AUSTRALIA, opted_out=True, now=NOW) == 0
    assert patients_sms_opt(phone="+61 3 9555 0100", opted_out=True, now=NOW) == 1

    texting.refresh_from_db()
    abroad.refresh_from_db()
    assert texting.sms_opted_out_at is None
    assert abroad.sms_opted_out_at == NOW


def test_a_stop_opts_out_every_patient_with_exactly_that_number(clinic, other_clinic):
    # A family phone shared by two patients, at two clinics.
    one = PatientFactory(clinic=clinic, phone="+13125550100")
    two = PatientFactory(clinic=other_clinic, phone="+13125550100")
    PatientFactory(clinic=clinic, phone="+13125550101")

    assert patients_sms_opt(phone="+13125550100", opted_out=True, now=NOW) == 2
    assert {p.pk for p in Patient.objects.filter(sms_opted_out_at=NOW)} == {one.pk, two.pk}


# --- the admin's patient form --------------------------------------------------------------------


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def admin_patient_form(clinic, phone: str) -> dict:
    return {
        "clinic": clinic.pk,
        "record_number": "RR-2001",
        "first_name": "Dana",
        "last_name": "Reyes",
        "phone": phone,
        "email": "",
        "preferred_language": "en",
        "reminder_time": "09:00",
        "message_style": "clinic",
        "enrollments-TOTAL_FORMS": "0",
        "enrollments-INITIAL_FORMS": "0",
        "enrollments-MIN_NUM_FORMS": "0",
        "enrollments-MAX_NUM_FORMS": "1000",
    }


def test_a_national_number_typed_in_the_admin_at_a_us_clinic_is_stored_in_e164(
    client, superuser, clinic
):
    client.force_login(superuser)
    response = client.post(
        reverse("admin:patients_patient_add"), admin_patient_form(clinic, "(312) 555-0100")
    )

    assert response.status_code == 302, response.content
    assert Patient.objects.get(record_number="RR-2001").phone == "+13125550100"


def test_an_invalid_number_in_the_admin_is_a_form_error_and_saves_nothing(
    client, superuser, clinic
):
    client.force_login(superuser)
    response = client.post(
        reverse("admin:patients_patient_add"), admin_patient_form(clinic, "555-0100")
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["phone"] == [
        "Enter a valid phone number: with its country code (+1 312 555 0100), or as dialled "
        "in the clinic's country (US)."
    ]
    assert not Patient.objects.filter(record_number="RR-2001").exists()


def test_a_clinic_abroad_reads_national_numbers_in_its_own_country(client, superuser):
    melbourne = ClinicFactory(slug="melbourne", time_zone="Australia/Melbourne", phone_region="AU")
    client.force_login(superuser)
    client.post(
        reverse("admin:patients_patient_add"), admin_patient_form(melbourne, "03 9555 0100")
    )

    assert Patient.objects.get(record_number="RR-2001").phone == "+61395550100"


def test_the_clinics_country_is_set_in_the_admin_and_checked(client, superuser, clinic):
    client.force_login(superuser)
    url = reverse("admin:cmtracker_clinic_change", args=[clinic.pk])
    page = client.get(url)
    assert b'name="phone_region"' in page.content

    form = page.context["adminform"].form.initial
    data = {k: v for k, v in form.items() if v is not None}
    data.update(phone_region="XX", test_weekdays="[0, 2, 4]")
    response = client.post(url, data)
    assert "phone_region" in response.context["adminform"].form.errors


# --- the data migration --------------------------------------------------------------------------


def test_the_migration_writes_stored_numbers_in_e164_and_reports_what_it_cannot_read(
    clinic, other_clinic
):
    migration = importlib.import_module("patients.migrations.0006_patient_phone_e164")
    other_clinic.phone_region = "MX"
    other_clinic.save()
    national = PatientFactory(clinic=clinic, phone="(312) 555-0100")
    spaced = PatientFactory(clinic=clinic, phone="+1 213 555 0104")
    mexican = PatientFactory(clinic=other_clinic, phone="55 1234 5678")
    done = PatientFactory(clinic=clinic, phone="+19175550100")
    unreadable = PatientFactory(clinic=clinic, phone="555-0100", record_number="RR-0404")
    none = PatientFactory(clinic=clinic, phone="")

    out = io.StringIO()
    changed, left = migration.patient_phones_to_e164(apps, None, out=out)

    stored = dict(Patient.objects.values_list("pk", "phone"))
    assert stored[national.pk] == "+13125550100"
    assert stored[spaced.pk] == "+12135550104"
    assert stored[mexican.pk] == "+525512345678"
    assert stored[done.pk] == "+19175550100"
    assert stored[unreadable.pk] == "555-0100"  # left as it was, for staff to correct
    assert stored[none.pk] == ""
    assert changed == 3
    assert [p.pk for p in left] == [unreadable.pk]
    report = out.getvalue()
    assert "3 written in E.164; 1 left as they were" in report
    assert f"patient {unreadable.pk}, record RR-0404 at clinic riverside" in report
    assert "555-0100" not in report  # the report names patients, not their numbers
