"""A clinic's tables as CSV, for its administrators (identifiable data; docs/reports.md, "Exports").

Each table is a `Table`: a slug, a title, and its columns as (header, lookup) pairs read with one
`values_list` query whose joins bring the related names along, streamed in chunks with
`.iterator()`. So an export is one query per table, whatever the number of rows, and never holds
the whole table in memory.

The registry: vouchers registers its own tables (and those of the apps below it) here; rewards
registers the catalog, redemptions and prize draws from its AppConfig.ready() (rewards/exports.py),
since vouchers imports nothing of rewards. The exports page lists whatever is registered.

Cells: a datetime is written in the clinic's time zone with its offset, a date as YYYY-MM-DD, a
JSON value as JSON, a boolean as true/false, an empty value as nothing. A text that a spreadsheet
would read as a formula (it begins with =, +, -, @, a tab or a carriage return) gets a leading
apostrophe (`csv_cell`). Numbers are written as numbers: -500 is an amount, not a formula.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from cmtracker.models import Clinic
from messaging.models import Notification
from patients.models import Attendance, Correction, Enrollment, Patient, Specimen, SpecimenResult
from vouchers.models import LedgerEntry

CHUNK = 2000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value, tz: tzinfo) -> str | int:
    """One value as a CSV cell (see the module's docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        return value.astimezone(tz).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict | list):
        value = json.dumps(value, sort_keys=True, ensure_ascii=False)
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


class _Echo:
    """A file whose write returns what it was given: csv.writer formats, we stream."""

    def write(self, value):
        return value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence], tz: tzinfo) -> Iterator[str]:
    """The CSV text of a header and rows, a line at a time (for a StreamingHttpResponse)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([csv_cell(value, tz) for value in row])


@dataclass(frozen=True)
class Table:
    """One exportable table: `rows(clinic)` is the clinic's rows, ordered; `columns` are
    (CSV header, lookup on those rows)."""

    slug: str
    title: str
    columns: tuple[tuple[str, str], ...]
    rows: Callable[[Clinic], QuerySet]
    # The lookup of the patient's id, in a table whose rows name patients (name, record number,
    # contact details): each patient in the file is then logged as read, as a page showing them
    # would be. The other tables carry patient ids only; their download is the clinic's event.
    names_patients: str = ""

    @property
    def header(self) -> list[str]:
        return [name for name, _lookup in self.columns]

    def values(self, clinic: Clinic) -> Iterator[tuple]:
        """The clinic's rows as tuples, one query, fetched CHUNK rows at a time."""
        lookups = [lookup for _name, lookup in self.columns]
        return self.rows(clinic).values_list(*lookups).iterator(chunk_size=CHUNK)

    def patients_named(self, clinic: Clinic) -> list[int]:
        """The ids of the patients the file names (none for a table of ids only), one query."""
        if not self.names_patients:
            return []
        rows = self.rows(clinic).order_by().values_list(self.names_patients, flat=True)
        return list(rows.distinct())


_tables: dict[str, Table] = {}


def register(table: Table) -> None:
    """Offer `table` on the exports page (a second registration of a slug replaces the first)."""
    _tables[table.slug] = table


def tables() -> list[Table]:
    """Every registered table, in the order registered."""
    return list(_tables.values())


def table_get(slug: str) -> Table | None:
    return _tables.get(slug)


# --- the tables of the clinical record and the ledger ------------------------------------------

