"""Bulk import of lab results from a CSV file: write the rows the preview passed, then settle.

Recording one result through `recording.specimen_record` settles the enrollment each time, which is
right at the front desk and far too slow for a lab's file of 10,000 rows. The import instead
judges every row at once (vouchers.labs.rows, the preview's own judgement), writes the specimens
and their results with bulk_create in one transaction, and settles each touched enrollment once.
Outcomes come from the same helpers `specimen_record` uses, so an imported row earns exactly what
recording it by hand would.

A file of up to SYNC_MAX_ROWS rows is written inside the request, in one transaction. A longer one
(a 100,000-row file takes about a minute) is a LabImport job run by a Celery task: every row is
checked first, then the good rows are written a chunk of whole patients at a time, each chunk in
its own transaction with the job's progress, so a retried job resumes where it stopped and writes
nothing twice.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cmtracker import audit
from cmtracker.models import Clinic
from patients.models import Patient, Specimen, SpecimenResult
from vouchers import notices, recording
from vouchers.labs.rows import (
    ERROR,
    OK,
    SKIPPED,
    WRITTEN,
    ImportReport,
    ImportRow,
    file_lines,
    rows_check,
)
from vouchers.models import LabImport, Wallet
from vouchers.settlement import enrollment_settle, specimen_key

ALL_OR_NOTHING = "all_or_nothing"
SKIP_BAD_ROWS = "skip_bad_rows"
MODES = (ALL_OR_NOTHING, SKIP_BAD_ROWS)

# Up to this many rows a file is written inside the request (a few seconds); longer ones by a job.
SYNC_MAX_ROWS = 2_000
# A job writes about this many rows per transaction, always whole patients.
CHUNK_ROWS = 1_000
# An upload nobody confirmed is deleted with its file after this long.
UPLOAD_LIFETIME = timedelta(days=1)
# A queued or running job that has not moved for this long is started again (a lost message, a
# killed worker); a live job commits a chunk every second or two.
JOB_STALLED_AFTER = timedelta(minutes=15)
# Runs of one job (the first, retries, restarts by the sweep) before it is given up as failed.
JOB_MAX_ATTEMPTS = 5


class _Abort(Exception):
    """Rolls back the import's transaction when all-or-nothing finds a bad row."""


# --- writing -----------------------------------------------------------------------------------


def lab_import_apply(*, clinic: Clinic, text: str, actor, mode: str) -> ImportReport:
    """Write the file's good rows and settle, or nothing at all.

    1. Lock the wallets of every patient the file names, in patient-id order (the lock order of
       every write that moves points), so nobody records a result for them meanwhile.
    2. Validate every row, as the preview does, now under those locks.
    3. all_or_nothing with any bad row: roll back, report. Otherwise bulk-create the good rows'
       specimens and results.
    4. Settle each touched enrollment once, in patient-id order.
    """
    if mode not in MODES:
        raise ValidationError({"mode": _("Choose all or nothing, or skip bad rows.")})
    now = timezone.now()
    lines = file_lines(text)
    numbers = {values.get("record_number") for _number, values in lines}
    report = ImportReport(rows=[], mode=mode, applied=True)
    try:
        with transaction.atomic():
            _wallets_lock(clinic=clinic, record_numbers=numbers)
            report.rows = rows_check(clinic=clinic, lines=lines)
            good = [row for row in report.rows if row.status == OK]
            if report.has_errors and mode == ALL_OR_NOTHING:
                raise _Abort
            report.settled = _write_and_settle(good, actor, now)
    except _Abort:
        for row in report.rows:
            if row.status == OK:
                row.status = SKIPPED
                row.messages.append(_("Not written: other rows have errors."))
        return report
    except IntegrityError:
        # An idempotency key taken by a concurrent request between the check and the write.
        raise ValidationError({"file": _RECORDED_MEANWHILE}) from None
    return report


_RECORDED_MEANWHILE = gettext_lazy(
    "Some of these results were recorded at the same moment elsewhere; run the preview again."
)


