"""The front desk: who is due today, and recording a test or a session with the reward said at once.

Thin views: scope the patient through patients.permissions, validate with a form, call the
service, render what the patient earned. Every rule is in vouchers.recording and vouchers.engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.shortcuts import render
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView
from django_htmx.http import reselect, reswap, retarget

from cmtracker import audit
from cmtracker.models import Clinic
from patients.enrollment import drawing_enrollment
from patients.models import Attendance, Enrollment, Patient, Specimen
from patients.permissions import (
    StaffRequiredMixin,
    is_clinic_admin,
    patient_get_or_404,
    staff_clinic_ids,
)
from vouchers import engine, extensions, recording
from vouchers.award_notes import award_note
from vouchers.forms import AttendanceForm, SpecimenForm, errors_onto_form
from vouchers.models import protocol_attach, protocols_attach
from vouchers.reports.caseload import counselor_caseloads
from vouchers.schedule import scheduled_days_between
from vouchers.selectors import reward_summary

# How far back the Today board looks for a scheduled test that was never given.
OVERDUE_DAYS = 7


# --- Today ---------------------------------------------------------------------------------------


@dataclass
class TodayRow:
    patient: Patient
    enrollment: Enrollment
    due_today: bool = False
    overdue_day: date | None = None  # the last scheduled day before today, with no specimen since
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # (time, label, css class)


@dataclass
class Board:
    clinic: Clinic
    today: date
    due: list[TodayRow] = field(default_factory=list)
    overdue: list[TodayRow] = field(default_factory=list)
    seen: list[TodayRow] = field(default_factory=list)

    @property
    def due_and_missed(self) -> int:
        """Patients due today who also missed an earlier test day (marked in that list)."""
        return sum(1 for row in self.due if row.overdue_day)

    def sections(self) -> list[tuple[str, str, list[TodayRow], str]]:
        """(key, heading, rows, what to say when empty), in the order the page shows them."""
        if self.due_and_missed:
            no_overdue = _("Nobody else: the patients due today who missed a test day are marked.")
        else:
            no_overdue = _("No missed test days in the last week.")
        return [
            ("due", _("Due today"), self.due, _("Nobody is due for a test today.")),
            ("overdue", _("Overdue"), self.overdue, no_overdue),
            ("seen", _("Seen today"), self.seen, _("Nobody has been seen yet today.")),
        ]


def _day_start(day: date, clinic: Clinic) -> datetime:
    return datetime.combine(day, time.min, tzinfo=clinic.tz)


def today_boards(clinics: list[Clinic], now: datetime) -> list[Board]:
    """Each clinic's patients with an active enrollment, sorted into due, overdue and seen today.

    A fixed number of queries whatever the number of patients: the enrollments with their
    patients and protocols, the protocols' phases, and the specimens and sessions of the last
    week, each in one query. Schedules are computed in Python.
    """
    if not clinics:
        return []
    by_id = {c.id: c for c in clinics}
    today = {c.id: c.local_date(now) for c in clinics}
    since = min(_day_start(today[c.id] - timedelta(days=OVERDUE_DAYS), c) for c in clinics)
    until = max(_day_start(today[c.id] + timedelta(days=1), c) for c in clinics)
    enrollments = (
        Enrollment.objects.filter(status=Enrollment.Status.ACTIVE, patient__clinic__in=clinics)
        .select_related("patient")
        .prefetch_related(
            Prefetch(
                "specimens",
                queryset=Specimen.objects.filter(collected_at__gte=since, collected_at__lt=until),
                to_attr="recent_specimens",
            ),
            Prefetch(
                "attendance",
                queryset=Attendance.objects.filter(occurred_at__gte=since, occurred_at__lt=until),
                to_attr="recent_attendance",
            ),
        )
        .order_by("patient__last_name", "patient__first_name", "patient_id")
    )
    boards = {c.id: Board(clinic=c, today=today[c.id]) for c in clinics}
    rules_by_protocol: dict[int, engine.Rules] = {}
    for enrollment in protocols_attach(enrollments):
        clinic = by_id[enrollment.patient.clinic_id]
        enrollment.patient.clinic = clinic  # its weekdays fall back to the clinic's: no query
        board = boards[clinic.id]
        rules = rules_by_protocol.get(enrollment.protocol_id)
        if rules is None:
            rules = rules_by_protocol[enrollment.protocol_id] = enrollment.protocol.rules()
        row = _today_row(enrollment, clinic, board.today, rules)
        if row.seen:
            board.seen.append(row)
        elif row.due_today:
            board.due.append(row)
        elif row.overdue_day:
            board.overdue.append(row)
    return [boards[c.id] for c in clinics]


def _today_row(enrollment: Enrollment, clinic: Clinic, today: date, rules) -> TodayRow:
    row = TodayRow(patient=enrollment.patient, enrollment=enrollment)
    scheduled = scheduled_days_between(
        rules,
        enrollment.start_date,
        today - timedelta(days=OVERDUE_DAYS),
        today,
        enrollment.weekdays,
    )
    row.due_today = today in scheduled
    specimen_days = set()
    for specimen in enrollment.recent_specimens:
        if specimen.outcome == Specimen.Outcome.MISSED and specimen.recorded_by_id is None:
            # Marked by the beat, not a visit: the day stays overdue until someone comes in.
            # A miss a counselor records is shown as seen: they dealt with it.
            continue
        moment = timezone.localtime(specimen.collected_at, clinic.tz)
        specimen_days.add(moment.date())
        if moment.date() == today:
            outcome = Specimen.Outcome(specimen.outcome)
            row.seen.append((moment, outcome.label, outcome.name.lower()))
    for session in enrollment.recent_attendance:
        moment = timezone.localtime(session.occurred_at, clinic.tz)
        if moment.date() == today:
            label = _("%(kind)s: %(status)s") % {
                "kind": session.get_session_kind_display(),
                "status": session.get_status_display(),
            }
            row.seen.append((moment, label, session.status))
    row.seen.sort(key=lambda s: s[0])
    row.seen = [
        (formats.time_format(moment, "TIME_FORMAT"), label, css) for moment, label, css in row.seen
    ]
    earlier = [d for d in scheduled if enrollment.first_markable_day <= d < today]
    if earlier and not any(earlier[-1] <= d < today for d in specimen_days):
        row.overdue_day = earlier[-1]
    return row


class TodayView(StaffRequiredMixin, TemplateView):
    template_name = "vouchers/today.html"

    def get_context_data(self, **kwargs):
        user = self.request.user
        clinics = list(Clinic.objects.filter(id__in=staff_clinic_ids(user)))
        # A clinic administrator's home warns when the reward cabinet is running low.
        low_stock = [
            item
            for clinic in clinics
            if is_clinic_admin(user, clinic)
            for item in extensions.low_stock(clinic=clinic)
        ]
        now = timezone.now()
        boards = today_boards(clinics, now)
        # The counselor's own patients: their rate, immediacy, and whom to praise or call.
        caseloads = counselor_caseloads(counselor=user, clinics=clinics, now=now)
        audit.disclosed(
            row.patient.pk
            for board in boards
            for _key, _h, rows, _e in board.sections()
            for row in rows
        )
        audit.disclosed(p.patient_id for c in caseloads for p in (*c.long_streaks, *c.slipping))
        return super().get_context_data(
            boards=boards, low_stock=low_stock, caseloads=caseloads, **kwargs
        )


# --- what the counselor says after a save ------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """The patient's streak, balance and next reward, and the result just saved, if any."""

    is_prize: bool
    streak: int
    next_cents: int
    next_draws: int
    balance_cents: int
    draws_available: int
    overpayment_cents: int
    award: engine.Award | None = None
    title: str = ""
    notes: tuple[str, ...] = ()
    replayed: bool = False

    @property
    def earned_cents(self) -> int:
        return self.award.total_cents if self.award else 0


