"""The quarterly payer report (docs/reports.md, "Quarterly payer report"): a hand-built history
written through the services a clinic uses, at pinned times, and the counts worked out below.

Riverside is in America/Chicago (UTC-5 in summer). The third quarter of 2026 runs from 1 July to
30 September, clinic days; today is Monday 16 November 2026, so the fourth quarter is in
progress. Higgins 1994: $2.50 for a first negative, +$1.25 for each negative in a row, $10 bonus
every third in a row; a positive, missed, refused, adulterated or dilute test resets to $2.50.
"Two weeks" is a made-up protocol of two weeks paying $1 a negative, and "Half a year" pays like
Higgins for 26 weeks.
"""

from datetime import date, datetime, time

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cmtracker.models import AuditEvent
from rewards import prizes, redemptions
from rewards.models import CatalogItem, PrizeDraw
from tests.conftest import at
from tests.factories import EnrollmentFactory, PatientFactory
from vouchers import recording
from vouchers.models import Protocol, ProtocolPhase
from vouchers.reports.costs import clinic_costs
from vouchers.reports.payer import Quarter, SpecimenCounts, payer_report
from vouchers.reports.payer_views import payer_csv

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 16)


@pytest.fixture(autouse=True)
def _today(clinic):
    with time_machine.travel(at(clinic, TODAY), tick=False):
        yield


def local(clinic, day, hour, minute=0):
    return datetime.combine(day, time(hour, minute), tzinfo=clinic.tz)


def test(patient, moment, outcome="negative", status="tested", notes=""):
    """A specimen recorded at the instant it was collected (so its reward is posted then)."""
    results = {"cocaine": outcome} if status == "tested" else {}
    with time_machine.travel(moment, tick=False):
        return recording.specimen_record(
            patient=patient, collected_at=moment, status=status, results=results, notes=notes
        )


test.__test__ = False  # a helper, not a test


def session(patient, moment):
    with time_machine.travel(moment, tick=False):
        recording.attendance_record(patient=patient, occurred_at=moment, session_kind="group")


def two_weeks():
    protocol = Protocol.objects.create(
        slug="two-weeks", name="Two weeks", kind="voucher", target_substances=["cocaine"]
    )
    ProtocolPhase.objects.create(protocol=protocol, last_week=2, start_cents=100)
    return protocol


def half_a_year():
    protocol = Protocol.objects.create(
        slug="half-a-year", name="Half a year", kind="voucher", target_substances=["cocaine"]
    )
    ProtocolPhase.objects.create(
        protocol=protocol,
        last_week=26,
        start_cents=250,
        increment_cents=125,
        bonus_every=3,
        bonus_cents=1000,
    )
    return protocol


