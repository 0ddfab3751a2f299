"""Protocols with their parameters and phases: what each negative test is promised to earn."""

from django_filters import rest_framework as filters
from rest_framework import serializers, viewsets

from vouchers.models import Protocol, ProtocolPhase


class PhaseSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProtocolPhase
        exclude = ["protocol"]


class ProtocolSerializer(serializers.ModelSerializer):
    phases = PhaseSerializer(many=True, read_only=True)

    class Meta:
        model = Protocol
        fields = [
            "id",
            "slug",
            "version",
            "name",
            "description",
            "kind",
            "is_current",
            "target_substances",
            "secondary_substances",
            "secondary_bonus_draws",
            "draws_escalation",
            "dilute_is_positive",
            "attendance_cents",
            "attendance_draws",
            "enrollment_cap_cents",
            "year_cap_cents",
            "bowl",
            "phases",
            "created_at",
        ]


class ProtocolFilter(filters.FilterSet):
    class Meta:
        model = Protocol
        fields = ["slug", "kind", "is_current"]


class ProtocolViewSet(viewsets.ReadOnlyModelViewSet):
    """Every protocol version, current or not: enrollments keep the version they started under."""

    serializer_class = ProtocolSerializer
    queryset = Protocol.objects.prefetch_related("phases")
    filterset_class = ProtocolFilter
    ordering_fields = ["slug", "version", "created_at", "id"]
    ordering = ["slug", "-version"]
