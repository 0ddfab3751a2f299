"""Changing an enrollment's status: pause, resume, complete, withdraw.

Paused and active go back and forth. Completed and withdrawn end the enrollment on the clinic's
today and are final: a result collected up to that day still belongs to the enrollment and is
settled there, one collected after it is refused (patients.services.enrollment_for), and a new
episode of CM is a new enrollment.
"""

import logging
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from patients.models import Enrollment, Patient

logger = logging.getLogger(__name__)

ENDING = (Enrollment.Status.COMPLETED, Enrollment.Status.WITHDRAWN)

# status now -> statuses it may move to
TRANSITIONS = {
    Enrollment.Status.ACTIVE: {Enrollment.Status.PAUSED, *ENDING},
    Enrollment.Status.PAUSED: {Enrollment.Status.ACTIVE, *ENDING},
    Enrollment.Status.COMPLETED: set(),
    Enrollment.Status.WITHDRAWN: set(),
}


def enrollment_set_status(
    *, enrollment: Enrollment, status: str, actor, today: date | None = None
) -> Enrollment:
    """Move an open enrollment to `status`.

    1. Lock the enrollment row: two counselors clicking at once cannot both act on the old status.
    2. Refuse an unknown status, a move from an ended enrollment, or a move to the same status.
    3. Completing or withdrawing sets the end date to today in the clinic's time zone (never before
       the start date, which the database also holds).
    """
    if status not in Enrollment.Status.values:
        raise ValidationError({"status": _("Unknown status: %(s)s.") % {"s": status}})
    with transaction.atomic():
        enrollment = (
            Enrollment.objects.select_for_update()
            .select_related("patient__clinic")
            .get(pk=enrollment.pk)
        )
        if enrollment.status == status:
            current = enrollment.get_status_display().lower()
            message = _("The enrollment is already %(s)s.") % {"s": current}
            raise ValidationError({"status": message})
        if status not in TRANSITIONS[enrollment.status]:
            raise ValidationError({"status": _("This enrollment has ended; start a new one.")})
        today = today or enrollment.patient.clinic.local_date(timezone.now())
        if status in ENDING:
            enrollment.end_date = max(today, enrollment.start_date)
        if status == Enrollment.Status.ACTIVE:
            # Resumed: the days of the pause, and today, are not marked missed.
            enrollment.misses_start_after(today)
        enrollment.status = status
        enrollment.save(update_fields=["status", "end_date", "misses_from"])
    logger.info(
        "enrollment %s set to %s by user %s",
        enrollment.pk,
        status,
        getattr(actor, "pk", None),
    )
    return enrollment


def drawing_enrollment(patient: Patient) -> Enrollment | None:
    """The enrollment whose bowl and caps the patient's draws are made under: the open one, or
    when none is open the latest one, so draws that a late result earned on a completed
    enrollment can still be drawn."""
    enrollments = patient.enrollments.select_related("protocol")
    return (
        enrollments.filter(status__in=Enrollment.OPEN_STATUSES).first()
        or enrollments.order_by("-start_date", "-id").first()
    )
