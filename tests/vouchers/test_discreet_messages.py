"""Discreet messages: what a lock screen or an inbox preview shows says nothing of treatment.

A patient's texts and emails either name the clinic, the test and what it earns (detailed) or say
only "Reminder for today (before 5 p.m.)." (discreet). The clinic chooses for every patient who
leaves it to the clinic (discreet unless it says otherwise); each patient may choose for
themself, and a new patient leaves it to the clinic. The clinic is Riverside Recovery
(America/Chicago); the Higgins enrollment starts Monday 2026-01-05, so Mondays, Wednesdays and
Fridays are test days.
"""

import html
import re
from datetime import date, time, timedelta

import pytest
from django.urls import reverse
from django.utils.html import strip_tags
from rest_framework.test import APIClient

from cmtracker.models import Clinic
from messaging.models import Notification
from patients.models import Patient
from rewards.catalog import catalog_item_create
from rewards.models import CatalogItem
from rewards.redemptions import redemption_approve, redemption_request
from tests.conftest import at, protocol
from tests.factories import EnrollmentFactory, UserFactory
from vouchers import recording
from vouchers.reminders import reminders_queue

SUNDAY = date(2026, 1, 11)
MONDAY = SUNDAY + timedelta(days=1)
TUESDAY = MONDAY + timedelta(days=1)

DISCREET, DETAILED, CLINIC = "discreet", "detailed", "clinic"

# Words that would say what the message is about, in either language: the clinic, a test or a
# result, a drug, a session, a reward or an amount.
GIVEAWAYS = [
    "riverside",
    "recovery",
    "clinic",
    "clínica",
    "test",
    "prueba",
    "negativ",
    "positiv",
    "cocaine",
    "cocaína",
    "drug",
    "droga",
    "urine",
    "orina",
    "session",
    "sesión",
    "therapy",
    "terapia",
    "treatment",
    "tratamiento",
    "reward",
    "recompensa",
    "prize",
    "premio",
    "draw",
    "sorteo",
    "earn",
    "gana",
    "voucher",
    "vale",
    "balance",
    "saldo",
    "$",
    "bus pass",
    "grocery",
]


def giveaways(text: str) -> list[str]:
    return [word for word in GIVEAWAYS if word in text.lower()]


def moment(clinic, day, hour, minute=0):
    return at(clinic, day, hour).replace(minute=minute)


def reachable(patient, *, style, language="en"):
    patient.phone = "+1 312 555 0101"
    patient.email = "pat@example.com"
    patient.reminder_consent_sms = True
    patient.reminder_consent_email = True
    patient.reminder_evening_before = True
    patient.message_style = style
    patient.preferred_language = language
    patient.save()
    return patient


def every_message(patient, clinic, clinic_admin, counselor):
    """Every kind of message a patient gets, by both channels: the evening before a test day, a
    test day, a session day, what a negative test earned, prize draws earned, an order ready."""
    EnrollmentFactory(
        patient=patient,
        protocol=protocol("higgins-1994"),
        start_date=date(2026, 1, 5),
        session_weekdays=[1],
    )
    reminders_queue(now=moment(clinic, SUNDAY, 18))
    reminders_queue(now=moment(clinic, MONDAY, 9))
    recording.specimen_record(
        patient=patient, collected_at=at(clinic, MONDAY), results={"cocaine": "negative"}
    )
    reminders_queue(now=moment(clinic, TUESDAY, 9))
    bus = catalog_item_create(
        clinic=clinic,
        name="Bus pass",
        price_cents=100,
        category=CatalogItem.Category.TRANSPORT,
        actor=clinic_admin,
    )
    redemption = redemption_request(patient=patient, items=[(bus, 1)], requested_by=counselor)
    redemption_approve(redemption=redemption, actor=counselor)
    return list(Notification.objects.filter(patient=patient).order_by("kind", "channel"))


# --- what the discreet wording says, and does not ------------------------------------------------


@pytest.mark.parametrize("language", ["en", "es"])
def test_no_discreet_message_names_the_clinic_a_test_a_drug_a_reward_or_an_amount(
    clinic, patient, clinic_admin, counselor, language
):
    reachable(patient, style=DISCREET, language=language)

    sent = every_message(patient, clinic, clinic_admin, counselor)

    kinds = {n.kind for n in sent}
    assert kinds == {"evening_reminder", "test_reminder", "award", "reward_ready"}
    assert {n.channel for n in sent} == {"sms", "email"}
    for message in sent:
        assert giveaways(message.body) == [], (message.kind, message.body)
        assert giveaways(message.subject) == [], (message.kind, message.subject)