@pytest.fixture
def history(clinic, counselor, higgins, other_clinic):
    short = two_weeks()

    def enrolled(start, protocol=higgins, **kwargs):
        patient = PatientFactory(clinic=clinic)
        EnrollmentFactory(patient=patient, protocol=protocol, start_date=start, **kwargs)
        return patient

    # A: half a year from Jun 29 (the second quarter). Jun 29 N ($2.50, Q2); Jul 1 N $3.75;
    # Jul 3 refused; Jul 6 N $2.50; Sep 30 at 23:30 N $3.75 (05:30 UTC on 1 October: still the
    # third quarter); Oct 1 at 00:30 N, $5.00 + $10 bonus (the fourth quarter). Q3: $10.00.
    a = enrolled(date(2026, 6, 29), protocol=half_a_year())
    test(a, at(clinic, date(2026, 6, 29)))
    test(a, at(clinic, date(2026, 7, 1)))
    test(a, at(clinic, date(2026, 7, 3)), status="refused")
    test(a, at(clinic, date(2026, 7, 6)))
    test(a, local(clinic, date(2026, 9, 30), 23, 30))
    test(a, local(clinic, date(2026, 10, 1), 0, 30))

    # B: enrolled in the third quarter. Jul 6 N $2.50; adulterated; missed; excused; Jul 15 N
    # $2.50; positive; dilute. Q3: $5.00.
    b = enrolled(date(2026, 7, 6))
    test(b, at(clinic, date(2026, 7, 6)))
    test(b, at(clinic, date(2026, 7, 8)), status="adulterated")
    test(b, at(clinic, date(2026, 7, 10)), status="missed")
    test(b, at(clinic, date(2026, 7, 13)), status="excused", notes="Court date")
    test(b, at(clinic, date(2026, 7, 15)))
    test(b, at(clinic, date(2026, 7, 17)), outcome="positive")
    test(b, at(clinic, date(2026, 7, 20)), status="dilute")

    # C: enrolled in the fourth quarter; nothing in the third.
    c = enrolled(date(2026, 10, 5))
    test(c, at(clinic, date(2026, 10, 5)))

    # D: enrolled in June, tested then, never seen in the third quarter: in treatment, not active.
    d = enrolled(date(2026, 6, 1))
    test(d, at(clinic, date(2026, 6, 3)))

    # E: two weeks from Jun 22; week 2 is Jun 29 - Jul 5. A negative in week 1 ($1, Q2), then a
    # session on Jul 2, week 2: the protocol completed in the third quarter.
    e = enrolled(date(2026, 6, 22), protocol=short)
    test(e, at(clinic, date(2026, 6, 22)))
    session(e, at(clinic, date(2026, 7, 2)))

    # F: two weeks from Jun 8: completed on Jun 15 (week 2, Q2); back on Jul 1 (week 4, past the
    # protocol: earns nothing): active in the third quarter, but no completion there.
    f = enrolled(date(2026, 6, 8), protocol=short)
    test(f, at(clinic, date(2026, 6, 8)))
    test(f, at(clinic, date(2026, 6, 15)))
    test(f, at(clinic, date(2026, 7, 1)))

    # G: withdrawn on Jun 30, before the quarter.
    enrolled(date(2026, 4, 6), status="withdrawn", end_date=date(2026, 6, 30))

    # Another clinic's patient, tested in the quarter: never counted here.
    stranger = PatientFactory(clinic=other_clinic)
    EnrollmentFactory(patient=stranger, protocol=higgins, start_date=date(2026, 6, 29))
    test(stranger, at(other_clinic, date(2026, 7, 1)))

    # Rewards: A asks for a $5 item on Aug 3, handed over Aug 4 (dispensed in Q3); a $1 item on
    # Sep 2, never handed over; a $2 item on Sep 29, handed over on Oct 1 (Q4).
    five = CatalogItem.objects.create(clinic=clinic, name="Groceries", price_cents=500, stock=9)
    two = CatalogItem.objects.create(clinic=clinic, name="Bus pass", price_cents=200, stock=9)
    one = CatalogItem.objects.create(clinic=clinic, name="Socks", price_cents=100, stock=9)
    for item, asked, given in (
        (five, date(2026, 8, 3), date(2026, 8, 4)),
        (one, date(2026, 9, 2), None),
        (two, date(2026, 9, 29), date(2026, 10, 1)),
    ):
        with time_machine.travel(at(clinic, asked), tick=False):
            made = redemptions.redemption_request(
                patient=a, items=[(item, 1)], requested_by=counselor
            )
            redemptions.redemption_approve(redemption=made, actor=counselor)
        if given:
            with time_machine.travel(at(clinic, given), tick=False):
                redemptions.redemption_handover(redemption=made, actor=counselor)

    # A small prize ($1.50) won by B on Aug 5 and claimed on Aug 6, both in Q3.
    cap = CatalogItem.objects.create(
        clinic=clinic, name="Cap", price_cents=150, stock=3, prize_tier="small"
    )
    b_enrollment = b.enrollments.get()
    with time_machine.travel(at(clinic, date(2026, 8, 5)), tick=False):
        draw = PrizeDraw.objects.create(
            patient=b, enrollment=b_enrollment, tier="small", value_cents=150
        )
    with time_machine.travel(at(clinic, date(2026, 8, 6)), tick=False):
        prizes.prize_claim(draw=draw, item=cap, claimed_by=counselor)
    return {"a": a, "b": b, "c": c}


