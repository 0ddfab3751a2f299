"""An enrollment's whole lifecycle: starting one, its weekly schedule, and its status (pause,
resume, complete, withdraw). Nothing else writes an enrollment's dates, status, schedule or
misses_from (the Django admin shows them read-only), so the rule of which test days can be
marked missed is kept here.

Paused and active go back and forth. Completed and withdrawn end the enrollment on the clinic's
today and are final: a result collected up to that day still belongs to the enrollment and is
settled there, one collected after it is refused (patients.services.enrollment_for), and a new
episode of CM is a new enrollment.
"""

import logging
from datetime import date

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cmtracker.models import validate_weekdays
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


def enrollment_start(
    *, patient: Patient, protocol, start_date: date, today: date | None = None
) -> Enrollment:
    """Enrol a patient under `protocol` (a vouchers.Protocol the caller chose: the enrol form
    offers current versions only; the patients app does not judge protocols).

    1. Refuse a second open enrollment; the database holds the same rule behind this check.
    2. A start up to today leaves no past day to be marked missed (misses_from is tomorrow).
    """
    if patient.enrollments.filter(status__in=Enrollment.OPEN_STATUSES).exists():
        raise ValidationError({"patient": _("This patient already has an open enrollment.")})
    enrollment = Enrollment(patient=patient, protocol=protocol, start_date=start_date)
    today = today or patient.clinic.local_date(timezone.now())
    if start_date <= today:
        enrollment.misses_start_after(today)  # no day up to today was theirs yet
    try:
        with transaction.atomic():
            enrollment.save(force_insert=True)
            return enrollment
    except IntegrityError:
        raise ValidationError(
            {"patient": _("This patient already has an open enrollment.")}
        ) from None


def enrollment_schedule_set(
    *,
    enrollment: Enrollment,
    test_weekdays: list[int],
    session_weekdays: list[int],
    actor,
    today: date | None = None,
) -> Enrollment:
    """Staff choose a patient's own test weekdays (the clinic's when they are the same) and the
    weekdays of a standing therapy session. From then on the schedule, the reminders and the
    missed-test marking follow them; tests already recorded or marked are not touched."""
    test_weekdays = sorted(set(test_weekdays))
    session_weekdays = sorted(set(session_weekdays))
    validate_weekdays(test_weekdays)
    validate_weekdays(session_weekdays)
    if not test_weekdays:
        raise ValidationError({"test_weekdays": _("Choose at least one test day.")})
    with transaction.atomic():
        enrollment = (
            Enrollment.objects.select_for_update()
            .select_related("patient__clinic")
            .get(pk=enrollment.pk)
        )
        clinic = enrollment.patient.clinic
        clinic_days = sorted(clinic.test_weekdays)
        new_test_days = None if test_weekdays == clinic_days else test_weekdays
        if new_test_days != enrollment.test_weekdays:
            # The new days count from tomorrow: today and the past were not test days under them.
            enrollment.misses_start_after(today or clinic.local_date(timezone.now()))
        enrollment.test_weekdays = new_test_days
        enrollment.session_weekdays = session_weekdays
        enrollment.save(update_fields=["test_weekdays", "session_weekdays", "misses_from"])
    return enrollment


def drawing_enrollment(patient: Patient) -> Enrollment | None:
    """The enrollment whose bowl and caps the patient's draws are made under: the open one, or
    when none is open the latest one, so draws that a late result earned on a completed
    enrollment can still be drawn."""
    enrollments = patient.enrollments.all()
    return (
        enrollments.filter(status__in=Enrollment.OPEN_STATUSES).first()
        or enrollments.order_by("-start_date", "-id").first()
    )
