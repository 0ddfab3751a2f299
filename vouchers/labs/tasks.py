"""The lab import's background tasks: a long file's job, and the hourly sweep.

Celery's autodiscovery imports only `<app>.tasks`, so vouchers.tasks imports this module. The
tasks keep the names they had in vouchers.tasks: the beat schedule names them, and a message
queued before an upgrade still finds its task after it.
"""

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

from vouchers.labs import importer

log = logging.getLogger(__name__)

# A lab file of 100,000 rows takes about a minute; the limits leave room for a slow database. A run
# cut short has committed every chunk it finished, so it queues itself to carry on from there.


@shared_task(name="vouchers.tasks.lab_import_run", soft_time_limit=15 * 60, time_limit=16 * 60)
def lab_import_run(lab_import_id: int) -> None:
    """Import a lab file's job (vouchers.labs.importer.lab_import_run), by id."""
    try:
        importer.lab_import_run(job_id=lab_import_id)
    except SoftTimeLimitExceeded:
        log.warning("lab import %s stopped by its time limit; carrying on", lab_import_id)
        lab_import_run.delay(lab_import_id)


@shared_task(name="vouchers.tasks.lab_imports_sweep")
def lab_imports_sweep() -> int:
    """Hourly: delete the uploads nobody confirmed in time, and start again the jobs that stalled
    (a message lost with the broker, a worker killed mid-file)."""
    now = timezone.now()
    for job_id in importer.lab_import_jobs_stalled(now=now):
        lab_import_run.delay(job_id)
    return importer.lab_import_uploads_sweep(now=now)