def _write_and_settle(good: list[ImportRow], actor, now: datetime) -> int:
    """Write the rows, settle each touched enrollment once (patient-id order), one notice each.
    Returns the number of enrollments settled."""
    specimens = _write(good, actor)
    recording.missed_marks_withdraw(specimens, actor)
    touched = {row.enrollment.id: row.enrollment for row in good}
    latest = {s.enrollment_id: s for s in sorted(specimens, key=_recorded_order)}
    for enrollment in sorted(touched.values(), key=lambda e: (e.patient_id, e.id)):
        settlement = enrollment_settle(enrollment=enrollment, actor=actor)
        _award_notice(settlement, latest[enrollment.id], now)
    return len(touched)


def _recorded_order(specimen: Specimen):
    return (specimen.collected_at, specimen.id)


def _award_notice(settlement, specimen: Specimen, now) -> None:
    """One notice per patient for an import, however many of their results it brought: what the
    latest one earned, and the balance after all of them (a backlog is not a burst of texts)."""
    award = settlement.award_for(specimen_key(specimen.id))
    notices.award_notice_queue(settlement=settlement, award=award, source=specimen, now=now)


def _wallets_lock(*, clinic: Clinic, record_numbers: set) -> None:
    patient_ids = list(
        Patient.objects.filter(clinic=clinic, record_number__in=record_numbers).values_list(
            "id", flat=True
        )
    )
    Wallet.objects.bulk_create([Wallet(patient_id=pk) for pk in patient_ids], ignore_conflicts=True)
    list(
        Wallet.objects.select_for_update()
        .filter(patient_id__in=patient_ids)
        .order_by("patient_id")
        .values_list("id", flat=True)
    )


def _write(rows: list[ImportRow], actor) -> list[Specimen]:
    specimens = Specimen.objects.bulk_create(
        [
            Specimen(
                enrollment=row.enrollment,
                collected_at=row.collected_at,
                kind=row.kind,
                status=row.specimen_status,
                outcome=row.outcome,
                secondary_negative=row.secondary_negative,
                notes=row.notes,
                recorded_by=actor,
                idempotency_key=row.idempotency_key,
                key_clinic_id=row.patient.clinic_id if row.idempotency_key else None,
            )
            for row in rows
        ],
        batch_size=1000,
    )
    audit.created(specimens)
    results = SpecimenResult.objects.bulk_create(
        [
            SpecimenResult(specimen=specimen, substance=substance, result=result)
            for specimen, row in zip(specimens, rows, strict=True)
            for substance, result in row.results.items()
        ],
        batch_size=2000,
    )
    audit.created(results)
    for row in rows:
        row.status = WRITTEN
    return specimens


# --- uploads waiting for confirmation, and jobs for long files ----------------------------------


def lab_import_is_long(*, rows: int) -> bool:
    """A file too long to write inside the request: a job imports it."""
    return rows > SYNC_MAX_ROWS


def lab_import_upload(*, clinic: Clinic, actor, text: str, rows: int, now: datetime) -> LabImport:
    """Keep a previewed file on the server until it is confirmed (the session holds only its id
    and one-time token), after deleting the uploads that expired unconfirmed."""
    lab_import_uploads_sweep(now=now)
    return LabImport.objects.create(
        clinic=clinic,
        created_by=actor,
        text=text,
        rows_total=rows,
        token=uuid.uuid4().hex,
        expires_at=now + UPLOAD_LIFETIME,
    )


def lab_import_uploads_sweep(*, now: datetime) -> int:
    """Delete the uploads nobody confirmed before they expired; the number deleted."""
    expired = LabImport.objects.filter(status=LabImport.Status.UPLOADED, expires_at__lte=now)
    return expired.delete()[0]


