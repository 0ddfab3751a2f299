"""How pages name and show things: the patient page's history table (each test and session with
what it earned and its corrections), the ledger's sources, weekdays. Shared by the view modules,
so none imports another."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from cmtracker.models import WEEKDAYS
from patients.models import Attendance, Enrollment, Specimen, Substance
from vouchers import engine
from vouchers.award_notes import award_note
from vouchers.models import LedgerEntry
from vouchers.templatetags.money import dollars


def person(user) -> str:
    if user is None:
        return _("System")
    return user.get_full_name() or user.username


OUTCOME_CLASS = {
    engine.NEGATIVE: "negative",
    engine.POSITIVE: "positive",
    engine.MISSED: "missed",
    engine.REFUSED: "refused",
    engine.ADULTERATED: "adulterated",
    engine.DILUTE: "dilute",
    engine.EXCUSED: "excused",
}


# --- the history table ---------------------------------------------------------------------------


@dataclass
class Change:
    label: str
    before: str
    after: str


@dataclass
class CorrectionRow:
    who: str
    when: datetime
    reason: str
    changes: list[Change]


@dataclass
class HistoryRow:
    when: datetime
    what: str
    outcome: str
    outcome_class: str
    details: str
    recorded_by: str
    earned: list[str]
    corrections: list[CorrectionRow] = field(default_factory=list)
    correct_url: str = ""
    excuse_url: str = ""  # a missed test, which staff may excuse


def _moment(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return str(value)
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def _results_text(results: dict) -> str:
    names = dict(Substance.choices)
    labels = {"negative": _("negative"), "positive": _("positive")}
    return (
        ", ".join(f"{names.get(s, s)}: {labels.get(r, r)}" for s, r in sorted(results.items()))
        or "—"
    )


def _label(choices, value) -> str:
    return choices(value).label if value in choices.values else (value or "—")


def _status_label(value) -> str:
    if value in Specimen.Status.values:
        return Specimen.Status(value).label
    return _label(Attendance.Status, value)


def _changes(before: dict, after: dict) -> list[Change]:
    """What a correction changed, field by field, in words."""
    shown = {
        "collected_at": (_("Collected at"), _moment),
        "occurred_at": (_("Session time"), _moment),
        "kind": (_("Specimen"), lambda v: _label(Specimen.Kind, v)),
        "session_kind": (_("Session"), lambda v: _label(Attendance.SessionKind, v)),
        "status": (_("Status"), _status_label),
        "outcome": (_("Outcome"), lambda v: _label(Specimen.Outcome, v)),
        "results": (_("Results"), lambda v: _results_text(v or {})),
        "notes": (_("Notes"), lambda v: v or "—"),
    }
    changes = []
    for key, (label, text) in shown.items():
        if key in before or key in after:
            was, now = text(before.get(key)), text(after.get(key))
            if was != now:  # the same moment in another offset is no change to a reader
                changes.append(Change(label, was, now))
    return changes


def _corrections(record) -> list[CorrectionRow]:
    return [
        CorrectionRow(
            who=person(c.changed_by),
            when=c.changed_at,
            reason=c.reason,
            changes=_changes(c.before, c.after),
        )
        for c in record.corrections.all()
    ]


def _earned(award: engine.Award | None, is_prize: bool) -> list[str]:
    if award is None:
        return []
    parts = []
    if award.voucher_cents:
        parts.append(dollars(award.voucher_cents))
    if award.bonus_cents:
        parts.append(_("%(amount)s bonus") % {"amount": dollars(award.bonus_cents)})
    if award.attendance_cents:
        parts.append(dollars(award.attendance_cents))
    if is_prize and award.draws:
        parts.append(ngettext("%(n)d draw", "%(n)d draws", award.draws) % {"n": award.draws})
    if award.clipped_cents:
        parts.append(
            _("%(amount)s not paid: over the cap") % {"amount": dollars(award.clipped_cents)}
        )
    if award.note:
        parts.append(award_note(award.note))
    return parts


def history_rows(enrollment: Enrollment, awards: dict[str, engine.Award]) -> list[HistoryRow]:
    """Specimens and sessions, newest first, each with what it earned and its corrections."""
    is_prize = enrollment.protocol.kind == engine.PRIZE
    rows = []
    for s in enrollment.specimens.all():
        results = {r.substance: r.result for r in s.results.all()}
        rows.append(
            HistoryRow(
                when=s.collected_at,
                what=_("Test (%(kind)s)") % {"kind": s.get_kind_display().lower()},
                outcome=s.get_outcome_display(),
                outcome_class=OUTCOME_CLASS.get(s.outcome, ""),
                details=_results_text(results) if results else s.get_status_display(),
                recorded_by=person(s.recorded_by),
                earned=_earned(awards.get(f"specimen:{s.id}"), is_prize),
                corrections=_corrections(s),
                correct_url=reverse("specimen-correct", args=[s.pk]),
                excuse_url=reverse("specimen-excuse", args=[s.pk])
                if s.status == Specimen.Status.MISSED
                else "",
            )
        )
    for a in enrollment.attendance.all():
        rows.append(
            HistoryRow(
                when=a.occurred_at,
                what=_("Session (%(kind)s)") % {"kind": a.get_session_kind_display()},
                outcome=a.get_status_display(),
                outcome_class=a.status,
                details=a.notes,
                recorded_by=person(a.recorded_by),
                earned=_earned(awards.get(f"attendance:{a.id}"), is_prize),
                corrections=_corrections(a),
            )
        )
    rows.sort(key=lambda r: r.when, reverse=True)
    return rows


def ledger_source(entry: LedgerEntry) -> str:
    if entry.specimen_id:
        day = entry.specimen.collected_at
        return _("Test of %(day)s") % {"day": date_format(timezone.localtime(day), "DATE_FORMAT")}
    if entry.attendance_id:
        day = entry.attendance.occurred_at
        return _("Session of %(day)s") % {
            "day": date_format(timezone.localtime(day), "DATE_FORMAT")
        }
    return entry.reason


def weekday_names(days) -> str:
    """ "Monday, Wednesday, Friday" in the reader's language; "Every day" for all seven."""
    names = dict(WEEKDAYS)
    if set(days or []) == set(names):
        return str(_("Every day"))
    return ", ".join(str(names[d]) for d in sorted(days or [])) or "—"


def chart_end(enrollment: Enrollment, weeks: int | None, today: date) -> date:
    """The chart runs to today, or to the enrollment's end or the protocol's last day if sooner."""
    ends = [today]
    if enrollment.end_date:
        ends.append(enrollment.end_date)
    if weeks:
        ends.append(enrollment.start_date + timedelta(weeks=weeks, days=-1))
    return max(enrollment.start_date, min(ends))


# --- pages --------------------------------------------------------------------------------------
