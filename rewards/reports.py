"""What the prize cabinet and the redemptions gave out, for the reports (docs/reports.md, "Rewards
and cost" and "Fidelity: redemption immediacy").

vouchers' reports ask for it through vouchers.extensions.rewards_given (registered in
RewardsConfig.ready): vouchers never imports rewards. Three queries, whatever the number of
enrollments, patients, draws or redemptions.

Which range: a draw counts on the clinic day it was drawn, a prize claimed on the day it was
claimed, a redemption on the day it was handed over.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate

from cmtracker.models import Clinic
from patients.models import Enrollment
from rewards.models import PrizeDraw, Redemption
from vouchers.extensions import Handover, RewardsGiven
from vouchers.reports.cost_measures import range_bounds


def rewards_given(
    *, clinic: Clinic, first: date, last: date, enrollments: QuerySet[Enrollment] | None = None
) -> RewardsGiven:
    """Prize values won, prizes claimed and redemptions handed over in first..last (the clinic's
    days), for the clinic's patients, or only the draws of `enrollments` and the redemptions of
    their patients.

    1. The draws made in the range, their values summed per enrollment and clinic day.
    2. The prizes claimed in the range: their count and value.
    3. The redemptions handed over in the range, with when each was requested.
    """
    start, end = range_bounds(clinic.tz, first, last)
    draws = PrizeDraw.objects.filter(patient__clinic=clinic)
    redemptions = Redemption.objects.filter(
        patient__clinic=clinic, status=Redemption.Status.HANDED_OVER
    )
    if enrollments is not None:
        draws = draws.filter(enrollment__in=enrollments.values("pk"))
        redemptions = redemptions.filter(patient__in=enrollments.values("patient_id"))

    won = (
        draws.filter(drawn_at__gte=start, drawn_at__lt=end)
        .annotate(day=TruncDate("drawn_at", tzinfo=clinic.tz))
        .order_by()
        .values("enrollment_id", "day")
        .annotate(cents=Sum("value_cents"))
    )
    by_enrollment: dict[int, int] = defaultdict(int)
    by_day: dict[date, int] = defaultdict(int)
    for row in won:
        by_enrollment[row["enrollment_id"]] += row["cents"]
        by_day[row["day"]] += row["cents"]

    claimed = draws.filter(claimed_at__gte=start, claimed_at__lt=end).aggregate(
        cents=Sum("value_cents"), count=Count("id")
    )

    handed = (
        redemptions.filter(handed_over_at__gte=start, handed_over_at__lt=end)
        .order_by("handed_over_at", "id")
        .values_list("requested_at", "handed_over_at", "total_cents")
    )
    handovers = tuple(
        Handover(
            requested_at=requested,
            requested_day=clinic.local_date(requested),
            handed_over_at=handed_at,
            handed_over_day=clinic.local_date(handed_at),
            cents=cents,
        )
        for requested, handed_at, cents in handed
    )
    return RewardsGiven(
        prizes_won_by_enrollment=dict(by_enrollment),
        prizes_won_by_day=dict(by_day),
        prizes_claimed_cents=claimed["cents"] or 0,
        prizes_claimed=claimed["count"],
        handovers=handovers,
    )
