"""GET /api/v1/reports/clinics/{id}/payer/?quarter=2026-Q3: the quarterly payer report as JSON,
for the clinic's report readers (docs/reports.md, "Quarterly payer report"). The same figures as
the page and its CSV."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from patients.permissions import clinic_choose, report_clinics
from vouchers.reports.payer import Quarter, clinic_today, payer_report, quarter_check


class QuarterSerializer(serializers.Serializer):
    """In: the quarter, checked against the clinic's today (context "today")."""

    quarter = serializers.CharField(
        max_length=20,
        help_text=_("The quarter as YYYY-Qn, e.g. 2026-Q3; one that has begun in the clinic."),
    )

    def validate_quarter(self, value) -> Quarter:
        try:
            return quarter_check(value, today=self.context["today"])
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from None


class TestsSerializer(serializers.Serializer):
    scheduled = serializers.IntegerField(help_text=_("Scheduled tests not excused."))
    submitted = serializers.IntegerField(
        help_text=_("Tests performed: negative + positive + adulterated + dilute.")
    )
    negative = serializers.IntegerField()
    positive = serializers.IntegerField()
    adulterated = serializers.IntegerField()
    dilute = serializers.IntegerField()
    missed = serializers.IntegerField()
    refused = serializers.IntegerField()
    excused = serializers.IntegerField()


class IncentivesSerializer(serializers.Serializer):
    earned_cents = serializers.IntegerField(help_text=_("Vouchers earned + prizes won, in cents."))
    vouchers_earned_cents = serializers.IntegerField(
        help_text=_("Vouchers, bonuses and attendance rewards posted, net of reversals.")
    )
    prizes_won_cents = serializers.IntegerField()
    dispensed_cents = serializers.IntegerField(
        help_text=_("Redemptions handed over + prizes claimed, in cents.")
    )
    redemptions_handed_over_cents = serializers.IntegerField()
    prizes_claimed_cents = serializers.IntegerField()


class PayerReportSerializer(serializers.Serializer):
    clinic = serializers.IntegerField()
    quarter = serializers.CharField()
    first = serializers.DateField(help_text=_("The quarter's first clinic day."))
    last = serializers.DateField(
        help_text=_("The last clinic day counted: the quarter's, or today while it runs.")
    )
    so_far = serializers.BooleanField(help_text=_("The quarter is still in progress."))
    participants_in_treatment = serializers.IntegerField(
        help_text=_("Patients with an enrollment open on some day of the quarter.")
    )
    participants_enrolled = serializers.IntegerField(
        help_text=_("Patients with an enrollment starting in the quarter.")
    )
    participants_active = serializers.IntegerField(
        help_text=_("Patients with a test result or an attended session in the quarter.")
    )
    completions = serializers.IntegerField(
        help_text=_("Enrollments that reached their protocol's last week in the quarter.")
    )
    tests = TestsSerializer()
    incentives = IncentivesSerializer()


def payer_data(report) -> dict:
    tests = report.tests
    return {
        "clinic": report.clinic.pk,
        "quarter": str(report.quarter),
        "first": report.first,
        "last": report.last,
        "so_far": report.in_progress,
        "participants_in_treatment": report.participants_in_treatment,
        "participants_enrolled": report.participants_enrolled,
        "participants_active": report.participants_active,
        "completions": report.completions,
        "tests": {
            "scheduled": tests.scheduled,
            "submitted": tests.submitted,
            "negative": tests.negative,
            "positive": tests.positive,
            "adulterated": tests.adulterated,
            "dilute": tests.dilute,
            "missed": tests.missed,
            "refused": tests.refused,
            "excused": tests.excused,
        },
        "incentives": {
            "earned_cents": report.earned_cents,
            "vouchers_earned_cents": report.vouchers_earned_cents,
            "prizes_won_cents": report.prizes_won_cents,
            "dispensed_cents": report.dispensed_cents,
            "redemptions_handed_over_cents": report.redemptions_handed_over_cents,
            "prizes_claimed_cents": report.prizes_claimed_cents,
        },
    }


class ClinicPayerReportView(APIView):
    """The clinic's quarterly payer report. Its administrators and supervisors only: anyone
    else, and any other clinic's id, is told nothing exists."""

    @extend_schema(parameters=[QuarterSerializer], responses=PayerReportSerializer)
    def get(self, request, clinic_id):
        clinic = clinic_choose(report_clinics(request.user), str(clinic_id))
        today = clinic_today(clinic)
        asked = QuarterSerializer(data=request.query_params, context={"today": today})
        asked.is_valid(raise_exception=True)
        quarter = asked.validated_data["quarter"]
        report = payer_report(clinic=clinic, year=quarter.year, quarter=quarter.number, today=today)
        return Response(PayerReportSerializer(payer_data(report)).data)