def test_the_discreet_texts_in_english(clinic, patient, clinic_admin, counselor):
    reachable(patient, style=DISCREET)

    sent = every_message(patient, clinic, clinic_admin, counselor)

    texts = {(n.kind, n.body) for n in sent if n.channel == "sms"}
    stop = "Reply STOP to stop these texts."
    assert texts == {
        ("evening_reminder", f"Reminder for tomorrow, Monday, January 12. {stop}"),
        ("test_reminder", f"Reminder for today (before 5 p.m.). {stop}"),  # Monday's test
        ("award", f"Your account has been updated. Sign in to see it. {stop}"),
        ("reward_ready", f"Your order is ready for pickup. {stop}"),
    }
    subjects = {(n.kind, n.subject) for n in sent if n.channel == "email"}
    assert subjects == {
        ("evening_reminder", "Reminder for tomorrow"),
        ("test_reminder", "Reminder for today"),
        ("award", "Your account has been updated"),
        ("reward_ready", "Your order is ready for pickup"),
    }


def test_the_discreet_texts_in_spanish(clinic, patient, clinic_admin, counselor):
    reachable(patient, style=DISCREET, language="es")

    sent = every_message(patient, clinic, clinic_admin, counselor)

    texts = {(n.kind, n.body) for n in sent if n.channel == "sms"}
    stop = "Responde STOP para dejar de recibir estos mensajes."
    assert texts == {
        ("evening_reminder", f"Recordatorio para mañana, lunes 12 de enero. {stop}"),
        ("test_reminder", f"Recordatorio para hoy (antes de las 17:00). {stop}"),
        ("award", f"Tu cuenta se ha actualizado. Entra para verla. {stop}"),
        ("reward_ready", f"Tu pedido está listo para recoger. {stop}"),
    }
    subjects = {n.subject for n in sent if n.channel == "email"}
    assert subjects == {
        "Recordatorio para mañana",
        "Recordatorio para hoy",
        "Tu cuenta se ha actualizado",
        "Tu pedido está listo para recoger",
    }


def test_a_session_day_reads_like_a_test_day(clinic, patient, enrollment):
    reachable(patient, style=DISCREET)
    enrollment.session_weekdays = [1]
    enrollment.save()

    reminders_queue(now=moment(clinic, TUESDAY, 9))

    [email] = Notification.objects.filter(kind="test_reminder", channel="email")
    assert (email.subject, email.body) == (
        "Reminder for today",
        "Reminder for today (before 5 p.m.).",
    )


def test_prize_draws_earned_are_announced_discreetly(clinic, patient):
    reachable(patient, style=DISCREET)
    fishbowl = protocol("va-prize")
    EnrollmentFactory(patient=patient, protocol=fishbowl, start_date=MONDAY)

    recording.specimen_record(
        patient=patient,
        collected_at=at(clinic, MONDAY),
        results=dict.fromkeys(fishbowl.target_substances, "negative"),
    )

    [email, text] = Notification.objects.filter(kind="award").order_by("channel")
    assert email.body == "Your account has been updated. Sign in to see it."
    assert giveaways(text.body) == []


# --- the detailed wording is what it was ---------------------------------------------------------


def test_the_detailed_texts_are_unchanged(clinic, patient, clinic_admin, counselor):
    reachable(patient, style=DETAILED)

    sent = every_message(patient, clinic, clinic_admin, counselor)

    # Monday's test, not Tuesday's session
    texts = {n.kind: n.body for n in sent if n.channel == "email" and "01-13" not in n.dedupe_key}
    assert texts["evening_reminder"] == (
        "Riverside Recovery: Tomorrow, Monday, January 12, is a test day. "
        "A negative test tomorrow earns $2.50."
    )
    assert texts["test_reminder"] == (
        "Riverside Recovery: Today is a test day. A negative test today earns $2.50. "
        "The clinic is open until 5 p.m. today."
    )
    assert texts["award"] == (
        "Riverside Recovery: You earned $2.50. Your balance is $2.50. "
        "Your next negative test earns $3.75."
    )
    assert (
        texts["reward_ready"]
        == "Riverside Recovery: Your reward is ready for pickup: 1 × Bus pass."
    )


# --- who decides ---------------------------------------------------------------------------------


def test_a_new_patient_leaves_it_to_the_clinic_and_a_new_clinic_is_discreet(db):
    clinic = Clinic.objects.create(name="New Dawn", slug="new-dawn")
    patient = Patient.objects.create(
        clinic=clinic, record_number="N-1", first_name="Nia", last_name="Diaz"
    )

    assert clinic.discreet_messages is True
    assert patient.message_style == CLINIC
    assert patient.discreet_messages is True


@pytest.mark.parametrize(
    ("clinic_discreet", "style", "discreet"),
    [
        (True, CLINIC, True),
        (False, CLINIC, False),
        (True, DETAILED, False),
        (False, DISCREET, True),
    ],
    ids=["clinic-discreet", "clinic-detailed", "patient-detailed", "patient-discreet"],
)
def test_the_patients_choice_overrides_the_clinics(
    clinic, patient, enrollment, clinic_discreet, style, discreet
):
    clinic.discreet_messages = clinic_discreet
    clinic.save()
    reachable(patient, style=style)

    reminders_queue(now=moment(clinic, MONDAY, 9))

    [email, text] = Notification.objects.filter(kind="test_reminder").order_by("channel")
    if discreet:
        assert email.body == "Reminder for today (before 5 p.m.)."
    else:
        assert email.body.startswith("Riverside Recovery: Today is a test day.")
    assert ("$" in text.body) is not discreet


