"""Fidelity per counselor adds up: whatever the caseloads and whoever did what, the rows'
numerators, denominators, enrollments and actions sum to the clinic's total row
(`vouchers.reports.fidelity.fidelity_rows`, pure). Nothing reads the clock or the database."""

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vouchers.reports.test_measures_fidelity import START, records
from vouchers.reports.fidelity import (
    ADJUSTMENT,
    CORRECTION,
    EXCUSE,
    WAIVER,
    StaffAction,
    fidelity_rows,
)
from vouchers.reports.measures import Ratio

NAMES = {1: "casey", 2: "Robin", 3: "ada"}
STAFF = st.sampled_from([1, 2, 3, None, 99])  # 99: a staff member with no name shown

actions = st.builds(
    StaffAction,
    kind=st.sampled_from([CORRECTION, EXCUSE, ADJUSTMENT, WAIVER]),
    at=st.integers(0, 10_000).map(
        lambda m: datetime(2026, 1, 5, tzinfo=UTC) + timedelta(minutes=m)
    ),
    patient_id=st.integers(1, 5),
    reason=st.sampled_from(["Misread", "In hospital", "Lost card"]),
    amount_cents=st.integers(-500, 500),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(records(), STAFF), max_size=8),
    st.dictionaries(STAFF, st.lists(actions, max_size=4), max_size=5),
    st.integers(0, 120),
)
def test_the_counselor_rows_add_up_to_the_total(caseloads, done, span):
    enrollments = [replace(record, key=i) for i, (record, _staff) in enumerate(caseloads)]
    counselor_of = {i: staff for i, (_record, staff) in enumerate(caseloads)}
    rows = fidelity_rows(
        records=enrollments,
        counselor_of=counselor_of,
        actions=done,
        names=NAMES,
        first=START,
        weeks_last=START + timedelta(days=span),
    )

    *parts, total = rows
    assert total.is_total and not any(r.is_total for r in parts)
    # Every named counselor has a row, by name; "no counselor" only when something is theirs.
    assert [r.name for r in parts if r.counselor_id is not None] == ["ada", "casey", "Robin"]
    for name in ("negative_samples", "late_results", "schedule_kept", "protocol_weeks"):
        assert sum((getattr(r, name) for r in parts), Ratio(0, 0)) == getattr(total, name)
    assert sum((r.immediacy.same_day for r in parts), Ratio(0, 0)) == total.immediacy.same_day
    assert sum(r.enrollments for r in parts) == total.enrollments == len(enrollments)
    for name in ("corrections", "excused", "adjustments", "waivers"):
        assert Counter(a for r in parts for a in getattr(r, name)) == Counter(getattr(total, name))
    assert sum(
        len(r.corrections) + len(r.excused) + len(r.adjustments) + len(r.waivers) for r in parts
    ) == sum(len(d) for d in done.values())
    for row in rows:
        for ratio in (row.negative_samples, row.protocol_weeks, row.schedule_kept):
            assert 0 <= ratio.numerator <= ratio.denominator