def test_the_third_quarter_counts_what_happened_on_its_clinic_days(clinic, history):
    report = payer_report(clinic=clinic, year=2026, quarter=3)

    assert (report.first, report.last, report.in_progress) == (
        date(2026, 7, 1),
        date(2026, 9, 30),
        False,
    )
    assert report.participants_in_treatment == 5  # A, B, D, E, F (not C, not G)
    assert report.participants_enrolled == 1  # B
    assert report.participants_active == 4  # A, B, E (a session), F (not D)
    assert report.completions == 1  # E
    # A: N R N N(23:30 Sep 30); B: N A M E N P D; F: N.
    assert report.tests == SpecimenCounts(
        negative=6, positive=1, adulterated=1, dilute=1, missed=1, refused=1, excused=1
    )
    assert (report.tests.submitted, report.tests.scheduled) == (9, 11)
    assert report.vouchers_earned_cents == 375 + 250 + 375 + 250 + 250  # A $10.00, B $5.00
    assert report.prizes_won_cents == 150
    assert report.earned_cents == 1500 + 150
    assert report.redemptions_handed_over_cents == 500
    assert report.prizes_claimed_cents == 150
    assert report.dispensed_cents == 650


def test_a_quarter_in_progress_is_counted_so_far(clinic, history):
    report = payer_report(clinic=clinic, year=2026, quarter=4)

    assert (report.first, report.last, report.in_progress) == (
        date(2026, 10, 1),
        TODAY,
        True,
    )
    assert report.participants_enrolled == 1  # C
    # A's 00:30 on Oct 1 and C's Oct 5: the fourth quarter's, not the third's.
    assert report.tests == SpecimenCounts(negative=2)
    assert report.vouchers_earned_cents == 500 + 1000 + 250
    assert report.redemptions_handed_over_cents == 200


def test_a_quarter_that_has_not_begun_is_refused(clinic):
    with pytest.raises(ValueError, match="2027-Q1 has not begun"):
        payer_report(clinic=clinic, year=2027, quarter=1)


@pytest.mark.parametrize(
    ("text", "quarter"),
    [
        ("2026-Q3", Quarter(2026, 3)),
        (" 2026-q1 ", Quarter(2026, 1)),
        ("2026-Q5", None),
        ("2026Q3", None),
        ("26-Q3", None),
        ("", None),
        ("2026-Q3; DROP TABLE", None),
    ],
)
def test_a_quarter_is_read_from_its_name(text, quarter):
    assert Quarter.parse(text) == quarter


@pytest.mark.parametrize(
    ("quarter", "first", "last", "previous", "following"),
    [
        (Quarter(2026, 1), date(2026, 1, 1), date(2026, 3, 31), "2025-Q4", "2026-Q2"),
        (Quarter(2024, 1), date(2024, 1, 1), date(2024, 3, 31), "2023-Q4", "2024-Q2"),
        (Quarter(2026, 3), date(2026, 7, 1), date(2026, 9, 30), "2026-Q2", "2026-Q4"),
        (Quarter(2026, 4), date(2026, 10, 1), date(2026, 12, 31), "2026-Q3", "2027-Q1"),
    ],
)
def test_a_quarter_s_days_and_neighbours(quarter, first, last, previous, following):
    assert (quarter.first, quarter.last) == (first, last)
    assert (str(quarter.previous()), str(quarter.next())) == (previous, following)
    assert Quarter.of(first) == Quarter.of(last) == quarter


# --- the page and its CSV ------------------------------------------------------------------------


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


PAGE = reverse("reports-payer")
CSV = reverse("reports-payer-csv")


