"""A clinic's headline measures (docs/reports.md), for its administrators and supervisors only."""

from datetime import date, timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from cmtracker.models import Clinic
from patients.permissions import clinic_choose, report_clinics
from vouchers.reports.measures import Ratio
from vouchers.reports.selectors import clinic_measures

MAX_RANGE_DAYS = 1827  # five years, leap days included
EARLIEST_DAY = date(2000, 1, 1)  # no clinic's record is older; day arithmetic stays in range


class RangeSerializer(serializers.Serializer):
    """In: the clinic days first..last, checked against the clinic's today (context "today")."""

    first = serializers.DateField(
        input_formats=["iso-8601"], help_text=_("The range's first clinic day (YYYY-MM-DD).")
    )
    last = serializers.DateField(
        input_formats=["iso-8601"],
        help_text=_("The range's last clinic day (YYYY-MM-DD), not after the clinic's today."),
    )

    def validate_first(self, value):
        if value < EARLIEST_DAY:
            message = _("A range starts on %(day)s or later.")
            raise serializers.ValidationError(message % {"day": EARLIEST_DAY.isoformat()})
        return value

    def validate_last(self, value):
        if value > self.context["today"]:
            raise serializers.ValidationError(_("The range cannot end after the clinic's today."))
        return value

    def validate(self, attrs):
        first, last = attrs["first"], attrs["last"]
        if last < first:
            raise serializers.ValidationError(
                {"last": _("The range's last day cannot be before its first day.")}
            )
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            message = _("A range covers at most five years (%(days)s days).")
            raise serializers.ValidationError({"last": message % {"days": MAX_RANGE_DAYS}})
        return attrs


class RatioSerializer(serializers.Serializer):
    numerator = serializers.IntegerField()
    denominator = serializers.IntegerField(
        help_text=_("0 when there was nothing to count: the ratio has no value.")
    )


class SummarySerializer(serializers.Serializer):
    mean = RatioSerializer(help_text=_("The exact mean per enrollment, as a ratio."))
    median = serializers.IntegerField(allow_null=True)


class ImmediacySerializer(serializers.Serializer):
    median_seconds = serializers.IntegerField(
        allow_null=True, help_text=_("From collection to reward posted, in seconds.")
    )
    p90_seconds = serializers.IntegerField(
        allow_null=True, help_text=_("The 90th percentile, in seconds.")
    )
    same_day = RatioSerializer(
        help_text=_("Rewards posted on the clinic day of collection / rewards posted.")
    )


class RetentionWeekSerializer(serializers.Serializer):
    week = serializers.IntegerField()
    numerator = serializers.IntegerField()
    denominator = serializers.IntegerField()


class ClinicMeasuresSerializer(serializers.Serializer):
    clinic = serializers.IntegerField()
    first = serializers.DateField()
    last = serializers.DateField()
    enrollments = serializers.IntegerField()
    negative_samples = RatioSerializer(
        help_text=_("Negative tests / scheduled tests not excused (missing counts as positive).")
    )
    negative_submitted = RatioSerializer(help_text=_("Negative tests / submitted tests."))
    abstinence_tests = SummarySerializer(help_text=_("Longest duration of abstinence, in tests."))
    abstinence_weeks = SummarySerializer(help_text=_("Longest duration of abstinence, in weeks."))
    retention = SummarySerializer(help_text=_("Retention, in weeks."))
    retention_curve = RetentionWeekSerializer(
        many=True, help_text=_("Enrollments in treatment at each week / enrollments.")
    )
    completion = RatioSerializer()
    attendance = RatioSerializer()
    immediacy = ImmediacySerializer()
    late_results = RatioSerializer()
    schedule_kept = RatioSerializer()


def _ratio(ratio: Ratio) -> dict:
    return {"numerator": ratio.numerator, "denominator": ratio.denominator}


def _summary(summary) -> dict:
    return {"mean": _ratio(summary.mean), "median": summary.median}


def _seconds(delta: timedelta | None) -> int | None:
    return None if delta is None else int(delta.total_seconds())


def measures_data(clinic: Clinic, first, last, result) -> dict:
    return {
        "clinic": clinic.pk,
        "first": first,
        "last": last,
        "enrollments": result.enrollments,
        "negative_samples": _ratio(result.negative_samples),
        "negative_submitted": _ratio(result.negative_submitted),
        "abstinence_tests": _summary(result.abstinence_tests),
        "abstinence_weeks": _summary(result.abstinence_weeks),
        "retention": _summary(result.retention),
        "retention_curve": [
            {"week": week, **_ratio(ratio)} for week, ratio in result.retention_curve
        ],
        "completion": _ratio(result.completion),
        "attendance": _ratio(result.attendance),
        "immediacy": {
            "median_seconds": _seconds(result.immediacy.median),
            "p90_seconds": _seconds(result.immediacy.p90),
            "same_day": _ratio(result.immediacy.same_day),
        },
        "late_results": _ratio(result.late_results),
        "schedule_kept": _ratio(result.schedule_kept),
    }


class ClinicMeasuresView(APIView):
    """The clinic's headline measures over first..last (docs/reports.md). Its administrators and
    supervisors only: anyone else, and any other clinic's id, is told nothing exists."""

    @extend_schema(
        parameters=[RangeSerializer],
        responses=ClinicMeasuresSerializer,
    )
    def get(self, request, clinic_id):
        clinic = clinic_choose(report_clinics(request.user), str(clinic_id))
        today = clinic.local_date(timezone.now())
        range_ = RangeSerializer(data=request.query_params, context={"today": today})
        range_.is_valid(raise_exception=True)
        first, last = range_.validated_data["first"], range_.validated_data["last"]
        result = clinic_measures(clinic=clinic, first=first, last=last)
        return Response(ClinicMeasuresSerializer(measures_data(clinic, first, last, result)).data)
