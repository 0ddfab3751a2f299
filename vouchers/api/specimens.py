"""Drug tests: list, record (and settle), correct (with a reason)."""

from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from cmtracker.inputs import NOTE_MAX_LENGTH, REASON_MAX_LENGTH
from patients.models import Specimen, SpecimenResult
from patients.permissions import patients_visible_to
from vouchers import recording
from vouchers.api.access import AuditedReads, StaffWritesOnly, VisiblePatientField
from vouchers.api.filters import EnrollmentRecordFilter, IsoDateTimeFilter
from vouchers.api.recorded import AwardSerializer, award_data, notes_as_reason


class SpecimenSerializer(serializers.ModelSerializer):
    patient = serializers.IntegerField(source="enrollment.patient_id", read_only=True)
    results = serializers.SerializerMethodField()

    class Meta:
        model = Specimen
        fields = [
            "id",
            "patient",
            "enrollment",
            "collected_at",
            "kind",
            "status",
            "outcome",
            "secondary_negative",
            "results",
            "notes",
            "recorded_at",
        ]

    def get_results(self, specimen) -> dict[str, str]:
        return {r.substance: r.result for r in specimen.results.all()}


class SpecimenRecordSerializer(serializers.Serializer):
    patient = VisiblePatientField()
    collected_at = serializers.DateTimeField()
    kind = serializers.ChoiceField(choices=Specimen.Kind.choices, default=Specimen.Kind.URINE)
    results = serializers.DictField(
        child=serializers.ChoiceField(choices=SpecimenResult.Result.choices),
        required=False,
        default=dict,
        help_text=_('One result per substance, e.g. {"cocaine": "negative"}.'),
    )
    status = serializers.ChoiceField(
        choices=Specimen.Status.choices, default=Specimen.Status.TESTED
    )
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=NOTE_MAX_LENGTH,
        help_text=_("Required when excused."),
    )
    idempotency_key = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=100,
        help_text=_("Send the same key again and the first answer comes back, paid once."),
    )


class SpecimenCorrectSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=REASON_MAX_LENGTH,
        help_text=_(
            "Why the result is being corrected. A correction to status excused keeps it as the "
            "excused test's reason too (as recording one does), unless notes are given."
        ),
    )
    collected_at = serializers.DateTimeField(required=False)
    kind = serializers.ChoiceField(choices=Specimen.Kind.choices, required=False)
    results = serializers.DictField(
        child=serializers.ChoiceField(choices=SpecimenResult.Result.choices), required=False
    )
    status = serializers.ChoiceField(choices=Specimen.Status.choices, required=False)
    notes = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=NOTE_MAX_LENGTH,
        help_text=_(
            "The test's notes (an excused test's reason); left out, they stay as they are."
        ),
    )


class SpecimenRecordedSerializer(AwardSerializer):
    specimen = SpecimenSerializer()


class SpecimenFilter(EnrollmentRecordFilter):
    collected_after = IsoDateTimeFilter(field_name="collected_at", lookup_expr="gte")
    collected_before = IsoDateTimeFilter(field_name="collected_at", lookup_expr="lt")

    class Meta:
        model = Specimen
        fields = ["kind", "status", "outcome"]


def recorded_body(recorded: recording.Recorded) -> dict:
    specimen = (
        Specimen.objects.select_related("enrollment")
        .prefetch_related("results")
        .get(pk=recorded.specimen.pk)
    )
    return {"specimen": SpecimenSerializer(specimen).data, **award_data(recorded)}


class SpecimenViewSet(
    AuditedReads, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Staff record and correct; a patient caller reads their own tests."""

    audit_patient = "enrollment.patient_id"

    serializer_class = SpecimenSerializer
    permission_classes = [StaffWritesOnly]
    filterset_class = SpecimenFilter
    ordering_fields = ["collected_at", "recorded_at", "id"]
    ordering = ["-collected_at", "-id"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return (
            Specimen.objects.filter(enrollment__patient__in=patients_visible_to(self.request.user))
            .select_related("enrollment")
            .prefetch_related(Prefetch("results", queryset=SpecimenResult.objects.all()))
        )

    @extend_schema(
        request=SpecimenRecordSerializer,
        responses={
            201: SpecimenRecordedSerializer,
            200: OpenApiResponse(
                SpecimenRecordedSerializer,
                description=_("A repeat of an idempotency key: the first answer, paid once."),
            ),
        },
    )
    def create(self, request):
        """Record a drug test and settle. 201 when recorded; 200 when the idempotency key was
        seen before, with the same specimen and award and nothing paid again."""
        form = SpecimenRecordSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            recorded = recording.specimen_record(
                patient=data["patient"],
                collected_at=data["collected_at"],
                kind=data["kind"],
                status=data["status"],
                results=data["results"],
                notes=data["reason"],
                recorded_by=request.user,
                idempotency_key=data.get("idempotency_key") or None,
            )
        except ValidationError as error:
            raise notes_as_reason(error) from None
        answer = status.HTTP_200_OK if recorded.replayed else status.HTTP_201_CREATED
        return Response(recorded_body(recorded), status=answer)

    @extend_schema(request=SpecimenCorrectSerializer, responses=SpecimenRecordedSerializer)
    def partial_update(self, request, pk=None):
        """Correct a recorded test (a reason is required); settlement posts the difference."""
        specimen = self.get_object()
        form = SpecimenCorrectSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        recorded = recording.specimen_correct(
            specimen=specimen, changed_by=request.user, **form.validated_data
        )
        return Response(recorded_body(recorded))
