import logging

from celery import shared_task
from django.utils import timezone

from patients.models import Enrollment
from vouchers import missed, reminders, settlement

# Registered with Celery here: autodiscovery imports only this module of the app.
from vouchers.labs.tasks import lab_import_run, lab_imports_sweep  # noqa: F401
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
    settlement.enrollment_settle(enrollment=Enrollment.objects.get(pk=enrollment_id))


# The two beat tasks: each run reads the clock once and leaves the rules to the services. Running
# one late, twice, or twice at once queues no reminder twice and marks no test twice, and a run cut
# short by its time limit has committed every chunk it finished: the next run carries on.


@shared_task(soft_time_limit=600, time_limit=660)
def reminders_queue() -> int:
    """Every five minutes: queue the reminders whose time has come."""
    return reminders.reminders_queue(now=timezone.now())


@shared_task(soft_time_limit=900, time_limit=960)
def missed_tests_mark() -> int:
    """Every fifteen minutes: mark the tests missed that nobody came for before closing."""
    return missed.missed_tests_mark(now=timezone.now())
