"""Staff adjustments to a patient's ledger: a credit or debit with a reason, and forgiving an
overpayment. Both lock the patient's wallet first, as settlement does."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from cmtracker.inputs import REASON_MAX_LENGTH, text_bounds_check
from patients.models import Patient
from vouchers.ledger import wallet_lock
from vouchers.models import LedgerEntry


def ledger_adjust(
    *, patient: Patient, amount_cents: int, reason: str, actor, idempotency_key: str | None = None
) -> LedgerEntry:
    """A staff credit or debit with a reason. A debit can never take the balance below zero."""
    if not (reason or "").strip():
        raise ValidationError({"reason": _("An adjustment needs a reason.")})
    text_bounds_check(reason=(reason, REASON_MAX_LENGTH))
    if not isinstance(amount_cents, int) or amount_cents == 0:
        raise ValidationError({"amount_cents": _("Give a whole, non-zero number of cents.")})
    with transaction.atomic():
        wallet = wallet_lock(patient=patient)
        if idempotency_key:
            existing = LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None and existing.patient_id != patient.id:
                raise ValidationError(
                    {"idempotency_key": _("This key was used for another patient.")}
                )
            if existing is not None:
                return existing
        if wallet.balance_cents + amount_cents < 0:
            raise ValidationError(
                {
                    "amount_cents": _("The balance is %(b)s cents; it cannot go below zero.")
                    % {"b": wallet.balance_cents}
                }
            )
        entry = LedgerEntry.objects.create(
            patient=patient,
            kind=LedgerEntry.Kind.ADJUSTMENT,
            amount_cents=amount_cents,
            reason=reason.strip(),
            created_by=actor,
            idempotency_key=idempotency_key or None,
        )
        wallet.balance_cents += amount_cents
        wallet.save()
        return entry


def overpayment_waive(*, patient: Patient, reason: str, actor) -> LedgerEntry | None:
    """Forgive what a patient owes after a correction (staff, with a reason)."""
    if not (reason or "").strip():
        raise ValidationError({"reason": _("A waiver needs a reason.")})
    text_bounds_check(reason=(reason, REASON_MAX_LENGTH))
    with transaction.atomic():
        wallet = wallet_lock(patient=patient)
        if wallet.overpayment_cents == 0:
            return None
        entry = LedgerEntry.objects.create(
            patient=patient,
            kind=LedgerEntry.Kind.WAIVER,
            overpayment_cents=-wallet.overpayment_cents,
            reason=reason.strip(),
            created_by=actor,
        )
        wallet.overpayment_cents = 0
        wallet.save()
        return entry
