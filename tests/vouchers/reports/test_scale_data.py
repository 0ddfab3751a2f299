"""report_scale_data: a large clinic loaded in bulk whose ledger is what settlement would post."""

from datetime import date, timedelta

import pytest
from django.core.management import CommandError, call_command

from cmtracker.models import Clinic
from patients.models import Attendance, Enrollment, Specimen
from vouchers.models import LedgerEntry
from vouchers.selectors import ledger_verify
from vouchers.settlement import enrollment_settle

TODAY = date(2026, 12, 1)

pytestmark = pytest.mark.django_db


def load(slug="scale", enrollments=30, results=20, seed=14):
    call_command(
        "report_scale_data",
        enrollments=enrollments,
        results=results,
        seed=seed,
        slug=slug,
        today=TODAY,
        stdout=open("/dev/null", "w"),  # noqa: SIM115 - the summary is not the point here
    )
    return Clinic.objects.get(slug=slug)


def outcomes(clinic):
    rows = Specimen.objects.filter(enrollment__patient__clinic=clinic)
    return list(
        rows.order_by("enrollment__patient__record_number", "collected_at").values_list(
            "outcome", "missed_day"
        )
    )


def test_it_loads_every_enrollment_with_its_results_before_today():
    clinic = load()
    enrollments = Enrollment.objects.filter(patient__clinic=clinic)
    specimens = Specimen.objects.filter(enrollment__patient__clinic=clinic)
    assert enrollments.count() == 30
    assert specimens.count() == 30 * 20
    assert all(
        clinic.local_date(at) < TODAY - timedelta(days=1)
        for at in specimens.values_list("collected_at", flat=True)
    )
    assert Attendance.objects.filter(enrollment__patient__clinic=clinic).exists()
    # A mix of outcomes, some auto-marked by the round, some entered more than a day late.
    assert {o for o, _ in outcomes(clinic)} >= {"N", "P", "M"}
    assert specimens.filter(missed_day__isnull=False).exists()


def test_its_ledger_is_what_settlement_posts_and_every_wallet_equals_it():
    clinic = load()
    assert LedgerEntry.objects.filter(patient__clinic=clinic).exists()
    assert ledger_verify() == []
    for enrollment in Enrollment.objects.filter(patient__clinic=clinic):
        assert enrollment_settle(enrollment=enrollment).posted == []


def test_it_gives_the_same_history_for_the_same_seed():
    first = outcomes(load(slug="one"))
    assert outcomes(load(slug="two")) == first
    assert outcomes(load(slug="three", seed=15)) != first


def test_it_refuses_a_second_load_of_the_same_clinic():
    load()
    with pytest.raises(CommandError, match="already loaded"):
        load()
    assert Enrollment.objects.filter(patient__clinic__slug="scale").count() == 30