def lab_import_confirm(
    *, clinic: Clinic, actor, upload_id, token: str, mode: str, now: datetime
) -> ImportReport | LabImport | None:
    """The counselor confirms the preview of their upload.

    1. Claim the upload: only the user who uploaded it, in its clinic, before it expires, and only
       once (a conditional UPDATE or DELETE: two confirmations at once import it once).
    2. A file of up to SYNC_MAX_ROWS rows is written now and the upload deleted: the report.
       A longer one becomes a queued job, returned for the caller to start after commit.
    None when there is no such upload waiting.
    """
    if mode not in MODES:
        raise ValidationError({"mode": _("Choose all or nothing, or skip bad rows.")})
    mine = LabImport.objects.filter(
        pk=upload_id if isinstance(upload_id, int) else None,
        token=token,
        clinic=clinic,
        created_by=actor,
        status=LabImport.Status.UPLOADED,
        expires_at__gt=now,
    )
    upload = mine.first()
    if upload is None:
        return None
    if not lab_import_is_long(rows=upload.rows_total):
        if not mine.delete()[0]:
            return None
        return lab_import_apply(clinic=clinic, text=upload.text, actor=actor, mode=mode)
    if not mine.update(status=LabImport.Status.QUEUED, mode=mode, token="", updated_at=now):
        return None
    upload.status, upload.mode, upload.token, upload.updated_at = (
        LabImport.Status.QUEUED,
        mode,
        "",
        now,
    )
    return upload


def lab_import_job_create(
    *, clinic: Clinic, actor, text: str, rows: int, mode: str, now: datetime
) -> LabImport:
    """A queued job for a file sent whole (the API); the caller starts it after commit."""
    if mode not in MODES:
        raise ValidationError({"mode": _("Choose all or nothing, or skip bad rows.")})
    return LabImport.objects.create(
        clinic=clinic,
        created_by=actor,
        text=text,
        rows_total=rows,
        mode=mode,
        status=LabImport.Status.QUEUED,
        expires_at=now + UPLOAD_LIFETIME,
    )


def lab_import_jobs_stalled(*, now: datetime) -> list[int]:
    """Jobs queued or running that have not moved for JOB_STALLED_AFTER: to be started again."""
    return list(
        LabImport.objects.filter(
            status__in=(LabImport.Status.QUEUED, LabImport.Status.RUNNING),
            updated_at__lte=now - JOB_STALLED_AFTER,
        ).values_list("id", flat=True)
    )


# Only what a chunk reads and writes: never the file's text (up to 5 MB) once per chunk.
_PROGRESS = ("rows_done", "chunks_done", "written", "errors", "skipped", "settled", "updated_at")


def lab_import_run(*, job_id: int) -> LabImport | None:
    """Import a job's file, a chunk at a time; safe to run again, or twice at once.

    1. Claim the job (conditional UPDATE, queued or running -> running, one attempt more); a
       finished or unknown job is left alone, one out of attempts is failed.
    2. The first time: check every row, as the preview does, and keep the rows that cannot be
       written with their messages. All or nothing with any bad row: finish, nothing written.
    3. Cut the good rows into chunks of whole patients, in record-number order (a run again cuts
       the same chunks). Each chunk not yet done, in its own transaction: lock the job row and skip
       the chunk if it is counted done; lock the chunk's wallets; check its rows again under the
       locks (a row recorded elsewhere since is reported, not written); write, settle and notify as
       lab_import_apply does; count the chunk done with its rows, in the same transaction.
    4. Finish: the time, and the file's text cleared (it is not needed any more).
    """
    now = timezone.now()
    unfinished = LabImport.objects.filter(
        pk=job_id, status__in=(LabImport.Status.QUEUED, LabImport.Status.RUNNING)
    )
    claimed = unfinished.filter(attempts__lt=JOB_MAX_ATTEMPTS).update(
        status=LabImport.Status.RUNNING,
        started_at=Coalesce("started_at", now),
        updated_at=now,
        attempts=F("attempts") + 1,
    )
    if not claimed:
        # A job that every run so far has failed to finish stops being started again.
        unfinished.update(
            status=LabImport.Status.FAILED,
            failure=_("Stopped after %(n)s attempts; the rows counted as written are written.")
            % {"n": JOB_MAX_ATTEMPTS},
            text="",
            finished_at=now,
            updated_at=now,
        )
        return None
    job = LabImport.objects.select_related("clinic", "created_by").get(pk=job_id)
    try:
        lines = file_lines(job.text)
    except ValidationError as error:
        return _job_finish(job, status=LabImport.Status.FAILED, failure=" ".join(error.messages))
    if not job.checked:
        _job_check(job, lines)
        if job.errors and job.mode == ALL_OR_NOTHING:
            LabImport.objects.filter(pk=job.pk).update(
                skipped=job.rows_total - job.errors, rows_done=job.rows_total
            )
            return _job_finish(job, status=LabImport.Status.DONE)
    # Only the rows the first check refused: a chunk's own refusals must not move the chunks.
    skip = {row["number"] for row in job.error_rows if "chunk" not in row}
    for index, chunk in enumerate(_chunks(lines, skip)):
        if index >= job.chunks_done:
            _chunk_apply(job, index, chunk)
    return _job_finish(job, status=LabImport.Status.DONE)


