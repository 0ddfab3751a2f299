"""Redemptions: spend points on catalog items, and the counselors' decisions on them.

A patient asks for items for themself (and may withdraw a request still waiting); staff ask on
a patient's behalf and approve, decline (with a reason), cancel or hand over. Every rule is in
rewards.redemptions: an overspend, an empty shelf or a request that has moved on is a Conflict
(409, with its message).
"""

from django.db.models import Prefetch
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from cmtracker.inputs import REASON_MAX_LENGTH
from patients.permissions import is_staff_member, own_patient, patients_visible_to
from rewards import redemptions
from rewards.models import Redemption, RedemptionLine
from vouchers.api.access import AuditedReads, StaffWritesOnly, VisiblePatientField
from vouchers.api.filters import IsoDateTimeFilter

MAX_ID = 9_223_372_036_854_775_807


class RedemptionLineSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="item.name", read_only=True)

    class Meta:
        model = RedemptionLine
        fields = ["item", "name", "quantity", "price_cents"]


class RedemptionSerializer(serializers.ModelSerializer):
    lines = RedemptionLineSerializer(many=True, read_only=True)

    class Meta:
        model = Redemption
        fields = [
            "id",
            "patient",
            "status",
            "total_cents",
            "lines",
            "requested_by",
            "requested_at",
            "decided_by",
            "decided_at",
            "decision_reason",
            "handed_over_by",
            "handed_over_at",
            "idempotency_key",
        ]


class WantedItemSerializer(serializers.Serializer):
    item = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    # The service adds up lines of one item and checks the sum against the same maximum.
    quantity = serializers.IntegerField(min_value=1, max_value=redemptions.MAX_QUANTITY, default=1)


class RedemptionRequestSerializer(serializers.Serializer):
    """`patient` is required for staff; a patient may leave it out (it is then themself)."""

    patient = VisiblePatientField(required=False)
    items = WantedItemSerializer(many=True, allow_empty=False)
    idempotency_key = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=100,
        help_text=gettext_lazy(
            "Send the same key again and the first answer comes back, paid once."
        ),
    )

    def validate(self, attrs):
        if attrs.get("patient") is None:
            user = self.context["request"].user
            patient = None if is_staff_member(user) else own_patient(user)
            if patient is None:
                raise serializers.ValidationError({"patient": [_("This field is required.")]})
            attrs["patient"] = patient
        return attrs


class DeclineSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=REASON_MAX_LENGTH,
        help_text=gettext_lazy("Say why the request is declined."),
    )


class RedemptionFilter(filters.FilterSet):
    # A number, not a choice: an unknown id and another clinic's both just match nothing.
    patient = filters.NumberFilter(field_name="patient_id")
    requested_after = IsoDateTimeFilter(field_name="requested_at", lookup_expr="gte")
    requested_before = IsoDateTimeFilter(field_name="requested_at", lookup_expr="lt")

    class Meta:
        model = Redemption
        fields = ["status"]


REPLAYED = OpenApiResponse(
    RedemptionSerializer,
    description=gettext_lazy("A repeat of an idempotency key: the first answer, paid once."),
)


class ConflictSerializer(serializers.Serializer):
    """Not now: an overspend, an empty shelf, or a request that has moved on. The message is in
    `detail`, and under the field it concerns (balance, stock, status)."""

    detail = serializers.CharField()


CONFLICT = OpenApiResponse(ConflictSerializer)


class RedemptionViewSet(
    AuditedReads, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """A patient caller sees and asks for their own; staff see their clinics' and decide."""

    serializer_class = RedemptionSerializer
    filterset_class = RedemptionFilter
    ordering_fields = ["requested_at", "total_cents", "id"]
    ordering = ["-requested_at", "-id"]

    def get_permissions(self):
        # Patients ask and withdraw; approving, declining and handing over are for staff.
        if self.action in ("approve", "decline", "handover"):
            return [StaffWritesOnly()]
        return [IsAuthenticated()]

    def get_queryset(self):
        return (
            Redemption.objects.filter(patient__in=patients_visible_to(self.request.user))
            .select_related("patient")
            .prefetch_related(
                Prefetch(
                    "lines", queryset=RedemptionLine.objects.select_related("item").order_by("pk")
                )
            )
        )

    def _answer(self, redemption: Redemption, code=status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=redemption.pk)
        return Response(RedemptionSerializer(fresh).data, status=code)

    @extend_schema(
        request=RedemptionRequestSerializer,
        responses={201: RedemptionSerializer, 200: REPLAYED, 409: CONFLICT},
    )
    def create(self, request):
        """Ask for catalog items; the points (and tracked stock) are held at once. 201 when made;
        200 for a repeated idempotency key; 409 when the balance or the stock is short."""
        form = RedemptionRequestSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        data = form.validated_data
        requested = redemptions.redemption_request_or_replay(
            patient=data["patient"],
            items=[(wanted["item"], wanted["quantity"]) for wanted in data["items"]],
            requested_by=request.user,
            idempotency_key=data.get("idempotency_key") or None,
        )
        code = status.HTTP_200_OK if requested.replayed else status.HTTP_201_CREATED
        return self._answer(requested.redemption, code)

    @extend_schema(request=None, responses={200: RedemptionSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Staff approve a waiting request (requested → approved)."""
        redemption = redemptions.redemption_approve(
            redemption=self.get_object(), actor=request.user
        )
        return self._answer(redemption)

    @extend_schema(request=DeclineSerializer, responses={200: RedemptionSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        """Staff decline an open request, with a reason; the points and stock come back."""
        redemption = self.get_object()
        form = DeclineSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        redemption = redemptions.redemption_decline(
            redemption=redemption, actor=request.user, reason=form.validated_data["reason"]
        )
        return self._answer(redemption)

    @extend_schema(request=None, responses={200: RedemptionSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Withdraw a request: the patient their own while it waits, staff while it is open. The
        points and stock come back."""
        redemption = redemptions.redemption_cancel(redemption=self.get_object(), actor=request.user)
        return self._answer(redemption)

    @extend_schema(request=None, responses={200: RedemptionSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def handover(self, request, pk=None):
        """Staff hand the approved items over (approved → handed over)."""
        redemption = redemptions.redemption_handover(
            redemption=self.get_object(), actor=request.user
        )
        return self._answer(redemption)