def test_a_supervisor_reads_the_printable_page(clinic, supervisor, history):
    response = client_for(supervisor).get(PAGE, {"clinic": clinic.pk, "quarter": "2026-Q3"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "Quarterly payer report · 2026-Q3 · Riverside Recovery" in page
    assert "$16.50" in page and "$6.50" in page  # earned, dispensed
    assert "css/payer.css" in page
    assert "So far" not in page


def test_the_page_says_a_quarter_in_progress_is_so_far(clinic, clinic_admin, history):
    response = client_for(clinic_admin).get(PAGE, {"quarter": "2026-Q4"})

    assert response.status_code == 200
    assert "So far: " in response.content.decode()
    assert "Next quarter" not in response.content.decode()


def test_without_a_quarter_the_page_shows_the_last_one_ended(clinic, clinic_admin, history):
    response = client_for(clinic_admin).get(PAGE)

    assert response.status_code == 200
    assert response.context["report"].quarter == Quarter(2026, 3)


@pytest.mark.parametrize(
    ("quarter", "message"),
    [
        ("2027-Q1", "2027-Q1 has not begun"),
        ("2026-Q5", "Give a quarter as a year and a quarter number"),
        ("garbage", "Give a quarter as a year and a quarter number"),
        ("1999-Q4", "Choose a quarter from 2000 on"),
        ("9999-Q4", "9999-Q4 has not begun"),
    ],
)
def test_a_bad_quarter_gets_a_form_error_not_a_crash(clinic, clinic_admin, quarter, message):
    client = client_for(clinic_admin)

    page = client.get(PAGE, {"quarter": quarter})
    download = client.get(CSV, {"quarter": quarter})

    assert page.status_code == 400
    assert message in page.content.decode()
    assert page.context["report"] is None
    assert download.status_code == 400
    assert message in download.content.decode()


def test_the_spanish_page_says_it_in_spanish(clinic, clinic_admin, history):
    client = client_for(clinic_admin)
    client.cookies["django_language"] = "es"

    response = client.get(PAGE, {"quarter": "2027-Q1"})

    assert "todavía no ha empezado" in response.content.decode()


def test_another_clinic_s_id_and_other_roles_are_not_found(
    clinic, clinic_admin, counselor, other_clinic, history
):
    admin = client_for(clinic_admin)
    assert admin.get(PAGE, {"clinic": other_clinic.pk}).status_code == 404
    assert admin.get(CSV, {"clinic": other_clinic.pk}).status_code == 404
    assert admin.get(PAGE, {"clinic": "abc"}).status_code == 404
    assert client_for(counselor).get(PAGE).status_code == 404
    assert client_for(counselor).get(CSV).status_code == 404


def test_the_csv_has_the_same_numbers_and_is_audited(clinic, supervisor, history):
    response = client_for(supervisor).get(CSV, {"clinic": clinic.pk, "quarter": "2026-Q3"})

    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    header, row = (line.split(",") for line in body.strip().splitlines())
    figures = dict(zip(header, row, strict=True))
    assert figures["clinic"] == "Riverside Recovery"
    assert (figures["quarter"], figures["first_day"], figures["last_day"]) == (
        "2026-Q3",
        "2026-07-01",
        "2026-09-30",
    )
    assert figures["so_far"] == "false"
    report = payer_report(clinic=clinic, year=2026, quarter=3)
    assert header == payer_csv(report)[0]
    for name, value in report.figures():
        assert figures[name] == str(value), name
    assert figures["incentives_earned_cents"] == "1650"
    assert figures["incentives_dispensed_cents"] == "650"
    event = AuditEvent.objects.get(action=AuditEvent.Action.EXPORT)
    assert (event.actor, event.clinic_id, event.object_type, event.object_id) == (
        supervisor,
        clinic.pk,
        "payer report",
        "2026-Q3",
    )


# --- queries ------------------------------------------------------------------------------------


def more(clinic, higgins, count):
    for _ in range(count):
        patient = PatientFactory(clinic=clinic)
        EnrollmentFactory(patient=patient, protocol=higgins, start_date=date(2026, 7, 6))
        test(patient, at(clinic, date(2026, 7, 6)))
        test(patient, at(clinic, date(2026, 7, 8)), outcome="positive")
        session(patient, at(clinic, date(2026, 7, 9)))


def queries(clinic) -> int:
    with CaptureQueriesContext(connection) as captured:
        payer_report(clinic=clinic, year=2026, quarter=3)
    return len(captured)


def test_the_report_costs_the_same_queries_for_2_and_20_enrollments(clinic, higgins):
    more(clinic, higgins, 2)
    few = queries(clinic)

    more(clinic, higgins, 18)
    many = queries(clinic)

    assert many == few
    # Participants 3, tests 1, completions 4 (enrollments, protocols with phases, the last tests
    # and the last sessions), vouchers 1, rewards given 3.
    assert few <= 12, few
    assert payer_report(clinic=clinic, year=2026, quarter=3).participants_active == 20


def test_earned_and_dispensed_are_the_cost_report_s_figures_for_the_quarter(clinic, history):
    """One definition: the dashboard's rewards and cost over the quarter's days give the same
    cents (docs/reports.md, "Rewards and cost")."""
    report = payer_report(clinic=clinic, year=2026, quarter=3)
    costs = clinic_costs(clinic=clinic, first=report.first, last=report.last)

    assert report.earned_cents == costs.earned_cents == 1650
    assert report.dispensed_cents == costs.handed_over_cents == 650
