"""Bulk import of lab results from a CSV file: preview every row, then write them all at once.

Recording one result through `recording.specimen_record` settles the enrollment each time, which is
right at the front desk and far too slow for a lab's file of 10,000 rows. The import instead
validates every row in memory against a fixed number of queries (patients by record number, their
enrollments with protocols, specimens already recorded, idempotency keys already used),
writes the specimens and their results with bulk_create in one transaction, and settles each
touched enrollment once. Outcomes come from the same helpers `specimen_record` uses, so an
imported row earns exactly what recording it by hand would.

The file: a header row, then one row per specimen.

    record_number, collected_at, kind, <one column per substance>..., status, notes, idempotency_key

`collected_at` is ISO 8601 with an offset, or "YYYY-MM-DD HH:MM" on the clinic's clock. `kind` is
urine (the default), saliva or breath. A substance column holds negative, positive or nothing (not
on the panel). `status` is tested (the default), refused, adulterated, dilute, missed or excused.

A file of up to SYNC_MAX_ROWS rows is written inside the request, in one transaction. A longer one
(a 100,000-row file takes about a minute) is a LabImport job run by a Celery task: every row is
checked first, then the good rows are written a chunk of whole patients at a time, each chunk in
its own transaction with the job's progress, so a retried job resumes where it stopped and writes
nothing twice.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.forms.utils import from_current_timezone
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cmtracker import audit
from cmtracker.models import Clinic
from patients import services as clinical
from patients.models import Enrollment, Patient, Specimen, SpecimenResult, Substance
from vouchers import notices, recording
from vouchers.models import LabImport, Wallet

# The front desk's own checks, so an imported row is judged by exactly the same rules.
from vouchers.recording import specimen_kind_check, specimen_outcome_check
from vouchers.settlement import enrollment_settle, specimen_key

ALL_OR_NOTHING = "all_or_nothing"
SKIP_BAD_ROWS = "skip_bad_rows"
MODES = (ALL_OR_NOTHING, SKIP_BAD_ROWS)

REQUIRED_COLUMNS = ("record_number", "collected_at")
OPTIONAL_COLUMNS = ("kind", "status", "notes", "idempotency_key")

OK, ERROR, WRITTEN, SKIPPED = "ok", "error", "written", "skipped"

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

_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
# Columns whose errors need the column's name to make sense in a row-by-row table.
_NAMED_FIELDS = {"collected_at", "kind", "status", "notes", "idempotency_key"}
_KEY_MAX_LENGTH = Specimen._meta.get_field("idempotency_key").max_length


@dataclass
class ImportRow:
    number: int  # the line of the file the row ends on (the header is line 1)
    record_number: str
    status: str = OK
    messages: list[str] = field(default_factory=list)
    patient: Patient | None = None
    # What the row will write, once it is valid.
    enrollment: Enrollment | None = None
    collected_at: datetime | None = None
    kind: str = Specimen.Kind.URINE
    specimen_status: str = Specimen.Status.TESTED
    results: dict[str, str] = field(default_factory=dict)
    notes: str = ""
    idempotency_key: str | None = None
    outcome: str = ""
    secondary_negative: bool = False

    @property
    def ok(self) -> bool:
        return not self.messages

    @property
    def test_outcome(self) -> Specimen.Outcome | None:
        """What the test found ("Negative", "Positive", ...), once the row could be read."""
        return Specimen.Outcome(self.outcome) if self.outcome else None

    def fail(self, message: str) -> None:
        self.status = ERROR
        self.messages.append(message)

    def fail_with(self, error: ValidationError) -> None:
        if not hasattr(error, "error_dict"):
            for message in error.messages:
                self.fail(message)
            return
        for name, messages in error.message_dict.items():
            for message in messages:
                self.fail(f"{name}: {message}" if name in _NAMED_FIELDS else message)


@dataclass
class ImportReport:
    rows: list[ImportRow]
    mode: str = ""
    applied: bool = False  # True once apply ran (whether or not it wrote anything)
    settled: int = 0  # enrollments settled

    def _count(self, status: str) -> int:
        return sum(1 for row in self.rows if row.status == status)

    @property
    def totals(self) -> dict[str, int]:
        return {
            "rows": len(self.rows),
            "ok": self._count(OK),
            "errors": self._count(ERROR),
            "written": self._count(WRITTEN),
            "skipped": self._count(SKIPPED),
            "settled": self.settled,
        }

    @property
    def has_errors(self) -> bool:
        return any(row.status == ERROR for row in self.rows)


class _Abort(Exception):
    """Rolls back the import's transaction when all-or-nothing finds a bad row."""


# --- parsing -----------------------------------------------------------------------------------


