"""What today's code reads from a migrated database, run inside it by
tests/test_migrate_keeps_every_row.py:

    DATABASE_URL=... python manage.py shell -c "from tests.migrated_reads import main; main()"

Prints one JSON object: `ledger_verify` and `makemigrations --check --dry-run` (their exit codes
and output), and, through the ORM, every table's model, its content type and row count, the
wallets, the ledger entries whose patient can be read, and the redemptions and prize draws the
ledger names. Models are found by the tables they keep and fields by their columns, never by an
import path or a field name: the redesign moves models between apps and turns some foreign keys
into plain ids.
"""

import json
import os
import sys
from io import StringIO

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command

WALLET = (
    "patient_id",
    "balance_cents",
    "overpayment_cents",
    "draws_available",
    "draws_under_review",
)


def command(*args: str) -> dict:
    """A management command as its exit code and output, the way the shell would see them."""
    out, err = StringIO(), StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except CommandError as error:
        err.write(str(error))
        code = 1
    except SystemExit as exit_:  # makemigrations --check exits 1 when a migration is missing
        code = exit_.code
    return {"exit": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


def by_column(model, column: str) -> str:
    """The model's name for a column: `redemption_id` whether it is a foreign key's or a plain
    id field's, as the redesign turns some keys into plain ids."""
    return next(f.attname for f in model._meta.concrete_fields if f.column == column)


def rows(model, *columns) -> list[list]:
    fields = [by_column(model, c) for c in columns]
    return sorted(list(row) for row in model._base_manager.values_list(*fields))


def content_type(model) -> int | None:
    """The id of the model's content type as the database has it (never made here)."""
    meta = model._meta
    found = ContentType.objects.filter(app_label=meta.app_label, model=meta.model_name).first()
    return found.pk if found else None


def orm(tables: list[str]) -> dict:
    owner = {m._meta.db_table: m for m in apps.get_models(include_auto_created=True)}
    wallet, ledger = owner["vouchers_wallet"], owner["vouchers_ledgerentry"]
    redemption, draw = owner["vouchers_redemption"], owner["vouchers_prizedraw"]
    # select_related joins the patient: an entry whose patient cannot be read drops out.
    entries = list(ledger._base_manager.select_related("patient").order_by("pk"))
    redemption_id = by_column(ledger, "redemption_id")
    draw_id = by_column(ledger, "prize_draw_id")
    redemptions = {getattr(e, redemption_id) for e in entries} - {None}
    draws = {getattr(e, draw_id) for e in entries} - {None}
    return {
        "unowned": [t for t in tables if t not in owner],
        "content_types": {
            t: [owner[t]._meta.model_name, content_type(owner[t])]
            for t in tables
            if t in owner and not owner[t]._meta.auto_created
        },
        "counts": {t: owner[t]._base_manager.count() for t in tables if t in owner},
        "wallets": rows(wallet, *WALLET),
        "ledger_ids": [e.pk for e in entries if e.patient.pk == e.patient_id],
        "redemptions_named": sorted(redemptions),
        "redemptions_found": sorted(
            redemption._base_manager.filter(pk__in=redemptions).values_list("pk", flat=True)
        ),
        "draws_named": sorted(draws),
        "draws_found": sorted(draw._base_manager.filter(pk__in=draws).values_list("pk", flat=True)),
        "redemptions": rows(redemption, "id", "status", "total_cents"),
        "notifications": rows(owner["cmtracker_notification"], "id", "status", "channel"),
    }


def main() -> None:
    """The tables to count come as JSON in MIGRATED_TABLES."""
    tables = json.loads(os.environ["MIGRATED_TABLES"])
    read = {
        "ledger_verify": command("ledger_verify"),
        "makemigrations": command("makemigrations", "--check", "--dry-run"),
        "orm": orm(tables),
    }
    sys.stdout.write("\n" + json.dumps(read) + "\n")
