"""Earning: protocols (as data), the patient's wallet and the append-only ledger.

The catalog, redemptions and the prize cabinet are the rewards app's (rewards.models).
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cmtracker.inputs import (
    PROTOCOL_DESCRIPTION_MAX_LENGTH,
    REASON_MAX_LENGTH,
)
from cmtracker.models import Clinic
from patients.models import Attendance, Enrollment, Patient, Specimen, Substance
from vouchers import engine


def validate_substances(value) -> None:
    known = set(Substance.values)
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ValidationError(_("Give a list of substance names."))
    unknown = [s for s in value if s not in known]
    if unknown:
        raise ValidationError(
            _("Unknown substance: %(names)s."), params={"names": ", ".join(unknown)}
        )


def validate_bowl(value) -> None:
    if not isinstance(value, list):
        raise ValidationError(_("The bowl is a list of tiers."))
    for tier in value:
        if (
            not isinstance(tier, dict)
            or not isinstance(tier.get("name"), str)
            or not isinstance(tier.get("slips"), int)
            or not isinstance(tier.get("value_cents"), int)
            or tier["slips"] < 0
            or tier["value_cents"] < 0
        ):
            raise ValidationError(
                _("Each tier needs a name, a number of slips and a value in cents.")
            )


class Protocol(models.Model):
    """A CM protocol version. Once an enrollment uses it, it is never edited: a change is a new
    version (same slug, next version number), so every participant keeps the promise they
    enrolled under."""

    class Kind(models.TextChoices):
        VOUCHER = engine.VOUCHER, _("Escalating vouchers")
        PRIZE = engine.PRIZE, _("Prize draws")

    class DrawsEscalation(models.TextChoices):
        PER_NEGATIVE = engine.PER_NEGATIVE, _("Per consecutive negative test")
        PER_WEEK = engine.PER_WEEK, _("Per week of continuous abstinence")

    slug = models.SlugField()
    version = models.PositiveIntegerField(default=1)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=PROTOCOL_DESCRIPTION_MAX_LENGTH)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    target_substances = models.JSONField(default=list, validators=[validate_substances])
    secondary_substances = models.JSONField(
        default=list, blank=True, validators=[validate_substances]
    )
    secondary_bonus_draws = models.PositiveIntegerField(default=0)
    draws_escalation = models.CharField(
        _("draws escalate"),
        max_length=16,
        choices=DrawsEscalation.choices,
        default=DrawsEscalation.PER_NEGATIVE,
        help_text=_(
            "Prize protocols: the phase's draws increment is added after each consecutive "
            "negative test, or once for each week in which every test was negative."
        ),
    )
    dilute_is_positive = models.BooleanField(
        _("dilute counts as positive"),
        default=True,
        help_text=_("Otherwise a dilute specimen neither earns nor resets; ask for a retest."),
    )
    attendance_cents = models.PositiveIntegerField(default=0)
    attendance_draws = models.PositiveIntegerField(default=0)
    enrollment_cap_cents = models.PositiveIntegerField(null=True, blank=True)
    year_cap_cents = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Per patient, per calendar year, across enrollments.")
    )
    bowl = models.JSONField(default=list, blank=True, validators=[validate_bowl])
    is_current = models.BooleanField(
        default=True, help_text=_("New enrollments take the current version of a slug.")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["slug", "version"], name="protocol_slug_version"),
            models.UniqueConstraint(
                fields=["slug"], condition=Q(is_current=True), name="protocol_one_current_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (v{self.version})"

    def _phases(self):
        """Its phases: those `protocols_attach` read with it, else a query."""
        attached = getattr(self, "phase_list", None)
        return self.phases.all() if attached is None else attached

    def rules(self) -> engine.Rules:
        """The engine's view of this protocol."""
        phases = tuple(
            engine.Phase(
                first_week=p.first_week,
                last_week=p.last_week,
                tests_per_week=p.tests_per_week,
                start_cents=p.start_cents,
                increment_cents=p.increment_cents,
                max_cents=p.max_cents,
                bonus_every=p.bonus_every,
                bonus_cents=p.bonus_cents,
                recovery_after=p.recovery_after,
                draws_start=p.draws_start,
                draws_increment=p.draws_increment,
                draws_max=p.draws_max,
            )
            for p in self._phases()
        )
        return engine.Rules(
            kind=self.kind,
            phases=phases,
            dilute_is_positive=self.dilute_is_positive,
            attendance_cents=self.attendance_cents,
            attendance_draws=self.attendance_draws,
            secondary_bonus_draws=self.secondary_bonus_draws,
            enrollment_cap_cents=self.enrollment_cap_cents,
            year_cap_cents=self.year_cap_cents,
            bowl=tuple(engine.Tier(t["name"], t["slips"], t["value_cents"]) for t in self.bowl),
            draws_escalation=self.draws_escalation,
        )


