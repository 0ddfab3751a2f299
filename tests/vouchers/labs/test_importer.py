"""Bulk import of lab results: every row judged before anything is written, then written fast.

The patients here are on Higgins 1994 (target: cocaine) from Monday 5 January 2026, at a clinic in
America/Chicago, so "2026-01-06 09:00" is 09:00 Chicago time.
"""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.utils import timezone

from messaging.models import Notification
from patients.models import Specimen, SpecimenResult
from tests.conftest import at
from tests.factories import EnrollmentFactory, PatientFactory
from vouchers import recording
from vouchers.labs import importer
from vouchers.labs.importer import lab_import_apply
from vouchers.labs.rows import OK, lab_import_preview
from vouchers.missed import missed_tests_mark
from vouchers.models import LedgerEntry, Wallet

HEADER = "record_number,collected_at,kind,cocaine,amphetamine,status,notes,idempotency_key\n"
GOOD = "A1,2026-01-06 09:00,urine,negative,negative,,,\n"


@pytest.fixture
def alice(clinic, counselor, higgins):
    patient = PatientFactory(clinic=clinic, record_number="A1", primary_counselor=counselor)
    EnrollmentFactory(patient=patient, protocol=higgins, start_date=date(2026, 1, 5))
    return patient


@pytest.fixture
def unenrolled(clinic):
    return PatientFactory(clinic=clinic, record_number="B2")


def future() -> str:
    return (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%d %H:%M")


BAD_ROWS = [
    (
        "unknown patient",
        "ZZ9,2026-01-07 09:00,urine,negative,,,,",
        "No patient with record number ZZ9",
    ),
    ("not enrolled", "B2,2026-01-07 09:00,urine,negative,,,,", "not enrolled in a CM protocol"),
    (
        "before the start",
        "A1,2026-01-02 09:00,urine,negative,,,,",
        "before this patient's enrollment started on Jan. 5, 2026",
    ),
    ("bad value", "A1,2026-01-07 09:00,urine,maybe,,,,", "must be negative or positive, not maybe"),
    ("bad date", "A1,last tuesday,urine,negative,,,,", "is not a date and time"),
    ("date without time", "A1,2026-01-07,urine,negative,,,,", "is not a date and time"),
    ("future date", "A1,{future},urine,negative,,,,", "This is in the future"),
    ("missing target", "A1,2026-01-07 09:00,urine,,negative,,,", "No result for cocaine"),
    ("tested without results", "A1,2026-01-07 09:00,urine,,,,,", "needs its results"),
    (
        "excused without notes",
        "A1,2026-01-07 09:00,urine,,,excused,,",
        "An excused test needs a reason",
    ),
    ("unknown status", "A1,2026-01-07 09:00,urine,negative,,lost,,", "Unknown status: lost"),
    ("unknown kind", "A1,2026-01-07 09:00,hair,negative,,,,", "Unknown kind: hair"),
    ("duplicate in the file", "A1,2026-01-06 09:00,urine,positive,,,,", "Duplicate of row 2"),
    ("short row", "A1,2026-01-07 09:00", "This row has 2 fields; the header has 8"),
]


@pytest.mark.parametrize(("case", "line", "message"), BAD_ROWS, ids=[c[0] for c in BAD_ROWS])
def test_each_bad_row_is_reported_and_all_or_nothing_writes_nothing(
    alice, unenrolled, counselor, case, line, message
):
    text = HEADER + GOOD + line.format(future=future()) + "\n"

    preview = lab_import_preview(clinic=alice.clinic, text=text)
    assert [r.status for r in preview.rows] == ["ok", "error"]
    assert any(message in m for m in preview.rows[1].messages), preview.rows[1].messages
    assert preview.rows[1].number == 3

    report = lab_import_apply(
        clinic=alice.clinic, text=text, actor=counselor, mode="all_or_nothing"
    )
    assert [r.status for r in report.rows] == ["skipped", "error"]
    assert report.totals["written"] == 0
    assert not Specimen.objects.exists()
    assert not LedgerEntry.objects.exists()


def test_a_result_already_recorded_is_a_duplicate(alice, counselor):
    recording.specimen_record(
        patient=alice,
        collected_at=at(alice.clinic, date(2026, 1, 6), 9),
        results={"cocaine": "negative"},
    )

    report = lab_import_preview(clinic=alice.clinic, text=HEADER + GOOD)

    assert report.rows[0].messages == [
        "Already recorded: this patient has a urine test at this time."
    ]


def test_a_used_idempotency_key_is_an_error(alice, counselor):
    recording.specimen_record(
        patient=alice,
        collected_at=at(alice.clinic, date(2026, 1, 8)),
        results={"cocaine": "negative"},
        idempotency_key="lab-42",
    )
    text = HEADER + "A1,2026-01-06 09:00,urine,negative,,,,lab-42\n"

    report = lab_import_preview(clinic=alice.clinic, text=text)

    assert "already used" in report.rows[0].messages[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The file is empty."),
        ("record_number,collected_at,cocaine\n", "a header but no rows"),
        ("collected_at,cocaine\nA1,2026-01-06 09:00,negative\n", "it has no record_number"),
        (
            "record_number,collected_at,heroin\nA1,2026-01-06 09:00,negative\n",
            "Unknown column: heroin",
        ),
        ("record_number,collected_at,cocaine,cocaine\nA1,x,y,z\n", "Repeated column: cocaine"),
        ("\x00\x01PK", "not a CSV"),
    ],
)
def test_a_bad_file_is_one_clear_error(alice, counselor, text, message):
    with pytest.raises(ValidationError) as raised:
        lab_import_preview(clinic=alice.clinic, text=text)
    assert message in " ".join(raised.value.messages)
    with pytest.raises(ValidationError):
        lab_import_apply(clinic=alice.clinic, text=text, actor=counselor, mode="skip_bad_rows")
    assert not Specimen.objects.exists()


