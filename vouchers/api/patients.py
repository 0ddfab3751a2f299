"""Patients, their balance and their ledger, scoped through patients.permissions."""

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from cmtracker.models import Clinic, User
from patients.models import Patient
from patients.permissions import patient_get_or_404, patients_visible_to, staff_clinic_ids
from patients.services import patient_create, patient_update
from vouchers import extensions
from vouchers.api.access import AuditedReads, StaffWritesOnly
from vouchers.api.filters import IsoDateTimeFilter
from vouchers.models import LedgerEntry
from vouchers.selectors import reward_summary


class PatientSerializer(serializers.ModelSerializer):
    """In and out: the shape of a patient, with the clinic and counselor offered from the caller's
    own clinics. The record's rules (record number per clinic, phone number, the counselor at
    the patient's clinic) are patients.services', which the view calls."""

    class Meta:
        model = Patient
        fields = [
            "id",
            "clinic",
            "record_number",
            "first_name",
            "last_name",
            "primary_counselor",
            "phone",
            "email",
            "preferred_language",
            "reminder_consent_sms",
            "reminder_consent_email",
            "message_style",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        validators = []  # record_number per clinic is the service's, on the right field

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        clinics = staff_clinic_ids(request.user) if request else []
        # Another clinic's id reads "does not exist", exactly like an id that does not.
        self.fields["clinic"].queryset = Clinic.objects.filter(id__in=clinics)
        self.fields["primary_counselor"].queryset = User.objects.filter(
            memberships__clinic_id__in=clinics
        ).distinct()


REACH_FIELDS = {"phone", "email", "reminder_consent_sms", "reminder_consent_email", "message_style"}


class PatientListSerializer(PatientSerializer):
    """A list shows who is who, not how to reach them: contact details and reminder choices are
    on one patient's record only (data minimisation)."""

    class Meta(PatientSerializer.Meta):
        fields = [f for f in PatientSerializer.Meta.fields if f not in REACH_FIELDS]


class PatientFilter(filters.FilterSet):
    q = filters.CharFilter(method="search", label=_("Name or record number contains"))
    # Plain numbers, not choices checked against every clinic and user: an id that exists
    # elsewhere and one that exists nowhere answer alike (an empty list), so ids leak nothing.
    clinic = filters.NumberFilter(field_name="clinic_id", label=_("Clinic id"))
    primary_counselor = filters.NumberFilter(
        field_name="primary_counselor_id", label=_("Primary counselor's user id")
    )

    class Meta:
        model = Patient
        fields = ["clinic", "primary_counselor", "preferred_language", "record_number"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(first_name__icontains=value)
            | Q(last_name__icontains=value)
            | Q(record_number__icontains=value)
        )


class BalanceSerializer(serializers.Serializer):
    balance_cents = serializers.IntegerField()
    held_cents = serializers.IntegerField(help_text=_("Points held by open redemptions."))
    overpayment_cents = serializers.IntegerField()
    draws_available = serializers.IntegerField()
    streak = serializers.IntegerField()
    next_voucher_cents = serializers.IntegerField(
        help_text=_("The voucher's next value in the escalation, without a bonus.")
    )
    next_negative_cents = serializers.IntegerField(
        help_text=_(
            "What the next negative test earns in all on the next test day: the voucher, any "
            "bonus due, after the caps; 0 when nothing more can be earned."
        )
    )
    next_draws = serializers.IntegerField()
    earned_this_year_cents = serializers.IntegerField()
    cap_remaining_cents = serializers.IntegerField(allow_null=True)
    protocol = serializers.IntegerField(allow_null=True)
    protocol_over = serializers.BooleanField()


class LedgerEntrySerializer(serializers.ModelSerializer):
    # The ids of the rewards app's records, under the names the API has always given them.
    redemption = serializers.IntegerField(source="redemption_id", allow_null=True, required=False)
    prize_draw = serializers.IntegerField(source="prize_draw_id", allow_null=True, required=False)

    class Meta:
        model = LedgerEntry
        fields = [
            "id",
            "kind",
            "component",
            "amount_cents",
            "overpayment_cents",
            "draws",
            "draws_under_review",
            "specimen",
            "attendance",
            "redemption",
            "prize_draw",
            "event_year",
            "reason",
            "created_at",
        ]


class LedgerFilter(filters.FilterSet):
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = LedgerEntry
        fields = ["kind", "component", "event_year"]


class PatientViewSet(
    AuditedReads,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """A patient caller sees only themself; staff see their clinics' patients; staff write."""

    audit_patient = "pk"
    serializer_class = PatientSerializer
    permission_classes = [StaffWritesOnly]
    filterset_class = PatientFilter
    ordering_fields = ["last_name", "first_name", "record_number", "created_at", "id"]
    ordering = ["last_name", "first_name", "id"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return patients_visible_to(self.request.user)

    def get_serializer_class(self):
        return PatientListSerializer if self.action == "list" else PatientSerializer

    def get_object(self):
        patient = patient_get_or_404(self.request.user, self.kwargs["pk"])
        self.check_object_permissions(self.request, patient)
        return patient

    def perform_create(self, serializer):
        serializer.instance = patient_create(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = patient_update(
            patient=serializer.instance, **serializer.validated_data
        )


class PatientBalanceView(APIView):
    """Balance, what open redemptions hold, streak, next reward and what is left under the caps."""

    @extend_schema(responses=BalanceSerializer)
    def get(self, request, pk):
        patient = patient_get_or_404(request.user, pk)
        summary = reward_summary(patient=patient, today=patient.clinic.local_date(timezone.now()))
        data = {
            "balance_cents": summary.wallet.balance_cents,
            "held_cents": extensions.points_held_cents(patient=patient),
            "overpayment_cents": summary.wallet.overpayment_cents,
            "draws_available": summary.wallet.draws_available,
            "streak": summary.streak,
            "next_voucher_cents": summary.next_voucher_cents,
            "next_negative_cents": summary.next_cents,
            "next_draws": summary.next_draws,
            "earned_this_year_cents": summary.earned_this_year_cents,
            "cap_remaining_cents": summary.cap_remaining_cents,
            "protocol": summary.enrollment.protocol_id if summary.enrollment else None,
            "protocol_over": summary.protocol_over,
        }
        return Response(BalanceSerializer(data).data)


class PatientLedgerView(ListAPIView):
    """The patient's ledger, oldest first: every movement of points, never edited."""

    serializer_class = LedgerEntrySerializer
    filterset_class = LedgerFilter
    ordering_fields = ["created_at", "id", "amount_cents"]
    ordering = ["created_at", "id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return LedgerEntry.objects.none()
        patient = patient_get_or_404(self.request.user, self.kwargs["pk"])
        return LedgerEntry.objects.filter(patient=patient)
