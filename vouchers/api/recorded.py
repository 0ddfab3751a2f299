"""What recording a result answers: the award it produced and where the patient now stands."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from vouchers.recording import Recorded


class AwardSerializer(serializers.Serializer):
    voucher_cents = serializers.IntegerField()
    bonus_cents = serializers.IntegerField()
    attendance_cents = serializers.IntegerField()
    draws = serializers.IntegerField()
    clipped_cents = serializers.IntegerField(help_text=_("Cut off by a cap."))
    streak = serializers.IntegerField()
    balance_cents = serializers.IntegerField()
    next_voucher_cents = serializers.IntegerField(
        help_text=_("The voucher's next value in the escalation, without a bonus.")
    )
    next_negative_cents = serializers.IntegerField(
        help_text=_("What the next negative test after this one earns in all, bonus included.")
    )
    next_draws = serializers.IntegerField()


def award_data(recorded: Recorded) -> dict:
    award = recorded.award
    state = recorded.settlement.result.state
    return {
        "voucher_cents": award.voucher_cents if award else 0,
        "bonus_cents": award.bonus_cents if award else 0,
        "attendance_cents": award.attendance_cents if award else 0,
        "draws": award.draws if award else 0,
        "clipped_cents": award.clipped_cents if award else 0,
        "streak": state.streak,
        "balance_cents": recorded.settlement.wallet.balance_cents,
        "next_voucher_cents": state.next_cents,
        "next_negative_cents": recorded.settlement.next_award(award.day).total_cents
        if award
        else 0,
        "next_draws": state.next_draws,
    }


def notes_as_reason(error: ValidationError) -> ValidationError:
    """The services call the free text `notes`; the API calls it `reason`."""
    if not hasattr(error, "error_dict"):
        return error
    errors = error.message_dict
    if "notes" in errors:
        errors["reason"] = errors.pop("notes")
    return ValidationError(errors)