def test_an_offset_and_the_clinic_clock_are_the_same_moment(alice):
    text = HEADER + GOOD + "A1,2026-01-06T15:00:00+00:00,urine,negative,,,,\n"

    report = lab_import_preview(clinic=alice.clinic, text=text)

    # 15:00 UTC is 09:00 in Chicago in January: the second row repeats the first.
    assert "Duplicate of row 2" in report.rows[1].messages[0]


def test_a_patient_of_another_clinic_is_unknown(alice, other_clinic):
    PatientFactory(clinic=other_clinic, record_number="X7")
    text = HEADER + "X7,2026-01-06 09:00,urine,negative,,,,\n"

    report = lab_import_preview(clinic=alice.clinic, text=text)

    assert report.rows[0].messages == ["No patient with record number X7 in this clinic."]


# --- writing ---------------------------------------------------------------------------------


def results_file(record_number: str, bad: bool) -> str:
    """Ten days of results for one patient: negatives, a positive, a refusal, an excused day."""
    lines = [HEADER]
    for n in range(10):
        day = date(2026, 1, 6) + timedelta(days=n)
        cocaine, status, notes = "negative", "", ""
        if n == 4:
            cocaine = "positive"
        if n == 6:
            cocaine, status = "", "refused"
        if n == 8:
            cocaine, status, notes = "", "excused", "Snowed in"
        lines.append(f"{record_number},{day} 09:00,urine,{cocaine},negative,{status},{notes},\n")
        if bad and n % 3 == 0:
            lines.append(f"{record_number},{day} 11:00,urine,perhaps,,,,\n")
    return "".join(lines)


def by_hand(patient, text: str) -> None:
    """Record the good rows of `text` one by one at the front desk."""
    for row in lab_import_preview(clinic=patient.clinic, text=text).rows:
        if row.status == "ok":
            recording.specimen_record(
                patient=patient,
                collected_at=row.collected_at,
                kind=row.kind,
                status=row.specimen_status,
                results=row.results,
                notes=row.notes,
            )


def earned(patient) -> int:
    return LedgerEntry.objects.filter(patient=patient).aggregate(t=Sum("amount_cents"))["t"]


def test_skip_bad_rows_writes_exactly_the_good_rows_and_earns_what_recording_by_hand_does(
    alice, clinic, counselor, higgins, monkeypatch
):
    twin = PatientFactory(clinic=clinic, record_number="T1")
    EnrollmentFactory(patient=twin, protocol=higgins, start_date=date(2026, 1, 5))
    settled = []
    real_settle = importer.enrollment_settle
    monkeypatch.setattr(
        importer,
        "enrollment_settle",
        lambda **kw: settled.append(kw["enrollment"].id) or real_settle(**kw),
    )

    report = lab_import_apply(
        clinic=clinic, text=results_file("A1", bad=True), actor=counselor, mode="skip_bad_rows"
    )
    monkeypatch.setattr(importer, "enrollment_settle", real_settle)
    by_hand(twin, results_file("T1", bad=True))

    assert report.totals == {
        "rows": 14,
        "ok": 0,
        "errors": 4,
        "written": 10,
        "skipped": 0,
        "settled": 1,
    }
    assert settled == [alice.enrollments.get().id]
    assert Specimen.objects.filter(enrollment__patient=alice).count() == 10
    assert SpecimenResult.objects.filter(specimen__enrollment__patient=alice).count() == 18
    mine = Wallet.objects.get(patient=alice)
    theirs = Wallet.objects.get(patient=twin)
    assert mine.balance_cents == theirs.balance_cents > 0
    assert earned(alice) == earned(twin)
    outcomes = list(
        Specimen.objects.filter(enrollment__patient=alice).values_list("outcome", flat=True)
    )
    assert outcomes == list(
        Specimen.objects.filter(enrollment__patient=twin).values_list("outcome", flat=True)
    )
    assert lab_import_preview(clinic=clinic, text=results_file("A1", bad=False)).rows[0].messages


