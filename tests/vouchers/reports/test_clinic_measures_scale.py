"""clinic_measures at scale: the same numbers as the definition, in queries that do not grow.

clinic_measures counts in the database and reads only the range's tests; the reference below is
the definition as docs/reports.md states it: every enrollment read whole by report_enrollments,
cut to the range by measures.within, and measured by measures.py's functions. Generated clinics
(report_scale_data: misses marked by the round, excused marks, late entries, prize and voucher
protocols, sessions) are measured both ways over several ranges.
"""

from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cmtracker.models import Clinic
from vouchers.reports import measures
from vouchers.reports.selectors import (
    ClinicMeasures,
    clinic_enrollments,
    clinic_measures,
    range_measures,
    report_enrollments,
    report_ranges,
)

TODAY = date(2026, 12, 1)

pytestmark = pytest.mark.django_db


def load(slug: str, enrollments: int, results: int, seed: int = 14) -> Clinic:
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


def reference(clinic: Clinic, first: date, last: date) -> ClinicMeasures:
    chosen = clinic_enrollments(clinic=clinic, first=first, last=last)
    return reference_of(report_enrollments(enrollments=chosen), first, last)


def reference_of(whole: list[measures.Enrollment], first: date, last: date) -> ClinicMeasures:
    """The definition: measures.py's functions over whole enrollments and their range."""
    ranged = [measures.within(e, first, last) for e in whole]
    fixed = [e.weeks for e in whole if e.weeks is not None]
    retained = [measures.retention_weeks(e) for e in whole]
    weeks = max(fixed) if fixed else max(retained, default=0)
    abstinence_tests, abstinence_weeks = measures.abstinence_summary(ranged)
    return ClinicMeasures(
        enrollments=len(whole),
        negative_samples=measures.negative_samples(ranged),
        negative_submitted=measures.negative_submitted(ranged),
        abstinence_tests=abstinence_tests,
        abstinence_weeks=abstinence_weeks,
        retention=measures.summary(retained),
        retention_curve=measures.retention_curve(whole, weeks),
        completion=measures.completion(whole),
        attendance=measures.attendance(ranged),
        immediacy=measures.immediacy(ranged),
        late_results=measures.late_results(ranged),
        schedule_kept=measures.schedule_kept(ranged),
    )


RANGES = [
    (TODAY - timedelta(days=89), TODAY),  # the last 90 days
    (date(2026, 7, 1), date(2026, 9, 30)),  # a quarter
    (TODAY - timedelta(days=364), TODAY),  # a year
    (date(2026, 3, 8), date(2026, 3, 8)),  # one day, the spring DST change in Chicago
    (date(2020, 1, 1), date(2020, 12, 31)),  # before anyone enrolled: nothing to count
]


@pytest.mark.parametrize("seed", [14, 15])
def test_it_equals_the_definition_on_generated_clinics(seed):
    clinic = load(f"scale{seed}", enrollments=40, results=40, seed=seed)
    for first, last in RANGES:
        assert clinic_measures(clinic=clinic, first=first, last=last) == reference(
            clinic, first, last
        ), (first, last)


def test_a_group_of_enrollments_is_measured_as_the_definition_measures_it():
    clinic = load("groups", enrollments=40, results=30)
    first, last = RANGES[1]
    chosen = clinic_enrollments(clinic=clinic, first=first, last=last)
    parts = report_ranges(enrollments=chosen, clinic=clinic, first=first, last=last)
    protocols = {p.protocol_id for p in parts}
    assert len(protocols) > 1
    for protocol_id in protocols:
        group = [p for p in parts if p.protocol_id == protocol_id]
        members = report_enrollments(enrollments=chosen.filter(protocol_id=protocol_id))
        assert range_measures(group) == reference_of(members, first, last), protocol_id


def test_another_clinics_record_changes_nothing():
    clinic = load("ours", enrollments=20, results=20)
    first, last = RANGES[0]
    before = clinic_measures(clinic=clinic, first=first, last=last)
    load("theirs", enrollments=20, results=20, seed=99)
    assert clinic_measures(clinic=clinic, first=first, last=last) == before


def queries(clinic: Clinic) -> list[str]:
    first, last = TODAY - timedelta(days=800), TODAY  # every test of the clinic
    with CaptureQueriesContext(connection) as context:
        result = clinic_measures(clinic=clinic, first=first, last=last)
    assert result.negative_samples.denominator > 0  # the range has tests to count
    return [q["sql"] for q in context.captured_queries]


def test_its_queries_do_not_grow_from_10_to_1000_enrollments():
    small = queries(load("small", enrollments=10, results=6))
    large = queries(load("large", enrollments=1000, results=6))
    assert len(small) == len(large) == 4
