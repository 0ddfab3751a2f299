"""`manage.py demo_data`: a believable clinic, recorded through the services, loaded once."""

from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from cmtracker.models import Clinic, Membership, User
from messaging.models import Notification
from patients.models import Attendance, Correction, Enrollment, Patient, Specimen
from tests.factories import ClinicFactory, PatientFactory
from vouchers.models import LedgerEntry, Protocol, Wallet
from vouchers.views.record import today_boards

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # The demo hashes five passwords; the default hasher's deliberate slowness is not the point.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def demo_data(*args) -> str:
    out = StringIO()
    call_command("demo_data", *args, stdout=out)
    return out.getvalue()


def snapshot() -> dict:
    """Everything a rerun must leave alone: row counts and every wallet."""
    models = (User, Membership, Patient, Enrollment, Specimen, Attendance, Correction, LedgerEntry)
    return {
        "counts": {m.__name__: m.objects.count() for m in models},
        "wallets": list(
            Wallet.objects.order_by("patient_id").values_list(
                "patient_id", "balance_cents", "overpayment_cents", "draws_available"
            )
        ),
    }


def test_it_loads_a_clinic_with_staff_and_enrolled_patients_with_history():
    # One load checked from every side: each run records ~190 tests through the services, too
    # slow to repeat per assertion.
    out = demo_data()

    clinic = Clinic.objects.get()
    assert (clinic.slug, clinic.name, clinic.time_zone) == (
        "riverside",
        "Riverside Recovery",
        "America/Los_Angeles",
    )
    assert_staff(clinic)
    assert_patients(clinic)
    assert_history()
    assert_nothing_in_the_future(clinic)
    assert_every_wallet_equals_its_ledger()
    assert_ledger_times_follow_the_test_days(clinic)
    assert_the_portal_patients_get_reminders()
    assert "Demo logins (password: cmtracker-demo)" in out
    for login in ("admin", "counselor1", "counselor2", "operator", "patient1", "patient2"):
        assert login in out


def assert_staff(clinic):
    roles = dict(clinic.memberships.values_list("user__username", "role"))
    assert roles == {"admin": "admin", "counselor1": "counselor", "counselor2": "counselor"}
    admin = User.objects.get(username="admin")
    assert admin.is_staff and not admin.is_superuser and admin.check_password("cmtracker-demo")
    assert admin.has_perms(["cmtracker.change_clinic", "patients.view_patient"])
    assert not admin.has_perm("cmtracker.change_user")
    operator = User.objects.get(username="operator")
    assert operator.is_superuser and not operator.memberships.exists()
    assert User.objects.get(username="counselor1").is_staff


def assert_patients(clinic):
    patients = Patient.objects.filter(clinic=clinic)
    assert patients.count() == 12
    assert {p.preferred_language for p in patients} == {"en", "es"}
    assert all(p.enrollments.filter(status="active").exists() for p in patients)
    in_use = Enrollment.objects.values_list("protocol_id", flat=True)
    protocols = set(Protocol.objects.filter(pk__in=in_use).values_list("slug", flat=True))
    assert protocols == {"higgins-1994", "silverman-1996", "ca-rip", "petry-fishbowl", "va-prize"}
    portal = patients.exclude(user=None).values_list("user__username", flat=True)
    assert sorted(portal) == ["patient1", "patient2"]


def assert_history():
    assert Specimen.objects.filter(outcome="P").exists()
    assert Specimen.objects.filter(outcome="M").exists()
    excused = Specimen.objects.filter(status="excused")
    assert excused.exists() and all(s.notes.strip() for s in excused)
    assert Correction.objects.filter(specimen__isnull=False).exclude(reason="").exists()
    assert LedgerEntry.objects.filter(kind="earn").exists()
    assert LedgerEntry.objects.filter(kind="draws").exists()