def _header(names: list[str]) -> list[str]:
    columns = [name.strip().lower() for name in names]
    problems = []
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        problems.append(
            _("The header must name the columns %(columns)s; it has no %(missing)s.")
            % {"columns": ", ".join(REQUIRED_COLUMNS), "missing": ", ".join(missing)}
        )
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS) | set(Substance.values)
    unknown = [c for c in columns if c not in known]
    if unknown:
        problems.append(
            _("Unknown column: %(names)s. Substance columns are: %(substances)s.")
            % {"names": ", ".join(unknown) or '""', "substances": ", ".join(Substance.values)}
        )
    repeated = sorted(c for c, n in Counter(columns).items() if n > 1)
    if repeated:
        problems.append(_("Repeated column: %(names)s.") % {"names": ", ".join(repeated)})
    if problems:
        raise ValidationError({"file": problems})
    return columns


def _rows(text: str) -> list[tuple[int, dict[str, str]]]:
    """(line number, {column: value}) for each non-blank row; file-level problems raise."""
    text = text.lstrip("\ufeff")
    if "\x00" in text:
        raise ValidationError({"file": _("This is not a CSV text file.")})
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next((r for r in reader if any(c.strip() for c in r)), None)
        if header is None:
            raise ValidationError({"file": _("The file is empty.")})
        columns = _header(header)
        rows = []
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            row = dict(zip(columns, (v.strip() for v in values), strict=False))
            if len(values) != len(columns):
                row["__fields__"] = f"{len(values)}/{len(columns)}"
            rows.append((reader.line_num, row))
    except csv.Error as error:
        raise ValidationError(
            {
                "file": _("This is not a readable CSV file (line %(line)s: %(error)s).")
                % {"line": reader.line_num, "error": error}
            }
        ) from None
    if not rows:
        raise ValidationError({"file": _("The file has a header but no rows.")})
    return rows


def _moment(value: str, clinic: Clinic) -> datetime:
    if not value:
        raise ValidationError({"collected_at": _("Give the date and time of collection.")})
    try:
        if _DATE_ONLY.fullmatch(value):
            raise ValueError
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            {
                "collected_at": _(
                    "“%(value)s” is not a date and time: write 2026-01-06T09:30:00-06:00, "
                    "or 2026-01-06 09:30 on the clinic's clock."
                )
                % {"value": value}
            }
        ) from None
    if timezone.is_naive(moment):
        # The record form's rule (its DateTimeField calls the same function): a clinic-clock time
        # that the fall-back hour makes ambiguous, or that spring-forward skips, is refused.
        with timezone.override(clinic.tz):
            try:
                moment = from_current_timezone(moment)
            except ValidationError as error:
                raise ValidationError({"collected_at": error.messages}) from None
    return moment


def _parse(number: int, values: dict[str, str], clinic: Clinic, now: datetime) -> ImportRow:
    """A row's own checks: everything that needs no database."""
    row = ImportRow(number=number, record_number=values.get("record_number", ""))
    if "__fields__" in values:
        found, wanted = values["__fields__"].split("/")
        row.fail(_("This row has %(n)s fields; the header has %(m)s.") % {"n": found, "m": wanted})
    if not row.record_number:
        row.fail(_("record_number: give the patient's record number."))
    try:
        row.collected_at = _moment(values.get("collected_at", ""), clinic)
        clinical.moment_validate("collected_at", row.collected_at, now=now)
    except ValidationError as error:
        row.fail_with(error)
    row.kind = values.get("kind", "").lower() or Specimen.Kind.URINE
    row.specimen_status = values.get("status", "").lower() or Specimen.Status.TESTED
    if row.specimen_status not in Specimen.Status.values:
        row.fail(_("status: Unknown status: %(s)s.") % {"s": row.specimen_status})
    row.notes = values.get("notes", "")
    row.idempotency_key = values.get("idempotency_key") or None
    if row.idempotency_key and len(row.idempotency_key) > _KEY_MAX_LENGTH:
        row.fail(_("idempotency_key: at most %(n)s characters.") % {"n": _KEY_MAX_LENGTH})
    results = {
        column: value.lower()
        for column, value in values.items()
        if column in Substance.values and value
    }
    try:
        specimen_kind_check(row.kind)
    except ValidationError as error:
        row.fail_with(error)
    try:
        row.results = clinical.results_validate(results)
    except ValidationError as error:
        row.fail_with(error)
    return row


# --- validation against the database -------------------------------------------------------------


