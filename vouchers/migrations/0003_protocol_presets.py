"""Published CM protocols, as data. Kept inline (not imported) so this migration never changes."""

from django.db import migrations

STIMULANTS = ["cocaine", "amphetamine", "methamphetamine"]
# Petry's standard 500-slip bowl: half "good job", the rest small, large and one jumbo prize.
STANDARD_BOWL = [
    {"name": "good job", "slips": 250, "value_cents": 0},
    {"name": "small", "slips": 209, "value_cents": 100},
    {"name": "large", "slips": 40, "value_cents": 2000},
    {"name": "jumbo", "slips": 1, "value_cents": 10000},
]

PRESETS = [
    {
        "slug": "higgins-1994",
        "name": "Higgins et al. 1994 — escalating vouchers (cocaine)",
        "description": (
            "Higgins ST, Budney AJ, Bickel WK, et al. Incentives improve outcome in outpatient "
            "behavioral treatment of cocaine dependence. Arch Gen Psychiatry 1994;51:568-576. "
            "Urine tested 3 times a week for 12 weeks; the first cocaine-negative specimen earns "
            "$2.50, each consecutive negative $1.25 more, with a $10 bonus for every 3 "
            "consecutive negatives. A positive or missed specimen resets the value to $2.50; 5 "
            "consecutive negatives after a reset restore the value reached before it. 36 "
            "negatives earn $997.50, as published. No cap is set: a US clinic must add the "
            "SAMHSA calendar-year limit that applies to it before clinical use."
        ),
        "kind": "voucher",
        "target_substances": ["cocaine"],
        "phases": [
            {"first_week": 1, "last_week": 12, "tests_per_week": 3, "start_cents": 250,
             "increment_cents": 125, "bonus_every": 3, "bonus_cents": 1000, "recovery_after": 5},
        ],
    },
    {
        "slug": "silverman-1996",
        "name": "Silverman et al. 1996 — escalating vouchers (cocaine, methadone patients)",
        "description": (
            "Silverman K, Higgins ST, Brooner RK, et al. Sustained cocaine abstinence in "
            "methadone maintenance patients through voucher-based reinforcement therapy. Arch Gen "
            "Psychiatry 1996;53:409-415. Urine tested 3 times a week for 12 weeks; $2.50 for the "
            "first cocaine-negative specimen, $1.50 more for each consecutive negative, $10 bonus "
            "for every 3 consecutive negatives; a positive or missed specimen resets to $2.50 and "
            "there is no recovery rule. Methadone (prescribed) is not a target. 36 negatives earn "
            "$1,155, as published. No cap is set: add the limit that applies before clinical use."
        ),
        "kind": "voucher",
        "target_substances": ["cocaine"],
        "phases": [
            {"first_week": 1, "last_week": 12, "tests_per_week": 3, "start_cents": 250,
             "increment_cents": 150, "bonus_every": 3, "bonus_cents": 1000},
        ],
    },
    {
        "slug": "petry-fishbowl",
        "name": "Petry prize CM — fishbowl (stimulants)",
        "description": (
            "Prize-based CM after Petry et al. (NIDA CTN-0007, 2005): a bowl of 500 slips — 250 "
            "'good job', 209 small (~$1), 40 large (~$20), 1 jumbo (~$100) — drawn with "
            "replacement. The first stimulant-negative specimen earns 1 draw and each "
            "consecutive negative 1 more, up to 12; a positive or missed specimen resets to 1. "
            "Tested twice a week for 12 weeks."
        ),
        "kind": "prize",
        "target_substances": STIMULANTS,
        "bowl": STANDARD_BOWL,
        "phases": [
            {"first_week": 1, "last_week": 12, "tests_per_week": 2, "draws_start": 1,
             "draws_increment": 1, "draws_max": 12},
        ],
    },
    {
        "slug": "va-prize",
        "name": "VA prize CM (stimulants)",
        "description": (
            "The Veterans Health Administration's prize-based CM: tests twice a week for 12 "
            "weeks; the first stimulant-negative test earns 1 draw from the standard 500-slip "
            "bowl and each consecutive negative 1 more, up to 8; a positive or missed test resets "
            "to 1."
        ),
        "kind": "prize",
        "target_substances": STIMULANTS,
        "bowl": STANDARD_BOWL,
        "phases": [
            {"first_week": 1, "last_week": 12, "tests_per_week": 2, "draws_start": 1,
             "draws_increment": 1, "draws_max": 8},
        ],
    },
    {
        "slug": "ca-rip",
        "name": "California Recovery Incentives Program (stimulants)",
        "description": (
            "Built from the published figures of California's Recovery Incentives Program: 24 "
            "weeks; tests twice a week in weeks 1-12 and weekly in weeks 13-24; $10 for the "
            "first stimulant-negative test, rising to at most $26.50 a test; at most $599 for the "
            "whole episode. INFERRED, to be checked against the state's current protocol before "
            "clinical use: the $1.50 step (which reaches $26.50 at the 12th consecutive "
            "negative); the $5.00 value of each weekly negative in weeks 13-24 (so that 36 "
            "negatives stay within $599); the reset to $10 on a positive or missed test and the "
            "return to the earlier level after 2 consecutive negatives; and the $750 "
            "calendar-year limit (SAMHSA, from January 2025)."
        ),
        "kind": "voucher",
        "target_substances": STIMULANTS,
        "enrollment_cap_cents": 59900,
        "year_cap_cents": 75000,
        "phases": [
            {"first_week": 1, "last_week": 12, "tests_per_week": 2, "start_cents": 1000,
             "increment_cents": 150, "max_cents": 2650, "recovery_after": 2},
            {"first_week": 13, "last_week": 24, "tests_per_week": 1, "start_cents": 500,
             "increment_cents": 0, "max_cents": 500},
        ],
    },
]


def load(apps, schema_editor):
    Protocol = apps.get_model("vouchers", "Protocol")
    ProtocolPhase = apps.get_model("vouchers", "ProtocolPhase")
    for preset in PRESETS:
        fields = {k: v for k, v in preset.items() if k != "phases"}
        slug = fields.pop("slug")
        protocol, created = Protocol.objects.get_or_create(slug=slug, version=1, defaults=fields)
        if created:
            for phase in preset["phases"]:
                ProtocolPhase.objects.create(protocol=protocol, **phase)


def unload(apps, schema_editor):
    Protocol = apps.get_model("vouchers", "Protocol")
    Protocol.objects.filter(slug__in=[p["slug"] for p in PRESETS], enrollments=None).delete()


class Migration(migrations.Migration):
    dependencies = [("vouchers", "0002_ledger_append_only"), ("patients", "0002_initial")]
    operations = [migrations.RunPython(load, unload)]
