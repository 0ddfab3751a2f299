"""Two presets made to say exactly where they come from (kept inline, so this never changes).

- petry-fishbowl cited CTN-0007 but drew for stimulants only, one more draw per consecutive
  negative. It now follows CTN-0007 (Peirce et al. 2006): stimulants and alcohol as targets, draws
  escalating per week of continuous abstinence up to 12, bonus draws for an opiate-negative sample.
- ca-rip carried a $750 calendar-year cap labelled SAMHSA; California's program is paid by Medi-Cal
  and caps the episode at $599, so the preset sets no yearly cap (a clinic can still set one).

Protocols are versioned: a preset version any enrollment uses is never edited. If the preset as
0003 loaded it is still current and unused, it is corrected in place; if an enrollment uses it, the
corrected values become the next version, made current, and existing enrollments keep theirs. A
current version that is not the one 0003 loaded (a clinic's own) is left alone.
"""

from django.db import migrations

PETRY_LOADED = (
    "Prize-based CM after Petry et al. (NIDA CTN-0007, 2005): a bowl of 500 slips — 250 "
    "'good job', 209 small (~$1), 40 large (~$20), 1 jumbo (~$100) — drawn with "
    "replacement. The first stimulant-negative specimen earns 1 draw and each "
    "consecutive negative 1 more, up to 12; a positive or missed specimen resets to 1. "
    "Tested twice a week for 12 weeks."
)
CA_RIP_LOADED = (
    "Built from the published figures of California's Recovery Incentives Program: 24 "
    "weeks; tests twice a week in weeks 1-12 and weekly in weeks 13-24; $10 for the "
    "first stimulant-negative test, rising to at most $26.50 a test; at most $599 for the "
    "whole episode. INFERRED, to be checked against the state's current protocol before "
    "clinical use: the $1.50 step (which reaches $26.50 at the 12th consecutive "
    "negative); the $5.00 value of each weekly negative in weeks 13-24 (so that 36 "
    "negatives stay within $599); the reset to $10 on a positive or missed test and the "
    "return to the earlier level after 2 consecutive negatives; and the $750 "
    "calendar-year limit (SAMHSA, from January 2025)."
)

CORRECTED = {
    "petry-fishbowl": {
        "loaded": PETRY_LOADED,
        "fields": {
            "name": "Petry prize CM — fishbowl (CTN-0007: stimulants and alcohol)",
            "description": (
                "Prize-based CM as in NIDA CTN-0007: Peirce JM, Petry NM, Stitzer ML, et al. "
                "Effects of lower-cost incentives on stimulant abstinence in methadone "
                "maintenance treatment. Arch Gen Psychiatry 2006;63:201-208 (the methadone-clinic "
                "twin of CTN-0006, Petry et al. 2005). As published: 12 weeks; a sample negative "
                "for stimulants (cocaine, amphetamine, methamphetamine) and for alcohol (breath) "
                "earns draws from a prize bowl, more draws the longer the abstinence continues; "
                "opiates are the bonus target. Here: a bowl of 500 slips — 250 'good job', 209 "
                "small (~$1), 40 large (~$20), 1 jumbo (~$100) — drawn with replacement; the draws "
                "escalate per week of continuous abstinence (every sample that week negative), not "
                "per test; methadone taken as prescribed is not a target. INFERRED, to be checked "
                "against the trial's protocol before clinical use: testing twice a week; 1 draw "
                "in the first week and 1 more for each week of continuous abstinence, up to 12; "
                "back to 1 draw after a positive or missed sample, the week of the reset not "
                "counting; 2 bonus draws for a sample also negative for opiates; the prize values."
            ),
            "target_substances": ["cocaine", "amphetamine", "methamphetamine", "alcohol"],
            "secondary_substances": ["opiates"],
            "secondary_bonus_draws": 2,
            "draws_escalation": "week",
        },
    },
    "ca-rip": {
        "loaded": CA_RIP_LOADED,
        "fields": {
            "description": (
                "Built from the published figures of California's Recovery Incentives Program, "
                "a Medi-Cal benefit: 24 weeks; tests twice a week in weeks 1-12 and weekly in "
                "weeks 13-24; $10 for the first stimulant-negative test, rising to at most $26.50 "
                "a test; at most $599 for the whole episode. No calendar-year cap is set: the "
                "program is paid by Medi-Cal, not under SAMHSA's grant limit (a clinic that must "
                "hold a yearly limit sets one on a new version). INFERRED, to be checked against "
                "the state's current protocol before clinical use: the $1.50 step (which reaches "
                "$26.50 at the 12th consecutive negative); the $5.00 value of each weekly "
                "negative in weeks 13-24 (so that 36 negatives stay within $599); the reset to "
                "$10 on a positive or missed test and the return to the earlier level after 2 "
                "consecutive negatives."
            ),
            "year_cap_cents": None,
        },
    },
}


def correct(apps, schema_editor):
    Protocol = apps.get_model("vouchers", "Protocol")
    ProtocolPhase = apps.get_model("vouchers", "ProtocolPhase")
    for slug, preset in CORRECTED.items():
        current = Protocol.objects.filter(slug=slug, is_current=True).first()
        if current is None or current.description != preset["loaded"]:
            continue
        if not current.enrollments.exists():
            for name, value in preset["fields"].items():
                setattr(current, name, value)
            current.save()
            continue
        phases = list(ProtocolPhase.objects.filter(protocol=current))
        latest = Protocol.objects.filter(slug=slug).order_by("-version").first().version
        Protocol.objects.filter(slug=slug, is_current=True).update(is_current=False)
        current.pk = None
        current._state.adding = True
        current.version = latest + 1
        current.is_current = True
        for name, value in preset["fields"].items():
            setattr(current, name, value)
        current.save()
        for phase in phases:
            phase.pk = None
            phase._state.adding = True
            phase.protocol = current
        ProtocolPhase.objects.bulk_create(phases)


class Migration(migrations.Migration):
    dependencies = [("vouchers", "0006_protocol_draws_escalation")]
    operations = [migrations.RunPython(correct, migrations.RunPython.noop)]
