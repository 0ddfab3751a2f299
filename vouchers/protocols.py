"""Protocol versions: a protocol is never edited under an enrolled patient; a change is a new
version, and each enrollment keeps the version it enrolled under. The Django admin asks
`protocol_in_use` before it lets anyone change or delete a protocol or its phases."""

from django.db import transaction

from patients.models import Enrollment
from vouchers.models import Protocol, ProtocolPhase


def protocol_in_use(protocol: Protocol | None) -> bool:
    """Whether an enrollment (of any status) was made under `protocol`: then its amounts are a
    promise, never edited."""
    return protocol is not None and Enrollment.objects.filter(protocol_id=protocol.pk).exists()


def protocol_new_version(*, protocol: Protocol) -> Protocol:
    """Copy a protocol (and its phases) as the next version of its slug, made current.

    Existing enrollments keep the version they enrolled under; moving one is a staff action.
    """
    with transaction.atomic():
        latest = (
            Protocol.objects.select_for_update()
            .filter(slug=protocol.slug)
            .order_by("-version")
            .first()
        )
        phases = list(protocol.phases.all())
        Protocol.objects.filter(slug=protocol.slug, is_current=True).update(is_current=False)
        protocol.pk = None
        protocol._state.adding = True
        protocol.version = latest.version + 1
        protocol.is_current = True
        protocol.save()
        for phase in phases:
            phase.pk = None
            phase._state.adding = True
            phase.protocol = protocol
        ProtocolPhase.objects.bulk_create(phases)
        return protocol
