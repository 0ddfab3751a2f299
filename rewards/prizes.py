"""The prize cabinet: drawing from the bowl and exchanging a tier won for an item.

Draws are random and happen once: each is stored with its result and never re-rolled (nothing
here changes a PrizeDraw's tier). Settlement decides how many draws a patient is owed; a
correction that takes away draws already made leaves them standing and flags them for review.

Lock order, as everywhere: the patient's Wallet first, then the draw, then the catalog item.
"""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from cmtracker import audit
from cmtracker.exceptions import Conflict
from patients.enrollment import drawing_enrollment
from patients.models import Enrollment, Patient
from rewards.models import CatalogItem, PrizeDraw, StockMovement
from rewards.selectors import prize_cap_room
from vouchers import engine
from vouchers.ledger import wallet_lock
from vouchers.models import LedgerEntry, PrizeTier, protocol_attach

# The tier that wins nothing; also what a capped draw falls back to when no prize fits.
GOOD_JOB = "good job"
KEY_MAX_LENGTH = 90  # PrizeDraw.idempotency_key holds 100: room for ":<n>"


# --- the bowl (pure) -------------------------------------------------------------------------


def bowl_draw(bowl: list[dict], rng) -> dict:
    """One slip from the bowl, with replacement: tier i with probability slips_i / total.

    `rng` is anything with `randrange`: production passes secrets.SystemRandom (a CSPRNG), tests
    a seeded random.Random.
    """
    total = sum(tier["slips"] for tier in bowl)
    if total <= 0:
        raise ValueError("the bowl has no slips")
    slip = rng.randrange(total)
    for tier in bowl:
        if slip < tier["slips"]:
            return tier
        slip -= tier["slips"]
    raise AssertionError("randrange returned a slip outside the bowl")


def _capped(bowl: list[dict], room: int | None) -> dict:
    """The most valuable tier that still fits under the caps (good job when none does)."""
    fitting = [t for t in bowl if room is None or t["value_cents"] <= room]
    if not fitting:
        return {"name": GOOD_JOB, "slips": 0, "value_cents": 0}
    return max(fitting, key=lambda t: t["value_cents"])


# --- writes ----------------------------------------------------------------------------------


def _draws_by_key(patient: Patient, key: str) -> list[PrizeDraw] | None:
    """The draws an earlier request with this key made at the patient's clinic, in order, or
    None. Keys are a clinic's own: one used at another clinic is a new key here."""
    prefix = f"{key}:"
    at_clinic = PrizeDraw.objects.filter(key_clinic_id=patient.clinic_id)
    # The common case, a fresh key, is one lookup on the unique index.
    if not at_clinic.filter(idempotency_key=f"{prefix}1").exists():
        return None
    found = [
        d
        for d in at_clinic.filter(idempotency_key__startswith=prefix)
        if d.idempotency_key[len(prefix) :].isdigit()
    ]
    if not found:
        return None
    if any(d.patient_id != patient.id for d in found):
        raise ValidationError({"idempotency_key": _("This key was used for another patient.")})
    return sorted(found, key=lambda d: int(d.idempotency_key[len(prefix) :]))


def _prize_enrollment(patient: Patient) -> Enrollment:
    enrollment = drawing_enrollment(patient)
    if enrollment is not None:
        protocol_attach(enrollment)
    if enrollment is None or enrollment.protocol.kind != engine.PRIZE:
        raise ValidationError({"patient": _("This patient is not enrolled in a prize protocol.")})
    if not sum(t["slips"] for t in enrollment.protocol.bowl):
        raise ValidationError({"patient": _("The protocol's bowl has no slips.")})
    return enrollment


