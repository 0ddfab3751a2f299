"""Every clinic whose reports the caller reads, and the organization's sum (docs/reports.md,
"The dashboard"): GET /api/v1/reports/organization/measures/?first=&last=."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from patients.permissions import report_clinics
from vouchers.api.reports import ClinicMeasuresSerializer, RangeSerializer, measures_data
from vouchers.reports.dashboard import organization_report


class OrganizationClinicSerializer(ClinicMeasuresSerializer):
    name = serializers.CharField()


class OrganizationTotalSerializer(ClinicMeasuresSerializer):
    clinic = None  # the sum of every clinic below


class OrganizationMeasuresSerializer(serializers.Serializer):
    first = serializers.DateField()
    last = serializers.DateField()
    clinics = OrganizationClinicSerializer(many=True)
    total = OrganizationTotalSerializer(
        help_text=_(
            "All the clinics' enrollments together: every rate's numerator and denominator is "
            "the sum of the clinics' (never an average of rates)."
        )
    )


class OrganizationMeasuresView(APIView):
    """The headline measures of each clinic the caller administers or supervises, and of all of
    them together, over first..last. Someone who reads no clinic's reports is told nothing
    exists."""

    @extend_schema(parameters=[RangeSerializer], responses=OrganizationMeasuresSerializer)
    def get(self, request):
        clinics = report_clinics(request.user)
        if not clinics:
            raise NotFound()
        now = timezone.now()
        # The range may end no later than the earliest "today" among the clinics' time zones.
        today = min(clinic.local_date(now) for clinic in clinics)
        range_ = RangeSerializer(data=request.query_params, context={"today": today})
        range_.is_valid(raise_exception=True)
        first, last = range_.validated_data["first"], range_.validated_data["last"]
        report = organization_report(clinics=clinics, first=first, last=last)
        total = measures_data(clinics[0], first, last, report.total)
        del total["clinic"]
        data = {
            "first": first,
            "last": last,
            "clinics": [
                {**measures_data(clinic, first, last, measures), "name": clinic.name}
                for clinic, measures in report.clinics
            ],
            "total": total,
        }
        return Response(OrganizationMeasuresSerializer(data).data)
