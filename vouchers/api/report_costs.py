"""A clinic's rewards and cost, and its equal-opportunity exceptions (docs/reports.md), for its
administrators and supervisors only: the same figures as vouchers/reports/costs.py, as JSON.

The range, the ratios, the summaries and the choice of clinic are the measures endpoint's
(vouchers/api/reports.py): a rate is {"numerator", "denominator"}, exact, never a float.
"""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from patients.permissions import clinic_choose, report_clinics
from vouchers.api.reports import RangeSerializer, RatioSerializer, SummarySerializer
from vouchers.reports.costs import clinic_costs, equal_opportunity_exceptions, weekly_cost


@extend_schema_field(OpenApiTypes.INT)
class SecondsField(serializers.Field):
    """A timedelta as whole seconds (null stays null)."""

    def to_representation(self, value):
        return int(value.total_seconds())


class StaffEntrySerializer(serializers.Serializer):
    kind = serializers.CharField(help_text=_("adjustment or waiver."))
    patient = serializers.IntegerField(source="patient_id")
    amount_cents = serializers.IntegerField(
        help_text=_(
            "An adjustment: cents credited (negative: debited). A waiver: cents of overpayment "
            "forgiven."
        )
    )
    reason = serializers.CharField()
    by = serializers.IntegerField(source="by_id", allow_null=True)
    by_name = serializers.CharField(source="by")
    at = serializers.DateTimeField()


class RedemptionImmediacySerializer(serializers.Serializer):
    median_seconds = SecondsField(
        source="median", allow_null=True, help_text=_("From request to hand-over, in seconds.")
    )
    p90_seconds = SecondsField(
        source="p90", allow_null=True, help_text=_("The 90th percentile, in seconds.")
    )
    same_day = RatioSerializer(
        help_text=_("Handed over on the clinic day requested / handed over.")
    )


class WeekCostSerializer(serializers.Serializer):
    week = serializers.DateField(help_text=_("The Monday the clinic week starts on."))
    earned_cents = serializers.IntegerField()


class ClinicCostsSerializer(serializers.Serializer):
    clinic = serializers.IntegerField()
    first = serializers.DateField()
    last = serializers.DateField()
    enrollments = serializers.IntegerField()
    vouchers_cents = serializers.IntegerField()
    bonuses_cents = serializers.IntegerField()
    attendance_cents = serializers.IntegerField()
    prizes_won_cents = serializers.IntegerField()
    earned_cents = serializers.IntegerField(
        help_text=_("Vouchers, bonuses, attendance rewards and prize values won.")
    )
    draws = serializers.IntegerField()
    redeemed_cents = serializers.IntegerField(help_text=_("Redeemed less refunded."))
    redemptions_handed_over_cents = serializers.IntegerField()
    prizes_claimed_cents = serializers.IntegerField()
    handed_over_cents = serializers.IntegerField(
        help_text=_("Redemptions handed over and prizes claimed.")
    )
    per_enrollment = SummarySerializer(help_text=_("Cents earned per enrollment."))
    negatives = serializers.IntegerField()
    per_negative = RatioSerializer(help_text=_("Cents earned / negative tests."))
    abstinent_weeks = serializers.IntegerField()
    per_abstinent_week = RatioSerializer(help_text=_("Cents earned / weeks of abstinence."))
    clipped_cents = serializers.IntegerField(help_text=_("Cut off by the caps."))
    adjustments = StaffEntrySerializer(many=True)
    adjustments_cents = serializers.IntegerField()
    waivers = StaffEntrySerializer(many=True)
    waived_cents = serializers.IntegerField()
    redemption_immediacy = RedemptionImmediacySerializer()
    weekly = WeekCostSerializer(many=True)


class AwardDifferenceSerializer(serializers.Serializer):
    source = serializers.CharField(help_text=_("specimen or attendance."))
    source_id = serializers.IntegerField()
    day = serializers.DateField(allow_null=True)
    component = serializers.CharField(help_text=_("voucher, bonus, attendance or draws."))
    event_year = serializers.IntegerField(allow_null=True)
    expected = serializers.IntegerField(help_text=_("What the engine pays: cents, or draws."))
    posted = serializers.IntegerField(help_text=_("What the ledger holds: cents, or draws."))


class EnrollmentExceptionSerializer(serializers.Serializer):
    enrollment = serializers.IntegerField(source="enrollment_id")
    patient = serializers.IntegerField(source="patient_id")
    protocol = serializers.IntegerField(source="protocol_id")
    awards = AwardDifferenceSerializer(many=True)


class EqualOpportunitySerializer(serializers.Serializer):
    clinic = serializers.IntegerField()
    first = serializers.DateField()
    last = serializers.DateField()
    enrollments = serializers.IntegerField(help_text=_("Enrollments checked."))
    mismatches = EnrollmentExceptionSerializer(
        many=True, help_text=_("Enrollments paid other than the engine pays for their history.")
    )
    outside_schedule = StaffEntrySerializer(
        many=True, help_text=_("Staff adjustments and waivers posted in the range.")
    )


def _clinic_and_range(request, clinic_id):
    """The caller's report clinic (404 otherwise) and the checked range (400 otherwise)."""
    clinic = clinic_choose(report_clinics(request.user), str(clinic_id))
    today = clinic.local_date(timezone.now())
    range_ = RangeSerializer(data=request.query_params, context={"today": today})
    range_.is_valid(raise_exception=True)
    return clinic, range_.validated_data["first"], range_.validated_data["last"]


class ClinicCostsView(APIView):
    """The clinic's rewards and cost over first..last (docs/reports.md, "Rewards and cost"). Its
    administrators and supervisors only: anyone else, and any other clinic's id, gets 404."""

    @extend_schema(parameters=[RangeSerializer], responses=ClinicCostsSerializer)
    def get(self, request, clinic_id):
        clinic, first, last = _clinic_and_range(request, clinic_id)
        costs = clinic_costs(clinic=clinic, first=first, last=last)
        weeks = weekly_cost(clinic=clinic, first=first, last=last)
        figures = set(ClinicCostsSerializer().fields) - {"clinic", "first", "last", "weekly"}
        data = {
            "clinic": clinic.pk,
            "first": first,
            "last": last,
            **{name: getattr(costs, name) for name in figures},
            "weekly": [{"week": week, "earned_cents": cents} for week, cents in weeks],
        }
        return Response(ClinicCostsSerializer(data).data)


class ClinicExceptionsView(APIView):
    """The clinic's equal-opportunity exceptions over first..last (docs/reports.md, "Fidelity:
    equal opportunity"): only the enrollments and rewards that differ from the schedule."""

    @extend_schema(parameters=[RangeSerializer], responses=EqualOpportunitySerializer)
    def get(self, request, clinic_id):
        clinic, first, last = _clinic_and_range(request, clinic_id)
        result = equal_opportunity_exceptions(clinic=clinic, first=first, last=last)
        data = {
            "clinic": clinic.pk,
            "first": first,
            "last": last,
            "enrollments": result.enrollments,
            "mismatches": result.mismatches,
            "outside_schedule": result.outside_schedule,
        }
        return Response(EqualOpportunitySerializer(data).data)
