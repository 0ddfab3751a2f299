"""A lab's CSV file of results read and judged row by row; nothing here writes.

The file: a header row, then one row per specimen.

    record_number, collected_at, kind, <one column per substance>..., status, notes, idempotency_key

`collected_at` is ISO 8601 with an offset, or "YYYY-MM-DD HH:MM" on the clinic's clock. `kind` is
urine (the default), saliva or breath. A substance column holds negative, positive or nothing (not
on the panel). `status` is tested (the default), refused, adulterated, dilute, missed or excused.

Every row is judged in memory against a fixed number of queries (patients by record number, their
enrollments with protocols, specimens already recorded, idempotency keys already used), by the
front desk's own checks, so an imported row is judged exactly as recording it by hand would be.
The preview is this judgement; vouchers.labs.importer writes the rows it passes.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.forms.utils import from_current_timezone
from django.utils import timezone
from django.utils.translation import gettext as _

from cmtracker.models import Clinic
from patients import services as clinical
from patients.models import Enrollment, Patient, Specimen, Substance
from vouchers.models import protocols_attach

# The front desk's own checks, so an imported row is judged by exactly the same rules.
from vouchers.recording import specimen_kind_check, specimen_outcome_check

REQUIRED_COLUMNS = ("record_number", "collected_at")
OPTIONAL_COLUMNS = ("kind", "status", "notes", "idempotency_key")

OK, ERROR, WRITTEN, SKIPPED = "ok", "error", "written", "skipped"

# The largest file (or pasted text) taken, by the page and the API alike, and the names it may have.
MAX_BYTES = 5 * 1024 * 1024
CSV_NAMES = (".csv", ".txt")

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


def file_lines(text: str) -> list[tuple[int, dict[str, str]]]:
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


def rows_check(*, clinic: Clinic, lines: list[tuple[int, dict[str, str]]]) -> list[ImportRow]:
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
    # Only the protocols' substances are read here, not their phases.
    found = Enrollment.objects.filter(patient__in=list(patients.values()))
    for e in protocols_attach(found, phases=False):
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


# --- the preview -------------------------------------------------------------------------------


def lab_import_preview(*, clinic: Clinic, text: str) -> ImportReport:
    """Parse and judge every row; write nothing. File-level problems raise ValidationError."""
    return ImportReport(rows=rows_check(clinic=clinic, lines=file_lines(text)))


def lab_import_rows_count(*, text: str) -> int:
    """The file's rows; file-level problems raise ValidationError as the preview's do."""
    return len(file_lines(text))