def assert_nothing_in_the_future(clinic):
    now = timezone.now()
    today = clinic.local_date(now)
    assert not Specimen.objects.filter(collected_at__gt=now).exists()
    assert not Attendance.objects.filter(occurred_at__gt=now).exists()
    assert not Enrollment.objects.filter(start_date__gt=today).exists()
    weeks_back = {(today - e.start_date).days // 7 for e in Enrollment.objects.all()}
    assert min(weeks_back) >= 3 and max(weeks_back) <= 10


def assert_every_wallet_equals_its_ledger():
    for wallet in Wallet.objects.all():
        sums = LedgerEntry.objects.filter(patient_id=wallet.patient_id).aggregate(
            balance=Sum("amount_cents"), owed=Sum("overpayment_cents"), draws=Sum("draws")
        )
        assert (wallet.balance_cents, wallet.overpayment_cents, wallet.draws_available) == (
            sums["balance"] or 0,
            sums["owed"] or 0,
            sums["draws"] or 0,
        )
    assert Wallet.objects.filter(balance_cents__gt=0).exists()


def assert_ledger_times_follow_the_test_days(clinic):
    """Each ledger entry carries the moment the result (or session, or correction) that moved it
    was entered - a cup minutes after it was collected - not the moment the demo was loaded."""
    for specimen in Specimen.objects.all():
        assert specimen.recorded_at == specimen.collected_at + timedelta(minutes=12)
    entered = {
        *Specimen.objects.values_list("recorded_at", flat=True),
        *Attendance.objects.values_list("recorded_at", flat=True),
        *Correction.objects.values_list("changed_at", flat=True),
    }
    entries = LedgerEntry.objects.exclude(specimen=None).select_related("specimen")
    for entry in entries:
        assert entry.created_at in entered, entry
        assert entry.created_at >= entry.specimen.collected_at, entry
    assert len({clinic.local_date(e.created_at) for e in entries}) > 20
    assert not LedgerEntry.objects.filter(created_at__gt=timezone.now()).exists()


def assert_the_portal_patients_get_reminders():
    for login in ("patient1", "patient2"):
        patient = Patient.objects.select_related("user").get(user__username=login)
        assert patient.phone and patient.email
        assert patient.reminder_consent_sms and patient.reminder_consent_email
        assert patient.reminder_evening_before
        enrollment = patient.enrollments.get()
        # The weekly group, the day after each week's start, is their session day.
        assert enrollment.session_weekdays == [(enrollment.start_date.weekday() + 1) % 7]
    # Weeks of history were loaded before anyone consented: nobody hears about them now.
    assert not Notification.objects.exists()


LOS_ANGELES = ZoneInfo("America/Los_Angeles")


@pytest.mark.parametrize(
    "now",
    [
        datetime(2027, 3, 16, 9, 0, tzinfo=LOS_ANGELES),  # a Tuesday
        datetime(2026, 12, 6, 9, 0, tzinfo=LOS_ANGELES),  # a Sunday
    ],
    ids=lambda now: now.strftime("%A"),
)
def test_whatever_the_day_today_has_someone_due_and_someone_overdue(client, now):
    with time_machine.travel(now, tick=False):
        demo_data()
        client.force_login(User.objects.get(username="counselor1"))
        page = client.get("/today/").content.decode()
        (board,) = today_boards([Clinic.objects.get()], timezone.now())

    assert len(board.due) >= 5 and not board.seen
    (overdue,) = board.overdue
    assert overdue.patient.last_name == "Castillo"
    assert overdue.overdue_day == now.date() - timedelta(days=2)
    assert "Castillo" in page and f"{len(board.due)} due · 1 overdue · 0 seen" in page


def test_running_it_again_adds_nothing_and_moves_no_balance():
    demo_data()
    before = snapshot()

    out = demo_data()

    assert snapshot() == before
    assert "nothing new" in out
    assert "Demo logins (password: cmtracker-demo)" in out


def test_the_demo_administrator_sees_only_the_demo_clinic_in_the_django_admin(client):
    demo_data()
    elsewhere = ClinicFactory(name="Hillside Health", slug="hillside")
    outsider = PatientFactory(clinic=elsewhere, last_name="Elsewhere")
    patients = reverse("admin:patients_patient_changelist")

    client.force_login(User.objects.get(username="admin"))
    listed = client.get(patients).context["cl"].result_list
    assert {p.clinic.slug for p in listed} == {"riverside"} and len(listed) == 12
    assert client.get(reverse("admin:cmtracker_clinic_changelist")).context["cl"].result_list[
        :
    ] == [Clinic.objects.get(slug="riverside")]
    outsiders_page = reverse("admin:patients_patient_change", args=[outsider.pk])
    assert client.get(outsiders_page).status_code == 302  # "doesn't exist"
    assert client.get(reverse("admin:auth_group_changelist")).status_code == 403

    client.force_login(User.objects.get(username="operator"))
    assert outsider in client.get(patients).context["cl"].result_list
    assert client.get(outsiders_page).status_code == 200


def test_it_refuses_a_production_database_without_force(settings):
    settings.PRODUCTION = True

    with pytest.raises(CommandError, match="--force"):
        demo_data()

    assert not Clinic.objects.exists()


def test_a_demo_counselor_signs_in_with_the_password_and_the_printed_code(client):
    demo_data()
    out = StringIO()
    call_command("demo_code", stdout=out)
    code = out.getvalue().strip()

    client.post("/accounts/login/", {"username": "counselor1", "password": "cmtracker-demo"})
    response = client.post("/accounts/two-factor/", {"code": code})

    assert response.status_code == 302
    assert client.get("/today/").status_code == 200


def test_the_demo_code_is_refused_in_production(settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="not in production"):
        call_command("demo_code", stdout=StringIO())
