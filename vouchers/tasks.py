import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

from patients.models import Enrollment
from vouchers import lab_import, reminders, settlement
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
    return reminders.missed_tests_mark(now=timezone.now())


# A lab file of 100,000 rows takes about a minute; the limits leave room for a slow database. A run
# cut short has committed every chunk it finished, so it queues itself to carry on from there.


@shared_task(soft_time_limit=15 * 60, time_limit=16 * 60)
def lab_import_run(lab_import_id: int) -> None:
    """Import a lab file's job (vouchers.lab_import.lab_import_run), by id."""
    try:
        lab_import.lab_import_run(job_id=lab_import_id)
    except SoftTimeLimitExceeded:
        log.warning("lab import %s stopped by its time limit; carrying on", lab_import_id)
        lab_import_run.delay(lab_import_id)


@shared_task
def lab_imports_sweep() -> int:
    """Hourly: delete the uploads nobody confirmed in time, and start again the jobs that stalled
    (a message lost with the broker, a worker killed mid-file)."""
    now = timezone.now()
    for job_id in lab_import.lab_import_jobs_stalled(now=now):
        lab_import_run.delay(job_id)
    return lab_import.lab_import_uploads_sweep(now=now)