def protocols_attach(enrollments, *, phases: bool = True) -> list[Enrollment]:
    """Attach to each enrollment its Protocol, whatever the number of enrollments, in one query:
    the protocols' phases with their protocol joined (`phase_list`, which `rules()` reads, like a
    prefetch's to_attr), plus one for protocols that have no phase, if any. `phases=False` reads
    the protocols alone. The clinical record names a protocol by id only (patients does not
    depend on vouchers), so whoever reads `enrollment.protocol` attaches it first. Returns the
    enrollments as a list."""
    enrollments = list(enrollments)
    missing = {e.protocol_id for e in enrollments if getattr(e, "_protocol", None) is None}
    if not missing:
        return enrollments
    found: dict[int, Protocol] = {}
    if phases:
        rows = ProtocolPhase.objects.filter(protocol_id__in=missing).select_related("protocol")
        for phase in rows.order_by("protocol_id", "first_week"):
            protocol = found.setdefault(phase.protocol_id, phase.protocol)
            protocol.phase_list = [*getattr(protocol, "phase_list", []), phase]
    if missing - found.keys():
        for protocol in Protocol.objects.filter(pk__in=missing - found.keys()):
            if phases:
                protocol.phase_list = []  # read above: it has none
            found[protocol.pk] = protocol
    for enrollment in enrollments:
        if getattr(enrollment, "_protocol", None) is None:
            enrollment.protocol = found[enrollment.protocol_id]
    return enrollments


def protocol_attach(enrollment: Enrollment) -> Enrollment:
    """`protocols_attach` for one enrollment."""
    protocols_attach([enrollment])
    return enrollment


class ProtocolPhase(models.Model):
    protocol = models.ForeignKey(Protocol, on_delete=models.CASCADE, related_name="phases")
    first_week = models.PositiveIntegerField(default=1)
    last_week = models.PositiveIntegerField(null=True, blank=True)
    tests_per_week = models.PositiveIntegerField(default=3)
    start_cents = models.PositiveIntegerField(default=0)
    increment_cents = models.PositiveIntegerField(default=0)
    max_cents = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Most a single test can earn; empty for no maximum.")
    )
    bonus_every = models.PositiveIntegerField(default=0)
    bonus_cents = models.PositiveIntegerField(default=0)
    recovery_after = models.PositiveIntegerField(default=0)
    draws_start = models.PositiveIntegerField(default=0)
    draws_increment = models.PositiveIntegerField(default=0)
    draws_max = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["first_week"]
        constraints = [
            models.UniqueConstraint(fields=["protocol", "first_week"], name="phase_unique_start"),
            models.CheckConstraint(condition=Q(first_week__gte=1), name="phase_weeks_from_one"),
        ]

    def __str__(self) -> str:
        end = self.last_week or "…"
        return f"weeks {self.first_week}–{end}"

    def clean(self):
        errors = {}
        if self.last_week is not None and self.last_week < self.first_week:
            errors["last_week"] = _("The phase cannot end before it starts.")
        if self.max_cents is not None and self.start_cents > self.max_cents:
            errors["max_cents"] = _("The maximum cannot be below the start value.")
        if self.draws_max and self.draws_start > self.draws_max:
            errors["draws_max"] = _("The maximum draws cannot be below the start draws.")
        if errors:
            raise ValidationError(errors)


