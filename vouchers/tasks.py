import logging

from celery import shared_task

from patients.models import Enrollment
from vouchers import services
from vouchers.selectors import ledger_verify as ledger_drift

log = logging.getLogger(__name__)


@shared_task
def ledger_verify() -> int:
    """Nightly: any wallet that differs from its ledger is logged as an error for staff."""
    drift = ledger_drift()
    for d in drift:
        log.error("ledger drift: patient %s %s wallet=%s ledger=%s", *vars(d).values())
    return len(drift)


@shared_task
def enrollment_settle(enrollment_id: int) -> None:
    """Re-settle one enrollment (after a bulk change, or a protocol move), by id."""
    services.enrollment_settle(enrollment=Enrollment.objects.get(pk=enrollment_id))