def _validate(*, clinic: Clinic, lines: list[tuple[int, dict[str, str]]]) -> list[ImportRow]:
    """Every row parsed and judged, in a fixed number of queries whatever the file's length."""
    now = timezone.now()
    rows = [_parse(number, values, clinic, now) for number, values in lines]

    numbers = {row.record_number for row in rows if row.record_number}
    patients = {
        p.record_number: p
        for p in Patient.objects.filter(clinic=clinic, record_number__in=numbers).select_related(
            "clinic"
        )
    }
    # Every enrollment, whatever its status: a row belongs to the one its collection day is in.
    enrollments: dict[int, list[Enrollment]] = {}
    for e in Enrollment.objects.filter(patient__in=list(patients.values())).select_related(
        "protocol"
    ):
        enrollments.setdefault(e.patient_id, []).append(e)
    moments = [row.collected_at for row in rows if row.collected_at]
    recorded = set()
    if moments and patients:
        recorded = set(
            Specimen.objects.filter(
                enrollment__patient__in=list(patients.values()),
                collected_at__gte=min(moments),
                collected_at__lte=max(moments),
            ).values_list("enrollment__patient_id", "collected_at", "kind")
        )
    keys = {row.idempotency_key for row in rows if row.idempotency_key}
    # Keys are the clinic's own: one used at another clinic is a new key here.
    used_keys = set(
        Specimen.objects.filter(key_clinic=clinic, idempotency_key__in=keys).values_list(
            "idempotency_key", flat=True
        )
    )

    seen: dict[tuple, int] = {}
    seen_keys: dict[str, int] = {}
    for row in rows:
        row.patient = patients.get(row.record_number)
        if row.record_number and row.patient is None:
            row.fail(
                _("No patient with record number %(number)s in this clinic.")
                % {"number": row.record_number}
            )
        if row.idempotency_key:
            if row.idempotency_key in used_keys:
                row.fail(_("idempotency_key: this key was already used; the row is recorded."))
            elif row.idempotency_key in seen_keys:
                row.fail(
                    _("idempotency_key: the same key as row %(n)s.")
                    % {"n": seen_keys[row.idempotency_key]}
                )
            else:
                seen_keys[row.idempotency_key] = row.number
        if row.patient is None:
            continue
        _check_enrollment(row, enrollments.get(row.patient.id, []), clinic)
        if row.collected_at is None:
            continue
        same = (row.patient.id, row.collected_at, row.kind)
        if same in recorded:
            row.fail(
                _("Already recorded: this patient has a %(kind)s test at this time.")
                % {"kind": row.kind}
            )
        elif same in seen:
            row.fail(
                _("Duplicate of row %(n)s: the same patient, time and kind.") % {"n": seen[same]}
            )
        else:
            seen[same] = row.number
    return rows


def _check_enrollment(row: ImportRow, enrollments: list[Enrollment], clinic: Clinic) -> None:
    if not enrollments:
        row.fail(_("This patient is not enrolled in a CM protocol."))
        return
    if row.collected_at is None:
        # The time is already refused; judge the rest against the latest enrollment.
        enrollment = max(enrollments, key=lambda e: (e.start_date, e.id))
    else:
        try:
            enrollment = clinical.enrollment_at(
                enrollments=enrollments, day=clinic.local_date(row.collected_at)
            )
        except ValidationError as error:
            row.fail_with(error)
            return
    row.enrollment = enrollment
    protocol = enrollment.protocol
    if row.specimen_status == Specimen.Status.TESTED and row.results:
        # Said here in the clinic's words; the engine would only say "no result for".
        missing = [t for t in protocol.target_substances if t not in row.results]
        if missing:
            row.fail(
                _("No result for %(names)s, which this patient's protocol tests for.")
                % {"names": ", ".join(missing)}
            )
            return
    if not row.ok:
        return
    try:
        row.outcome, row.secondary_negative = specimen_outcome_check(
            protocol, row.specimen_status, row.results, row.notes
        )
    except ValidationError as error:
        row.fail_with(error)


# --- the two entry points ----------------------------------------------------------------------


def lab_import_preview(*, clinic: Clinic, text: str) -> ImportReport:
    """Parse and judge every row; write nothing. File-level problems raise ValidationError."""
    return ImportReport(rows=_validate(clinic=clinic, lines=_rows(text)))


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
    lines = _rows(text)
    numbers = {values.get("record_number") for _number, values in lines}
    report = ImportReport(rows=[], mode=mode, applied=True)
    try:
        with transaction.atomic():
            _wallets_lock(clinic=clinic, record_numbers=numbers)
            report.rows = _validate(clinic=clinic, lines=lines)
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


def lab_import_rows_count(*, text: str) -> int:
    """The file's rows; file-level problems raise ValidationError as the preview's do."""
    return len(_rows(text))


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
        lines = _rows(job.text)
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
    bad = [row for row in _validate(clinic=job.clinic, lines=lines) if row.status == ERROR]
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
        rows = _validate(clinic=job.clinic, lines=chunk)
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