def test_importing_the_same_file_again_writes_nothing_new(alice, counselor):
    text = results_file("A1", bad=False)
    first = lab_import_apply(clinic=alice.clinic, text=text, actor=counselor, mode="skip_bad_rows")
    balance = Wallet.objects.get(patient=alice).balance_cents

    again = lab_import_apply(clinic=alice.clinic, text=text, actor=counselor, mode="skip_bad_rows")

    assert first.totals["written"] == 10
    assert again.totals["written"] == 0
    assert again.totals["errors"] == 10
    assert all("Already recorded" in row.messages[0] for row in again.rows)
    assert Specimen.objects.count() == 10
    assert Wallet.objects.get(patient=alice).balance_cents == balance


def test_all_or_nothing_writes_everything_when_every_row_is_good(alice, counselor):
    report = lab_import_apply(
        clinic=alice.clinic,
        text=results_file("A1", bad=False),
        actor=counselor,
        mode="all_or_nothing",
    )

    assert report.totals["written"] == 10
    assert Specimen.objects.filter(recorded_by=counselor).count() == 10


def test_an_unknown_mode_is_refused(alice, counselor):
    with pytest.raises(ValidationError):
        lab_import_apply(clinic=alice.clinic, text=HEADER + GOOD, actor=counselor, mode="yolo")


# --- query budget ----------------------------------------------------------------------------


def many_rows(patients, n: int) -> str:
    start = at(patients[0].clinic, date(2026, 1, 6), 0)
    lines = [HEADER]
    for i in range(n):
        moment = start + timedelta(hours=i)
        patient = patients[i % len(patients)]
        lines.append(f"{patient.record_number},{moment.isoformat()},urine,negative,,,,k{i}\n")
    return "".join(lines)


def test_the_preview_makes_the_same_number_of_queries_for_100_and_1000_rows(
    clinic, higgins, django_assert_num_queries
):
    patients = [PatientFactory(clinic=clinic, record_number=f"Q{i}") for i in range(10)]
    for patient in patients:
        EnrollmentFactory(patient=patient, protocol=higgins, start_date=date(2026, 1, 5))
    small, large = many_rows(patients, 100), many_rows(patients, 1000)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        report = lab_import_preview(clinic=clinic, text=small)
    assert report.totals["ok"] == 100
    with django_assert_num_queries(len(queries)):
        report = lab_import_preview(clinic=clinic, text=large)
    assert report.totals["ok"] == 1000
    # 4 before the enrollment named its protocol by id; the protocols are now read by their ids,
    # one query whatever the number of rows.
    assert len(queries) <= 5
    assert OK == "ok"


def test_an_import_sends_each_patient_one_notice_of_the_latest_award(alice, counselor):
    alice.reminder_consent_email, alice.email = True, "alice@example.org"
    alice.save()
    text = HEADER + GOOD + "A1,2026-01-07 09:00,urine,negative,,,,\n"

    lab_import_apply(clinic=alice.clinic, text=text, actor=counselor, mode="all_or_nothing")

    [notice] = Notification.objects.filter(patient=alice, kind="award")
    # Tuesday's $2.50 and Wednesday's $3.75: the latest award, and the balance after both.
    assert "You earned $3.75. Your balance is $6.25." in notice.body


def test_an_imported_result_withdraws_the_missed_mark_of_its_day(alice, counselor):
    clinic = alice.clinic
    missed_tests_mark(now=at(clinic, date(2026, 1, 7), 18))  # Wednesday after closing: no result
    assert Specimen.objects.filter(status="missed").count() == 2  # Monday and Wednesday

    text = HEADER + "A1,2026-01-07 09:00,urine,negative,,,,\n"
    lab_import_apply(clinic=clinic, text=text, actor=counselor, mode="all_or_nothing")

    statuses = dict(
        Specimen.objects.filter(collected_at__date__gte=date(2026, 1, 7)).values_list(
            "status", "outcome"
        )
    )
    assert statuses == {"excused": "E", "tested": "N"}
    assert Wallet.objects.get(patient=alice).balance_cents == 250  # a first negative after a miss
