"""`manage.py demo_data`, loaded once for this module: the clinic, its staff, today's patients and
six months of the program's past, as the dashboard reads them.

The demo records ~550 tests through the services, too slow to load per test: one load, on a
pinned Tuesday in the clinic's time zone, shared by every test here; each test runs in its own
savepoint on top of it and is rolled back.
"""

from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import transaction
from django.db.models import Count, F, Sum
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from cmtracker.models import Clinic, Membership, User
from messaging.models import Notification
from patients.models import Attendance, Correction, Enrollment, Patient, Specimen
from patients.permissions import report_clinics
from rewards.management.commands.demo_data import PAST, ROSTER
from rewards.models import CatalogItem, PrizeDraw, Redemption, StockMovement
from tests.factories import ClinicFactory, PatientFactory
from tests.rewards.test_demo_data import assert_todays_board
from vouchers.models import LedgerEntry, Protocol, Wallet
from vouchers.reports import measures
from vouchers.reports.selectors import clinic_enrollments, clinic_measures, report_enrollments

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

LOS_ANGELES = ZoneInfo("America/Los_Angeles")
LOADED_AT = datetime(2026, 6, 16, 9, 0, tzinfo=LOS_ANGELES)  # a Tuesday
FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def demo_data(*args) -> str:
    out = StringIO()
    call_command("demo_data", *args, stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def loaded(django_db_setup, django_db_blocker):
    """The demo loaded once, in a transaction rolled back after the module's last test."""
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHER):
        with transaction.atomic():
            with time_machine.travel(LOADED_AT, tick=False):
                out = demo_data()
            yield out
            transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def _at_load_time(loaded, settings):
    settings.PASSWORD_HASHERS = FAST_HASHER
    with time_machine.travel(LOADED_AT + timedelta(minutes=5), tick=False):
        yield


def current():
    return Enrollment.objects.filter(status=Enrollment.Status.ACTIVE)


def ended():
    return Enrollment.objects.exclude(status__in=Enrollment.OPEN_STATUSES)


def test_it_loads_a_clinic_with_staff_and_enrolled_patients_with_history(loaded):
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
    assert "Demo logins (password: cmtracker-demo)" in loaded
    for login in ("admin", "counselor1", "counselor2", "supervisor", "operator", "patient1"):
        assert login in loaded


def assert_staff(clinic):
    roles = dict(clinic.memberships.values_list("user__username", "role"))
    assert roles == {
        "admin": "admin",
        "counselor1": "counselor",
        "counselor2": "counselor",
        "supervisor": "supervisor",
    }
    admin = User.objects.get(username="admin")
    assert admin.is_staff and not admin.is_superuser and admin.check_password("cmtracker-demo")
    assert admin.has_perms(["cmtracker.change_clinic", "patients.view_patient"])
    assert not admin.has_perm("cmtracker.change_user")
    operator = User.objects.get(username="operator")
    assert operator.is_superuser and not operator.memberships.exists()
    assert User.objects.get(username="counselor1").is_staff
    supervisor = User.objects.get(username="supervisor")
    assert not supervisor.is_staff and not supervisor.is_superuser
    assert supervisor.check_password("cmtracker-demo")