def standing_now(patient: Patient, clinic: Clinic) -> Standing:
    summary = reward_summary(patient=patient, today=clinic.local_date(timezone.now()))
    return Standing(
        is_prize=summary.is_prize,
        streak=summary.streak,
        next_cents=summary.next_cents,
        next_draws=summary.next_draws,
        balance_cents=summary.wallet.balance_cents,
        draws_available=summary.wallet.draws_available,
        overpayment_cents=summary.wallet.overpayment_cents,
    )


def standing_after(recorded: recording.Recorded) -> Standing:
    settlement = recorded.settlement
    protocol = settlement.enrollment.protocol
    award = recorded.award
    state = settlement.result.state
    clinic = settlement.enrollment.patient.clinic
    # The next negative after this one (a result entered late continues from its own day).
    following = settlement.next_award(award.day if award else clinic.local_date(timezone.now()))
    title, notes = _award_words(award, protocol) if award else ("", [])
    return Standing(
        is_prize=protocol.kind == engine.PRIZE,
        streak=state.streak,
        next_cents=following.total_cents,
        next_draws=following.draws,
        balance_cents=settlement.wallet.balance_cents,
        draws_available=settlement.wallet.draws_available,
        overpayment_cents=settlement.wallet.overpayment_cents,
        award=award,
        title=title,
        notes=tuple(notes),
        replayed=recorded.replayed,
    )