# --- the patient chooses on their reminder settings page ------------------------------------------

SETTINGS = "/me/reminders/"


def page_text(response) -> str:
    return " ".join(html.unescape(strip_tags(response.content.decode())).split())


@pytest.fixture
def signed_in(client, patient, patient_user):
    patient.phone = "+1 312 555 0101"
    patient.message_style = CLINIC
    patient.save()
    client.force_login(patient_user)
    return client


def settings_post(**fields):
    data = {
        "reminder_time": "09:00",
        "preferred_language": "en",
        "reminder_consent_sms": "on",
        "message_style": DETAILED,
    }
    data.update(fields)
    return data


def test_the_settings_page_offers_the_wordings_and_says_what_the_clinic_chose(signed_in, clinic):
    page = page_text(signed_in.get(SETTINGS))

    assert 'Discreet: only "Reminder for today (before 5 p.m.)."' in page
    assert "Detailed: the clinic's name, the test day and what a negative test earns" in page
    assert "As the clinic chooses (now discreet)" in page

    clinic.discreet_messages = False
    clinic.save()
    assert "As the clinic chooses (now detailed)" in page_text(signed_in.get(SETTINGS))


def test_the_patient_switches_to_detailed_and_back(signed_in, patient, clinic, enrollment):
    assert signed_in.post(SETTINGS, settings_post(message_style=DETAILED)).status_code == 302
    patient.refresh_from_db()
    assert patient.message_style == DETAILED
    assert re.search(r'value="detailed"[^>]* checked', signed_in.get(SETTINGS).content.decode())

    reminders_queue(now=moment(clinic, MONDAY, 9))
    [text] = Notification.objects.filter(kind="test_reminder", channel="sms")
    assert text.body.startswith("Riverside Recovery: Today is a test day.")

    assert signed_in.post(SETTINGS, settings_post(message_style=DISCREET)).status_code == 302
    patient.refresh_from_db()
    assert patient.message_style == DISCREET


@pytest.mark.parametrize("style", ["loud", ""])
def test_an_unknown_wording_is_a_form_error_and_nothing_changes(signed_in, patient, style):
    response = signed_in.post(SETTINGS, settings_post(message_style=style, reminder_time="10:00"))

    assert response.status_code == 400
    assert "message_style" in response.context["form"].errors
    patient.refresh_from_db()
    assert (patient.message_style, patient.reminder_time) == (CLINIC, time(9))


# --- staff set it in the API and the admin --------------------------------------------------------


def test_staff_set_a_patients_wording_through_the_api(counselor, patient):
    client = APIClient()
    client.force_authenticate(counselor)

    response = client.patch(
        f"/api/v1/patients/{patient.id}/", {"message_style": DISCREET}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["message_style"] == DISCREET
    patient.refresh_from_db()
    assert patient.discreet_messages
    bad = client.patch(f"/api/v1/patients/{patient.id}/", {"message_style": "loud"}, format="json")
    assert bad.status_code == 400
    assert "message_style" in bad.json()
    [listed] = client.get("/api/v1/patients/").json()["results"]
    assert "message_style" not in listed  # a list shows who is who, not how they are reached


def test_the_admin_edits_the_clinics_and_the_patients_wording(client, clinic, patient):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(root)

    clinic_page = client.get(reverse("admin:cmtracker_clinic_change", args=[clinic.pk]))
    patient_page = client.get(reverse("admin:patients_patient_change", args=[patient.pk]))

    assert 'name="discreet_messages"' in clinic_page.content.decode()
    assert 'name="message_style"' in patient_page.content.decode()


# --- patients already in treatment ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_patients_already_in_treatment_keep_the_detailed_wording():
    """The migration leaves the messages of everyone already enrolled as they were (they change
    them on their settings page); only patients added afterwards follow the clinic's choice."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    graph = executor.loader.graph

    def named(app, suffix):  # found by name, whatever number it is given
        return next(key for key in graph.nodes if key[0] == app and key[1].endswith(suffix))

    adds = [named("cmtracker", "_clinic_discreet_messages"), named("patients", "_message_style")]
    before = [
        next(p.key for p in graph.node_map[key].parents if p.key[0] == key[0]) for key in adds
    ]
    after = [adds[1]]
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        clinic = old.get_model("cmtracker", "Clinic").objects.create(name="Old Town", slug="old")
        old.get_model("patients", "Patient").objects.create(
            clinic=clinic, record_number="O-1", first_name="Ona", last_name="Ruiz"
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    new = executor.loader.project_state(after).apps

    existing = Patient.objects.get(record_number="O-1")
    added = Patient.objects.create(
        clinic_id=existing.clinic_id, record_number="N-1", first_name="Nia", last_name="Diaz"
    )
    assert new.get_model("patients", "Patient").objects.count() == 2
    assert existing.message_style == DETAILED
    assert not existing.discreet_messages
    assert (added.message_style, added.discreet_messages) == (CLINIC, True)
