"""The reward catalog: what the caller's clinic offers."""

from django_filters import rest_framework as filters
from rest_framework import mixins, serializers, viewsets

from patients.permissions import patients_visible_to, staff_clinic_ids
from rewards.models import CatalogItem


class CatalogItemSerializer(serializers.ModelSerializer):
    image = serializers.ImageField(read_only=True, allow_null=True)

    class Meta:
        model = CatalogItem
        fields = [
            "id",
            "clinic",
            "name",
            "description",
            "category",
            "price_cents",
            "stock",
            "prize_tier",
            "image",
        ]


class CatalogFilter(filters.FilterSet):
    # A number, not a choice: an unknown id and another clinic's both just match nothing.
    clinic = filters.NumberFilter(field_name="clinic_id")

    class Meta:
        model = CatalogItem
        fields = ["category", "prize_tier"]


class CatalogViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The active items of the caller's clinics. A patient sees what they can buy (no prizes);
    staff see every active item, prizes too. `stock` null means unlimited."""

    serializer_class = CatalogItemSerializer
    filterset_class = CatalogFilter
    ordering_fields = ["name", "category", "price_cents", "id"]
    ordering = ["category", "name", "id"]

    def get_queryset(self):
        user = self.request.user
        items = CatalogItem.objects.filter(is_active=True)
        clinics = staff_clinic_ids(user)
        if clinics:
            return items.filter(clinic_id__in=clinics)
        own_clinics = patients_visible_to(user).values("clinic_id")
        return items.filter(clinic_id__in=own_clinics, prize_tier="")