def draws_run(
    *,
    patient: Patient,
    count: int | None = None,
    drawn_by,
    rng=None,
    idempotency_key: str | None = None,
) -> list[PrizeDraw]:
    """Make the patient's draws from the bowl, on the counselor's screen.

    1. A repeated idempotency key answers the earlier request's draws (checked again under the
       wallet lock, which serialises one patient's requests).
    2. The open enrollment (or, none open, the latest) must be on a prize protocol. Lock the
       wallet; `count` (default: every draw available) must be between 1 and the draws
       available.
    3. For each draw: a slip from the bowl (CSPRNG by default); a prize worth more than the caps
       leave is recorded as the most valuable tier that fits, marked capped. Store the draw and a
       DRAWN ledger entry taking one draw; take the draws from the wallet.
    """
    if idempotency_key is not None and not (0 < len(idempotency_key) <= KEY_MAX_LENGTH):
        raise ValidationError(
            {"idempotency_key": _("Give a key of 1 to %(n)s characters.") % {"n": KEY_MAX_LENGTH}}
        )
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise ValidationError({"count": _("Give a whole number of draws, at least 1.")})
    if idempotency_key:
        earlier = _draws_by_key(patient, idempotency_key)
        if earlier is not None:
            return earlier
    enrollment = _prize_enrollment(patient)
    rng = rng if rng is not None else secrets.SystemRandom()
    try:
        with transaction.atomic():
            wallet = wallet_lock(patient=patient)
            if idempotency_key:
                earlier = _draws_by_key(patient, idempotency_key)
                if earlier is not None:
                    return earlier
            available = wallet.draws_available
            count = available if count is None else count
            if available == 0:
                raise Conflict({"count": _("This patient has no draws to make.")})
            if count > available:
                raise Conflict(
                    {
                        "count": ngettext(
                            "Only %(n)s draw is available.",
                            "Only %(n)s draws are available.",
                            available,
                        )
                        % {"n": available}
                    }
                )
            bowl = enrollment.protocol.bowl
            room = prize_cap_room(
                patient=patient,
                enrollment=enrollment,
                today=patient.clinic.local_date(timezone.now()),
            )
            draws = []
            for n in range(1, count + 1):
                drawn = bowl_draw(bowl, rng)
                capped = room is not None and drawn["value_cents"] > room
                tier = _capped(bowl, room) if capped else drawn
                if room is not None:
                    room -= tier["value_cents"]
                draws.append(
                    PrizeDraw(
                        patient=patient,
                        enrollment=enrollment,
                        tier=tier["name"],
                        value_cents=tier["value_cents"],
                        capped=capped,
                        drawn_by=drawn_by,
                        idempotency_key=f"{idempotency_key}:{n}" if idempotency_key else None,
                        key_clinic_id=patient.clinic_id if idempotency_key else None,
                    )
                )
            audit.created(PrizeDraw.objects.bulk_create(draws))
            drawn = LedgerEntry.objects.bulk_create(
                LedgerEntry(
                    patient=patient,
                    enrollment=enrollment,
                    kind=LedgerEntry.Kind.DRAWN,
                    draws=-1,
                    prize_draw_id=draw.pk,
                    created_by=drawn_by,
                )
                for draw in draws
            )
            audit.created(drawn)
            wallet.draws_available -= count
            wallet.save()
            return draws
    except IntegrityError:
        # The same key for another patient of the clinic won a race (one patient's requests
        # queue on the wallet lock, so they never get here).
        earlier = idempotency_key and _draws_by_key(patient, idempotency_key)
        if not earlier:
            raise
        return earlier


def prize_claim(*, draw: PrizeDraw, item: CatalogItem, claimed_by) -> PrizeDraw:
    """Exchange a tier won for an in-stock item of that tier from the clinic's cabinet.

    1. Lock the wallet, then the draw, then the item.
    2. The draw is a prize (not good job) and not yet claimed; the item is active, of the
       patient's clinic and of the tier won, and in stock (or unlimited).
    3. Issue it: a stock movement of -1 naming the draw and the stock taken (tracked stock only),
       the draw marked claimed.
    """
    with transaction.atomic():
        wallet_lock(patient=draw.patient)
        draw = PrizeDraw.objects.select_for_update().select_related("patient").get(pk=draw.pk)
        item = CatalogItem.objects.select_for_update().get(pk=item.pk)
        if draw.claimed_item_id is not None:
            raise Conflict({"draw": _("This prize has already been claimed.")})
        if draw.tier not in PrizeTier.values:
            raise ValidationError({"draw": _("A good job slip wins no prize; nothing to claim.")})
        errors = {}
        if item.clinic_id != draw.patient.clinic_id or not item.is_active:
            errors["item"] = _("This item is not in the clinic's prize cabinet.")
        elif item.prize_tier != draw.tier:
            errors["item"] = _("Choose an item of the tier won: %(tier)s.") % {
                "tier": PrizeTier(draw.tier).label
            }
        if errors:
            raise ValidationError(errors)
        if item.stock is not None and item.stock < 1:
            raise Conflict({"item": _("This item is out of stock.")})
        # Like a redemption, an item with unlimited stock has no stock ledger; the draw itself
        # records who handed what over.
        if item.stock is not None:
            StockMovement.objects.create(
                item=item,
                kind=StockMovement.Kind.ISSUED,
                quantity=-1,
                by=claimed_by,
                prize_draw=draw,
            )
            item.stock -= 1
            item.save(update_fields=["stock"])
        draw.claimed_item = item
        draw.claimed_by = claimed_by
        draw.claimed_at = timezone.now()
        draw.save(update_fields=["claimed_item", "claimed_by", "claimed_at"])
        return draw