def _award_words(award: engine.Award, protocol) -> tuple[str, list[str]]:
    """The heading and the notes a counselor reads out for one saved result."""
    notes = []
    if award.note:
        notes.append(award_note(award.note))
    if award.kind != engine.SPECIMEN:
        return _("%(status)s: saved") % {"status": Attendance.Status(award.outcome).label}, notes
    resets = award.outcome in engine.RESETTING or (
        award.outcome == engine.DILUTE and protocol.dilute_is_positive
    )
    if resets:
        notes.append(_("The streak starts again from the beginning."))
    elif award.outcome in (engine.EXCUSED, engine.DILUTE):
        notes.append(_("No reward, and the streak is kept."))
    return _("%(outcome)s: saved") % {"outcome": Specimen.Outcome(award.outcome).label}, notes


# --- recording ---------------------------------------------------------------------------------


class _RecordView(StaffRequiredMixin, View):
    """GET: the empty form. POST: validate, record through the service, say the reward.

    With htmx the answer is just the award partial, swapped into the page's live region; bad
    input answers the form with its errors, retargeted onto the form. Without JavaScript the
    whole page comes back, with the award or (status 400) the errors.
    """

    template_name = ""
    form_class = None

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.patient = None
        self.enrollment = None

    def load(self):
        self.patient = patient_get_or_404(self.request.user, self.kwargs["pk"])
        # The open enrollment, else the latest one: a result collected before it ended still
        # belongs to it (the service finds the enrollment by the collection day).
        self.enrollment = drawing_enrollment(self.patient)
        if self.enrollment is not None:
            protocol_attach(self.enrollment)

    def standing(self):
        """What the patient stands at now, shown beside the form while an enrollment is open."""
        if self.enrollment is None or self.enrollment.status not in Enrollment.OPEN_STATUSES:
            return None
        return standing_now(self.patient, self.patient.clinic)

    def form(self, data=None):
        raise NotImplementedError

    def record(self, form) -> recording.Recorded:
        raise NotImplementedError

    def page(self, form, standing, status=200):
        context = {
            "patient": self.patient,
            "enrollment": self.enrollment,
            "form": form,
            "standing": standing,
            "recorded_today": self.recorded_today(),
        }
        return render(self.request, self.template_name, context, status=status)

    def recorded_today(self) -> list[tuple[str, str, str]]:
        """(time, outcome, css class) of the tests already recorded for today (by hand or by a
        lab import), so the same cup is not entered twice."""
        if self.enrollment is None:
            return []
        clinic = self.patient.clinic
        today = clinic.local_date(timezone.now())
        start = _day_start(today, clinic)
        specimens = self.enrollment.specimens.filter(
            collected_at__gte=start, collected_at__lt=_day_start(today + timedelta(days=1), clinic)
        ).order_by("collected_at", "pk")
        rows = []
        for specimen in specimens:
            outcome = Specimen.Outcome(specimen.outcome)
            moment = timezone.localtime(specimen.collected_at, clinic.tz)
            rows.append(
                (formats.time_format(moment, "TIME_FORMAT"), outcome.label, outcome.name.lower())
            )
        return rows

    def get(self, request, *args, **kwargs):
        self.load()
        standing = self.standing()
        return self.page(self.form(), standing)

    def post(self, request, *args, **kwargs):
        self.load()
        form = self.form(request.POST)
        if form.is_valid():
            try:
                recorded = self.record(form)
            except ValidationError as error:
                errors_onto_form(form, error)
            else:
                standing = standing_after(recorded)
                if request.htmx:
                    return render(request, "vouchers/includes/award.html", {"standing": standing})
                return self.page(form, standing)
        if request.htmx:
            # htmx swaps only 2xx answers: the form with its errors replaces the form.
            response = self.page(form, None)
            reselect(response, "#record-form")
            retarget(response, "#record-form")
            return reswap(response, "outerHTML")
        standing = self.standing()
        return self.page(form, standing, status=400)


class SpecimenRecordView(_RecordView):
    template_name = "vouchers/specimen_record.html"

    def form(self, data=None):
        protocol = self.enrollment.protocol if self.enrollment else None
        return SpecimenForm(data, clinic=self.patient.clinic, protocol=protocol)

    def record(self, form) -> recording.Recorded:
        data = form.cleaned_data
        return recording.specimen_record(
            patient=self.patient,
            collected_at=data["collected_at"],
            kind=data["kind"],
            status=data["status"],
            results=form.results(),
            notes=data["notes"],
            recorded_by=self.request.user,
            idempotency_key=form.idempotency_key_value(),
        )


class AttendanceRecordView(_RecordView):
    template_name = "vouchers/attendance_record.html"

    def form(self, data=None):
        return AttendanceForm(data, clinic=self.patient.clinic)

    def record(self, form) -> recording.Recorded:
        data = form.cleaned_data
        return recording.attendance_record(
            patient=self.patient,
            occurred_at=data["occurred_at"],
            session_kind=data["session_kind"],
            status=data["status"],
            notes=data["notes"],
            recorded_by=self.request.user,
            idempotency_key=form.idempotency_key_value(),
        )
