"""Therapy sessions: list and record (and settle)."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from cmtracker.inputs import NOTE_MAX_LENGTH
from patients.models import Attendance
from patients.permissions import patients_visible_to
from vouchers import recording
from vouchers.api.access import AuditedReads, StaffWritesOnly, VisiblePatientField
from vouchers.api.filters import EnrollmentRecordFilter, IsoDateTimeFilter
from vouchers.api.recorded import AwardSerializer, award_data


class AttendanceSerializer(serializers.ModelSerializer):
    patient = serializers.IntegerField(source="enrollment.patient_id", read_only=True)

    class Meta:
        model = Attendance
        fields = [
            "id",
            "patient",
            "enrollment",
            "occurred_at",
            "session_kind",
            "status",
            "notes",
            "recorded_at",
        ]


class AttendanceRecordSerializer(serializers.Serializer):
    patient = VisiblePatientField()
    occurred_at = serializers.DateTimeField()
    session_kind = serializers.ChoiceField(choices=Attendance.SessionKind.choices)
    status = serializers.ChoiceField(
        choices=Attendance.Status.choices, default=Attendance.Status.ATTENDED
    )
    notes = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=NOTE_MAX_LENGTH
    )
    idempotency_key = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=100,
        help_text=_("Send the same key again and the first answer comes back, paid once."),
    )


class AttendanceRecordedSerializer(AwardSerializer):
    attendance = AttendanceSerializer()


class AttendanceFilter(EnrollmentRecordFilter):
    occurred_after = IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Attendance
        fields = ["session_kind", "status"]


class AttendanceViewSet(
    AuditedReads, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Staff record sessions; a patient caller reads their own."""

    audit_patient = "enrollment.patient_id"

    serializer_class = AttendanceSerializer
    permission_classes = [StaffWritesOnly]
    filterset_class = AttendanceFilter
    ordering_fields = ["occurred_at", "recorded_at", "id"]
    ordering = ["-occurred_at", "-id"]

    def get_queryset(self):
        return Attendance.objects.filter(
            enrollment__patient__in=patients_visible_to(self.request.user)
        ).select_related("enrollment")

    @extend_schema(
        request=AttendanceRecordSerializer,
        responses={
            201: AttendanceRecordedSerializer,
            200: OpenApiResponse(
                AttendanceRecordedSerializer,
                description=_("A repeat of an idempotency key: the first answer, paid once."),
            ),
        },
    )
    def create(self, request):
        """Record a session and settle. 201 when recorded; 200 for a repeated idempotency key."""
        form = AttendanceRecordSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        data = form.validated_data
        recorded = recording.attendance_record(
            patient=data["patient"],
            occurred_at=data["occurred_at"],
            session_kind=data["session_kind"],
            status=data["status"],
            notes=data["notes"],
            recorded_by=request.user,
            idempotency_key=data.get("idempotency_key") or None,
        )
        attendance = Attendance.objects.select_related("enrollment").get(pk=recorded.attendance.pk)
        body = {"attendance": AttendanceSerializer(attendance).data, **award_data(recorded)}
        answer = status.HTTP_200_OK if recorded.replayed else status.HTTP_201_CREATED
        return Response(body, status=answer)