register(
    Table(
        slug="patients",
        title=_("Patients"),
        columns=(
            ("id", "id"),
            ("record_number", "record_number"),
            ("first_name", "first_name"),
            ("last_name", "last_name"),
            ("phone", "phone"),
            ("email", "email"),
            ("preferred_language", "preferred_language"),
            ("primary_counselor", "primary_counselor__username"),
            ("has_sign_in", "has_sign_in"),
            ("reminder_consent_sms", "reminder_consent_sms"),
            ("reminder_consent_email", "reminder_consent_email"),
            ("reminder_time", "reminder_time"),
            ("reminder_evening_before", "reminder_evening_before"),
            ("message_style", "message_style"),
            ("sms_opted_out_at", "sms_opted_out_at"),
            ("created_at", "created_at"),
        ),
        names_patients="id",
        rows=lambda clinic: (
            Patient.objects.filter(clinic=clinic)
            .annotate(
                has_sign_in=ExpressionWrapper(Q(user__isnull=False), output_field=BooleanField())
            )
            .order_by("id")
        ),
    )
)
register(
    Table(
        slug="enrollments",
        title=_("Enrollments"),
        columns=(
            ("id", "id"),
            ("patient_id", "patient_id"),
            ("protocol_id", "protocol_id"),
            ("start_date", "start_date"),
            ("end_date", "end_date"),
            ("status", "status"),
            ("test_weekdays", "test_weekdays"),
            ("session_weekdays", "session_weekdays"),
            ("misses_from", "misses_from"),
            ("created_at", "created_at"),
        ),
        rows=lambda clinic: Enrollment.objects.filter(patient__clinic=clinic).order_by("id"),
    )
)
register(
    Table(
        slug="specimens",
        title=_("Specimens"),
        columns=(
            ("id", "id"),
            ("enrollment_id", "enrollment_id"),
            ("patient_id", "enrollment__patient_id"),
            ("collected_at", "collected_at"),
            ("kind", "kind"),
            ("status", "status"),
            ("outcome", "outcome"),
            ("secondary_negative", "secondary_negative"),
            ("notes", "notes"),
            ("recorded_by", "recorded_by__username"),
            ("recorded_at", "recorded_at"),
            ("missed_day", "missed_day"),
        ),
        rows=lambda clinic: Specimen.objects.filter(enrollment__patient__clinic=clinic).order_by(
            "id"
        ),
    )
)
register(
    Table(
        slug="specimen-results",
        title=_("Specimen results (one row per substance)"),
        columns=(
            ("id", "id"),
            ("specimen_id", "specimen_id"),
            ("substance", "substance"),
            ("result", "result"),
        ),
        rows=lambda clinic: SpecimenResult.objects.filter(
            specimen__enrollment__patient__clinic=clinic
        ).order_by("specimen_id", "substance"),
    )
)
register(
    Table(
        slug="attendance",
        title=_("Attendance"),
        columns=(
            ("id", "id"),
            ("enrollment_id", "enrollment_id"),
            ("patient_id", "enrollment__patient_id"),
            ("session_kind", "session_kind"),
            ("occurred_at", "occurred_at"),
            ("status", "status"),
            ("notes", "notes"),
            ("recorded_by", "recorded_by__username"),
            ("recorded_at", "recorded_at"),
        ),
        rows=lambda clinic: Attendance.objects.filter(enrollment__patient__clinic=clinic).order_by(
            "id"
        ),
    )
)
register(
    Table(
        slug="corrections",
        title=_("Corrections"),
        columns=(
            ("id", "id"),
            ("specimen_id", "specimen_id"),
            ("attendance_id", "attendance_id"),
            ("changed_by", "changed_by__username"),
            ("changed_at", "changed_at"),
            ("reason", "reason"),
            ("before", "before"),
            ("after", "after"),
        ),
        rows=lambda clinic: Correction.objects.filter(
            Q(specimen__enrollment__patient__clinic=clinic)
            | Q(attendance__enrollment__patient__clinic=clinic)
        ).order_by("id"),
    )
)
register(
    Table(
        slug="ledger",
        title=_("Ledger entries"),
        columns=(
            ("id", "id"),
            ("patient_id", "patient_id"),
            ("enrollment_id", "enrollment_id"),
            ("kind", "kind"),
            ("component", "component"),
            ("amount_cents", "amount_cents"),
            ("overpayment_cents", "overpayment_cents"),
            ("draws", "draws"),
            ("draws_under_review", "draws_under_review"),
            ("specimen_id", "specimen_id"),
            ("attendance_id", "attendance_id"),
            ("redemption_id", "redemption_id"),
            ("prize_draw_id", "prize_draw_id"),
            ("event_year", "event_year"),
            ("reason", "reason"),
            ("created_by", "created_by__username"),
            ("created_at", "created_at"),
        ),
        rows=lambda clinic: LedgerEntry.objects.filter(patient__clinic=clinic).order_by("id"),
    )
)
# The outbox's metadata only: a message's address, subject, body and the provider's error text
# are left out. A body can name the clinic, the test and an amount (health information), and an
# error can repeat the address; the patients table already holds each patient's contact details.
register(
    Table(
        slug="notifications",
        title=_("Notifications (metadata, no message text)"),
        columns=(
            ("id", "id"),
            ("patient_id", "patient_id"),
            ("staff_user", "user__username"),
            ("kind", "kind"),
            ("channel", "channel"),
            ("status", "status"),
            ("not_before", "not_before"),
            ("expires_at", "expires_at"),
            ("attempts", "attempts"),
            ("sent_at", "sent_at"),
            ("created_at", "created_at"),
        ),
        rows=lambda clinic: Notification.objects.filter(clinic=clinic).order_by("id"),
    )
)