def assert_patients(clinic):
    patients = Patient.objects.filter(clinic=clinic)
    assert patients.count() == len(ROSTER) + len(PAST) == 32
    today = patients.filter(enrollments__status="active")
    assert today.count() == 12
    assert {p.preferred_language for p in patients} == {"en", "es"}
    in_use = Enrollment.objects.values_list("protocol_id", flat=True)
    protocols = set(Protocol.objects.filter(pk__in=in_use).values_list("slug", flat=True))
    assert protocols == {"higgins-1994", "silverman-1996", "ca-rip", "petry-fishbowl", "va-prize"}
    portal = patients.exclude(user=None).values_list("user__username", flat=True)
    assert sorted(portal) == ["patient1", "patient2"]
    assert len(set(patients.values_list("phone", flat=True))) == patients.count()


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
    weeks_back = {(today - e.start_date).days // 7 for e in current()}
    assert min(weeks_back) >= 3 and max(weeks_back) <= 10
    assert not ended().filter(end_date__gte=today).exists()
    for model, field in (
        (LedgerEntry, "created_at"),
        (Redemption, "requested_at"),
        (Redemption, "handed_over_at"),
        (PrizeDraw, "drawn_at"),
        (StockMovement, "at"),
    ):
        assert not model.objects.filter(**{f"{field}__gt": now}).exists(), (model, field)


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
    was entered - today's patients' cups minutes after collection, a few of the past's the next
    morning or days later - not the moment the demo was loaded."""
    for specimen in Specimen.objects.filter(enrollment__in=current()):
        assert specimen.recorded_at == specimen.collected_at + timedelta(minutes=12)
    assert not Specimen.objects.filter(recorded_at__lt=F("collected_at")).exists()
    entered = {
        *Specimen.objects.values_list("recorded_at", flat=True),
        *Attendance.objects.values_list("recorded_at", flat=True),
        *Correction.objects.values_list("changed_at", flat=True),
    }
    entries = LedgerEntry.objects.exclude(specimen=None).select_related("specimen")
    for entry in entries:
        assert entry.created_at in entered, entry
        assert entry.created_at >= entry.specimen.collected_at, entry
    assert len({clinic.local_date(e.created_at) for e in entries}) > 100


def assert_the_portal_patients_get_reminders():
    for login in ("patient1", "patient2"):
        patient = Patient.objects.select_related("user").get(user__username=login)
        assert patient.phone and patient.email
        assert patient.reminder_consent_sms and patient.reminder_consent_email
        assert patient.reminder_evening_before
        enrollment = patient.enrollments.get()
        # The weekly group, the day after each week's start, is their session day.
        assert enrollment.session_weekdays == [(enrollment.start_date.weekday() + 1) % 7]
    # Months of history were loaded before anyone consented: nobody hears about them now.
    assert not Notification.objects.exists()


def test_on_a_tuesday_today_has_someone_due_and_someone_overdue(client):
    assert_todays_board(client, timezone.localtime(timezone.now(), LOS_ANGELES))


# --- the program's past, as the dashboard reads it ---------------------------------------------


def records() -> dict[int, measures.Enrollment]:
    """Every enrollment of the clinic as the measures read it, by enrollment id."""
    chosen = clinic_enrollments(clinic=Clinic.objects.get()).order_by("pk")
    read = report_enrollments(enrollments=chosen)
    return dict(zip(chosen.values_list("pk", flat=True), read, strict=True))


def weeks(record, first, last):
    """The record's tests and sessions of enrollment weeks first..last."""
    return measures.within(
        record,
        record.start + timedelta(weeks=first - 1),
        record.start + timedelta(weeks=last, days=-1),
    )


def test_six_months_of_ended_enrollments_with_completers_and_early_dropouts():
    clinic = Clinic.objects.get()
    today = clinic.local_date(timezone.now())
    assert Enrollment.objects.count() == 32
    assert ended().count() == 20
    oldest = Enrollment.objects.order_by("start_date").first().start_date
    assert 24 * 7 <= (today - oldest).days <= 28 * 7
    by_status = dict(ended().values_list("status").annotate(n=Count("id")))
    assert by_status == {"completed": 8, "withdrawn": 12}

    read = records()
    completed = [read[pk] for pk in ended().filter(status="completed").values_list("pk", flat=True)]
    assert all(measures.retention_weeks(r) >= r.weeks == 12 for r in completed)
    withdrawn = [read[pk] for pk in ended().filter(status="withdrawn").values_list("pk", flat=True)]
    dropped_in_first_month = [r for r in withdrawn if measures.retention_weeks(r) <= 4]
    assert len(dropped_in_first_month) >= 8
    # Nobody who left is on Today: their enrollments ended before today.
    assert all(e.end_date < today for e in ended())


def test_the_negative_rate_rises_from_the_first_weeks_to_the_last_among_those_retained():
    everyone = list(records().values())

    early = measures.negative_samples(weeks(r, 1, 2) for r in everyone).value
    late = measures.negative_samples(weeks(r, 9, 12) for r in everyone).value

    assert 0.35 <= early <= 0.55
    assert 0.7 <= late <= 0.85
    clinic = Clinic.objects.get()
    today = clinic.local_date(timezone.now())
    result = clinic_measures(clinic=clinic, first=today - timedelta(days=200), last=today)
    assert result.enrollments == 32
    assert 0.55 <= result.negative_samples.value <= 0.75
    assert result.completion == measures.Ratio(8, 32)
    curve = dict(result.retention_curve)
    assert curve[1].value > curve[4].value > curve[12].value > 0


def test_longest_abstinence_spreads_and_most_rewards_are_posted_the_same_day():
    everyone = list(records().values())
    lda = sorted(measures.longest_abstinence(r).weeks for r in everyone)
    assert lda[0] == 0 and lda[-1] >= 8 and len(set(lda)) >= 6

    clinic = Clinic.objects.get()
    today = clinic.local_date(timezone.now())
    result = clinic_measures(clinic=clinic, first=today - timedelta(days=200), last=today)
    assert 0.9 <= result.immediacy.same_day.value < 1
    assert result.immediacy.median == timedelta(minutes=12)
    assert 0 < result.late_results.value < 0.05
    assert 0.7 <= result.attendance.value <= 0.9


def test_the_past_has_prizes_redemptions_adjustments_and_corrections_with_reasons():
    bowls = Protocol.objects.filter(slug__in=("petry-fishbowl", "va-prize"))
    prize = ended().filter(protocol_id__in=bowls.values("pk"))
    drawn = PrizeDraw.objects.filter(enrollment__in=prize)
    assert drawn.count() > 100
    assert drawn.exclude(claimed_item=None).exists()
    assert (
        not PrizeDraw.objects.exclude(enrollment__in=prize)
        .filter(enrollment__status="active")
        .exists()
    )  # today's prize patients have their draws still to make

    handed = Redemption.objects.filter(status="handed_over")
    assert handed.count() >= 15
    assert all(r.requested_at < r.decided_at < r.handed_over_at for r in handed)
    assert handed.filter(decided_at__gte=F("requested_at") + timedelta(hours=12)).exists()
    assert not Redemption.objects.filter(status__in=Redemption.OPEN).exists()

    adjustments = LedgerEntry.objects.filter(kind="adjustment")
    assert adjustments.count() == 2 and all(a.reason.strip() for a in adjustments)
    corrections = Correction.objects.filter(specimen__enrollment__in=ended())
    assert corrections.count() == 3 and all(c.reason.strip() for c in corrections)
    assert Specimen.objects.filter(enrollment__in=ended(), status="excused").count() == 2
    assert CatalogItem.objects.filter(stock__lt=0).count() == 0


def test_running_it_again_adds_nothing_and_moves_no_balance():
    before = snapshot()

    out = demo_data()

    assert snapshot() == before
    assert "nothing new" in out
    assert "Demo logins (password: cmtracker-demo)" in out


def snapshot() -> dict:
    """Everything a rerun must leave alone: row counts, every wallet and every stock."""
    models = (
        User,
        Membership,
        Patient,
        Enrollment,
        Specimen,
        Attendance,
        Correction,
        LedgerEntry,
        PrizeDraw,
        Redemption,
        StockMovement,
    )
    return {
        "counts": {m.__name__: m.objects.count() for m in models},
        "wallets": list(
            Wallet.objects.order_by("patient_id").values_list(
                "patient_id", "balance_cents", "overpayment_cents", "draws_available"
            )
        ),
        "stock": list(CatalogItem.objects.order_by("pk").values_list("pk", "stock")),
        "statuses": list(Enrollment.objects.order_by("pk").values_list("status", "end_date")),
    }


def test_the_demo_administrator_sees_only_the_demo_clinic_in_the_django_admin(client):
    elsewhere = ClinicFactory(name="Hillside Health", slug="hillside")
    outsider = PatientFactory(clinic=elsewhere, last_name="Elsewhere")
    patients = reverse("admin:patients_patient_changelist")

    client.force_login(User.objects.get(username="admin"))
    listed = client.get(patients).context["cl"].result_list
    assert {p.clinic.slug for p in listed} == {"riverside"} and len(listed) == 32
    assert client.get(reverse("admin:cmtracker_clinic_changelist")).context["cl"].result_list[
        :
    ] == [Clinic.objects.get(slug="riverside")]
    outsiders_page = reverse("admin:patients_patient_change", args=[outsider.pk])
    assert client.get(outsiders_page).status_code == 302  # "doesn't exist"
    assert client.get(reverse("admin:auth_group_changelist")).status_code == 403

    client.force_login(User.objects.get(username="operator"))
    assert outsider in client.get(patients).context["cl"].result_list
    assert client.get(outsiders_page).status_code == 200


def sign_in(client, username):
    out = StringIO()
    call_command("demo_code", stdout=out)
    client.post("/accounts/login/", {"username": username, "password": "cmtracker-demo"})
    return client.post("/accounts/two-factor/", {"code": out.getvalue().strip()})


def test_a_demo_counselor_signs_in_with_the_password_and_the_printed_code(client):
    response = sign_in(client, "counselor1")

    assert response.status_code == 302
    assert client.get("/today/").status_code == 200


def test_the_demo_supervisor_signs_in_with_a_second_factor_and_reads_the_reports(client):
    clinic = Clinic.objects.get()
    supervisor = User.objects.get(username="supervisor")
    assert report_clinics(supervisor) == [clinic]

    client.post("/accounts/login/", {"username": "supervisor", "password": "cmtracker-demo"})
    measures_url = f"/api/v1/reports/clinics/{clinic.pk}/measures/"
    assert client.get(measures_url).status_code != 200  # the password alone is not enough
    response = sign_in(client, "supervisor")

    assert response.status_code == 302
    today = clinic.local_date(timezone.now())
    answer = client.get(measures_url, {"first": today - timedelta(days=180), "last": today})
    assert answer.status_code == 200
    assert answer.json()["enrollments"] == 32