def _job_check(job: LabImport, lines) -> None:
    bad = [row for row in rows_check(clinic=job.clinic, lines=lines) if row.status == ERROR]
    # Kept only by the first run to finish its check: a second run at once, which may already see
    # the first one's chunks as "already recorded", takes the first one's check instead.
    LabImport.objects.filter(pk=job.pk, checked=False).update(
        error_rows=[_row_report(row) for row in bad],
        errors=len(bad),
        rows_done=len(bad),
        checked=True,
        updated_at=timezone.now(),
    )
    job.refresh_from_db(fields=["error_rows", "errors", "rows_done", "checked", "chunks_done"])


def _chunks(lines, skip: set[int]) -> list[list[tuple[int, dict[str, str]]]]:
    by_patient = defaultdict(list)
    for number, values in lines:
        if number not in skip:
            by_patient[values.get("record_number", "")].append((number, values))
    chunks, chunk = [], []
    for record_number in sorted(by_patient):
        chunk.extend(by_patient[record_number])
        if len(chunk) >= CHUNK_ROWS:
            chunks.append(sorted(chunk, key=lambda line: line[0]))
            chunk = []
    if chunk:
        chunks.append(sorted(chunk, key=lambda line: line[0]))
    return chunks


def _chunk_apply(job: LabImport, index: int, chunk) -> None:
    now = timezone.now()
    with transaction.atomic():
        progress = LabImport.objects.select_for_update().only(*_PROGRESS).get(pk=job.pk)
        if progress.chunks_done > index:
            return  # another run of this job committed it meanwhile
        _wallets_lock(
            clinic=job.clinic, record_numbers={values.get("record_number") for _n, values in chunk}
        )
        rows = rows_check(clinic=job.clinic, lines=chunk)
        good = [row for row in rows if row.status == OK]
        try:
            with transaction.atomic():
                settled = _write_and_settle(good, job.created_by, now)
        except IntegrityError:
            for row in good:
                row.fail(str(_RECORDED_MEANWHILE))
            good, settled = [], 0
        bad = [_row_report(row) | {"chunk": index} for row in rows if row.status == ERROR]
        progress.rows_done += len(chunk)
        progress.chunks_done = index + 1
        progress.written += len(good)
        progress.errors += len(bad)
        progress.settled += settled
        progress.updated_at = now
        fields = list(_PROGRESS)
        if bad:
            earlier = LabImport.objects.values_list("error_rows", flat=True).get(pk=job.pk)
            progress.error_rows = earlier + bad
            fields.append("error_rows")
        progress.save(update_fields=fields)
        job.chunks_done = progress.chunks_done


def _job_finish(job: LabImport, *, status: str, failure: str = "") -> LabImport:
    now = timezone.now()
    LabImport.objects.filter(pk=job.pk).update(
        status=status, failure=failure, text="", finished_at=now, updated_at=now
    )
    job.refresh_from_db()
    return job


def _row_report(row: ImportRow) -> dict:
    return {
        "number": row.number,
        "record_number": row.record_number,
        "status": row.status,
        "messages": [str(message) for message in row.messages],
    }