class Wallet(models.Model):
    """The maintained totals of a patient's ledger, so a balance read is one row.

    It is the lock every points-moving write takes (select_for_update), and the check
    constraints are the last line behind the Python checks: nothing goes negative.
    `ledger_verify` proves it equals the sums of the ledger.
    """

    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="wallet")
    balance_cents = models.BigIntegerField(default=0)
    overpayment_cents = models.BigIntegerField(
        default=0, help_text=_("Paid by a result later corrected; recovered from later earnings.")
    )
    draws_available = models.IntegerField(default=0)
    draws_under_review = models.IntegerField(
        default=0, help_text=_("Draws already made that a correction took away; staff review.")
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(balance_cents__gte=0), name="wallet_balance_gte_0"),
            models.CheckConstraint(
                condition=Q(overpayment_cents__gte=0), name="wallet_overpayment_gte_0"
            ),
            models.CheckConstraint(condition=Q(draws_available__gte=0), name="wallet_draws_gte_0"),
            models.CheckConstraint(
                condition=Q(draws_under_review__gte=0), name="wallet_review_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient}: {self.balance_cents}¢"


class AppendOnlyQuerySet(models.QuerySet):
    """Bulk changes are refused like single ones: a correction is a new entry."""

    def update(self, **kwargs):
        raise ValueError("ledger entries are append-only")

    def delete(self):
        raise ValueError("ledger entries are append-only")


class LedgerEntry(models.Model):
    """One movement of a patient's points. Never updated, never deleted (the database refuses
    both, see the migration's triggers); a correction is a new entry.

    `amount_cents` is what moved in the balance, `overpayment_cents` what moved in the
    overpayment owed. Their difference is the change in what the patient is entitled to, which is
    what settlement compares with the engine: a reversal the balance cannot cover moves the rest
    into the overpayment; a later earning pays the overpayment back first.
    """

    class Kind(models.TextChoices):
        EARN = "earn", _("Voucher earned")
        BONUS = "bonus", _("Bonus")
        ATTENDANCE = "attendance", _("Attendance reward")
        DRAWS = "draws", _("Prize draws")
        REVERSAL = "reversal", _("Reversal")
        REDEEM = "redeem", _("Redemption")
        REFUND = "refund", _("Refund")
        ADJUSTMENT = "adjustment", _("Staff adjustment")
        WAIVER = "waiver", _("Overpayment waived")
        DRAWN = "drawn", _("Prize draw made")

    class Component(models.TextChoices):
        """Which part of an award a settlement entry settles."""

        VOUCHER = "voucher", _("Voucher")
        BONUS = "bonus", _("Bonus")
        ATTENDANCE = "attendance", _("Attendance")
        DRAWS = "draws", _("Draws")

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="ledger")
    enrollment = models.ForeignKey(
        Enrollment, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    component = models.CharField(max_length=16, choices=Component.choices, blank=True)
    amount_cents = models.BigIntegerField(default=0)
    overpayment_cents = models.BigIntegerField(default=0)
    draws = models.IntegerField(default=0)
    draws_under_review = models.IntegerField(default=0)
    specimen = models.ForeignKey(
        Specimen, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger"
    )
    attendance = models.ForeignKey(
        Attendance, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger"
    )
    # The redemption or prize draw an entry pays for or takes a draw for. Those are the rewards
    # app's records, and vouchers points at no rewards model, so these are plain ids (the
    # columns, their indexes and the database's foreign keys are as they were).
    redemption_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    prize_draw_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    event_year = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Calendar year of the earning event, for the year cap.")
    )
    reason = models.TextField(blank=True, max_length=REASON_MAX_LENGTH)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, unique=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["patient", "created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind__in=["adjustment", "waiver"]) | ~Q(reason=""),
                name="ledger_staff_entries_need_a_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount_cents:+d}¢"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValueError("ledger entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("ledger entries are append-only")

    @property
    def entitlement_cents(self) -> int:
        return self.amount_cents - self.overpayment_cents


# --- what the bowl's tiers are called -------------------------------------------------------


class PrizeTier(models.TextChoices):
    """Tiers of the fishbowl; a tier won is exchanged for an in-stock item of that tier (in the
    rewards app's prize cabinet). Here, beside the Protocol whose bowl names them."""

    SMALL = "small", _("Small")
    LARGE = "large", _("Large")
    JUMBO = "jumbo", _("Jumbo")


class LabImport(models.Model):
    """A lab's CSV file on its way in: first an upload waiting for the counselor to confirm its
    preview, then (a large file) a background job whose progress the page and the API show.

    The file's text lives here, not in the session, and only until it is imported: it is cleared
    when the job finishes, and an upload nobody confirmed is deleted once it expires. The job
    commits its rows a chunk at a time and counts the chunks done in the same transaction, so a
    retried or resumed job carries on after the last chunk it committed and writes nothing twice.
    """

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Waiting for confirmation")
        QUEUED = "queued", _("Waiting to start")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField(
        help_text=_("An upload not confirmed by then is deleted with its file.")
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UPLOADED)
    mode = models.CharField(max_length=16, blank=True)
    token = models.CharField(max_length=32, help_text=_("The preview's one-time confirmation."))
    text = models.TextField(blank=True, help_text=_("The file; cleared once it is imported."))
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text=_("Runs of the job so far."))
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    checked = models.BooleanField(
        default=False, help_text=_("Every row was checked before the first chunk was written.")
    )
    chunks_done = models.PositiveIntegerField(default=0)
    written = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    settled = models.PositiveIntegerField(default=0)
    error_rows = models.JSONField(
        default=list, blank=True, help_text=_("The rows not written, with what was wrong.")
    )
    failure = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "expires_at"], name="lab_import_expiry")]

    def __str__(self) -> str:
        return f"{self.clinic} · {self.get_status_display()} · {self.rows_done}/{self.rows_total}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def totals(self) -> dict[str, int]:
        return {
            "rows": self.rows_total,
            "ok": self.rows_total - self.errors,
            "errors": self.errors,
            "written": self.written,
            "skipped": self.skipped,
            "settled": self.settled,
        }
