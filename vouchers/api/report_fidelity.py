"""Fidelity per counselor (docs/reports.md), for the clinic's administrators and supervisors only.

The range, the ratios and the choice of clinic are the measures endpoint's (vouchers/api/
reports.py); the figures are `vouchers.reports.fidelity.counselor_fidelity`'s.
"""

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from cmtracker import audit
from patients.permissions import clinic_choose, report_clinics
from vouchers.api.reports import ImmediacySerializer, RangeSerializer, RatioSerializer
from vouchers.reports.fidelity import CounselorFidelity, counselor_fidelity


class StaffActionSerializer(serializers.Serializer):
    at = serializers.DateTimeField(help_text=_("When it was done, in the clinic's offset."))
    patient = serializers.IntegerField(source="patient_id")
    reason = serializers.CharField()
    amount_cents = serializers.IntegerField(
        help_text=_(
            "An adjustment: what it moved in the balance (signed). A waiver: the overpayment "
            "forgiven. 0 for corrections and excused tests."
        )
    )


class CounselorFidelitySerializer(serializers.Serializer):
    counselor = serializers.IntegerField(
        source="counselor_id",
        allow_null=True,
        help_text=_("The staff member's id; null on the no-counselor row and the total row."),
    )
    name = serializers.CharField()
    total = serializers.BooleanField(source="is_total", help_text=_("The clinic's total row."))
    enrollments = serializers.IntegerField(
        help_text=_("Enrollments overlapping the range whose patient this counselor has.")
    )
    negative_samples = RatioSerializer(
        help_text=_("Negative tests / scheduled tests not excused (missing counts as positive).")
    )
    immediacy = serializers.SerializerMethodField()
    late_results = RatioSerializer()
    schedule_kept = RatioSerializer()
    protocol_weeks = RatioSerializer(
        help_text=_("Weeks with the protocol's tests per week / weeks whole in the range and over.")
    )
    corrections = StaffActionSerializer(many=True)
    excused = StaffActionSerializer(many=True)
    adjustments = StaffActionSerializer(many=True)
    waivers = StaffActionSerializer(many=True)

    @extend_schema_field(ImmediacySerializer)
    def get_immediacy(self, row: CounselorFidelity) -> dict:
        def seconds(delta: timedelta | None) -> int | None:
            return None if delta is None else int(delta.total_seconds())

        immediacy = row.immediacy
        data = {
            "median_seconds": seconds(immediacy.median),
            "p90_seconds": seconds(immediacy.p90),
            "same_day": immediacy.same_day,
        }
        return ImmediacySerializer(data).data


class ClinicFidelitySerializer(serializers.Serializer):
    clinic = serializers.IntegerField()
    first = serializers.DateField()
    last = serializers.DateField()
    rows = CounselorFidelitySerializer(
        many=True,
        help_text=_(
            "A row per counselor by name, then the patients with no counselor (and actions "
            "that name nobody) when there are any, then the clinic's total."
        ),
    )


class ClinicFidelityView(APIView):
    """Fidelity per counselor over first..last. The clinic's administrators and supervisors only:
    anyone else, and any other clinic's id, is told nothing exists. The rows name the patients
    whose corrections, excuses and adjustments they list, so those reads are in the audit log."""

    @extend_schema(parameters=[RangeSerializer], responses=ClinicFidelitySerializer)
    def get(self, request, clinic_id):
        clinic = clinic_choose(report_clinics(request.user), str(clinic_id))
        today = clinic.local_date(timezone.now())
        range_ = RangeSerializer(data=request.query_params, context={"today": today})
        range_.is_valid(raise_exception=True)
        first, last = range_.validated_data["first"], range_.validated_data["last"]
        rows = counselor_fidelity(clinic=clinic, first=first, last=last)
        total = rows[-1]
        audit.disclosed(
            action.patient_id
            for actions in (total.corrections, total.excused, total.adjustments, total.waivers)
            for action in actions
        )
        data = {"clinic": clinic.pk, "first": first, "last": last, "rows": rows}
        with timezone.override(clinic.tz):  # instants in the clinic's own offset
            return Response(ClinicFidelitySerializer(data).data)
