"""The database of main before the redesign (issue 13), kept so a test can migrate it.

The redesign moves models between apps (Notification to `messaging`; the catalog, stock,
redemptions and prize draws to `rewards`) and turns a few foreign keys into plain ids, all by
state-only migrations that keep every table and column. The proof that no row is lost is a real
database made by the old code, migrated by the new: tests/test_migrate_keeps_every_row.py
migrates these fixtures and checks the facts written here beside them.

    python scripts/before_redesign_fixture.py make [--out tests/fixtures]
    python scripts/before_redesign_fixture.py facts DATABASE_URL

`make` builds, with the clock pinned to PINNED_AT (a Thursday, 11:00 at the demo clinic; any day
would do, this one is the one recorded), on SQLite and on a scratch PostgreSQL database:
`migrate`, `demo_data`, and then a little of what the demo leaves out, through the app's own
services: a test reminder per patient due today, sent; redemptions handed over, declined,
cancelled and waiting, one of them nearly all a patient has, whose last negative is then corrected
to positive (an overpayment); prize draws and one prize claimed; a stock write-off; a staff
adjustment. It writes
    before_redesign.sqlite3.gz   the SQLite database file
    before_redesign.pg.sql.gz    `pg_dump --no-owner --no-privileges --inserts` of the PostgreSQL
                                 one (plain INSERTs: the test loads it with psycopg, no psql)
    before_redesign.json         the facts of the SQLite database (the PostgreSQL one must match)
and drops its scratch PostgreSQL database. `facts` prints the facts of any database as JSON.

The facts are read by SQL on table names, which the redesign keeps (Django names may move): each
wallet, the ledger (count, sums and a checksum of every row), redemptions, their lines, prize
draws, stock movements, catalog items, notifications, corrections, the audit trail, the row count
of every table of the three apps, and the content types and permissions (by id: a moved model
keeps its content type, renamed, so permissions and admin history follow it).

The fixtures were made from main at f119555, before the redesign; `make` needs that code (its
imports are the old ones) and runs it with this checkout's virtualenv. To remake them, from this
checkout (a second run gives the same facts; the files differ only in what is random by design,
such as password salts and pg_dump's key):
    here=$PWD; before=$(mktemp -d)
    git archive f119555 | tar -x -C "$before"
    cp scripts/before_redesign_fixture.py "$before/scripts/"
    (cd "$before" && "$here/.venv/bin/python" scripts/before_redesign_fixture.py make \
        --out "$here/tests/fixtures")
    rm -rf "$before"
PostgreSQL is the one `make test` uses (scripts/services.py: postgres@127.0.0.1:5432), with
createdb, dropdb and pg_dump on the PATH.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

BASE_DIR = Path(__file__).resolve().parent.parent
FIXTURES = BASE_DIR / "tests" / "fixtures"
SQLITE_FIXTURE = "before_redesign.sqlite3.gz"
POSTGRES_FIXTURE = "before_redesign.pg.sql.gz"
FACTS_FIXTURE = "before_redesign.json"
# The demo's clinic is in Los Angeles: a Thursday morning there, a test day for most patients.
PINNED_AT = "2026-11-19T11:00:00-08:00"
POSTGRES_SERVER = "postgres://postgres@127.0.0.1:5432"
SEED = 13
MADE_FROM = "main at f119555, before the redesign"

# Each query's rows, sorted, are a fact. Only tables and columns the redesign keeps.
ROWS = {
    "wallets": (
        "SELECT patient_id, balance_cents, overpayment_cents, draws_available, draws_under_review "
        "FROM vouchers_wallet"
    ),
    "redemptions": (
        "SELECT id, patient_id, status, total_cents, idempotency_key FROM vouchers_redemption"
    ),
    "redemption_lines": (
        "SELECT id, redemption_id, item_id, quantity, price_cents FROM vouchers_redemptionline"
    ),
    "prize_draws": (
        "SELECT id, patient_id, enrollment_id, tier, value_cents, capped, claimed_item_id "
        "FROM vouchers_prizedraw"
    ),
    "stock_movements": (
        "SELECT id, item_id, kind, quantity, redemption_id, prize_draw_id "
        "FROM vouchers_stockmovement"
    ),
    "catalog_items": (
        "SELECT id, clinic_id, name, price_cents, stock, prize_tier, is_active "
        "FROM vouchers_catalogitem"
    ),
    "notifications": (
        "SELECT id, patient_id, user_id, kind, channel, status, dedupe_key "
        "FROM cmtracker_notification"
    ),
    "corrections": "SELECT id, specimen_id, attendance_id FROM patients_correction",
    "enrollments": "SELECT id, patient_id, protocol_id, status FROM patients_enrollment",
    # By id and model name: a moved model's row keeps its id and model, only app_label changes.
    "content_types": "SELECT id, model FROM django_content_type",
    "permissions": "SELECT id, content_type_id, codename FROM auth_permission",
    "group_permissions": "SELECT group_id, permission_id FROM auth_group_permissions",
}
LEDGER_COLUMNS = (
    "id, patient_id, enrollment_id, kind, component, amount_cents, overpayment_cents, draws, "
    "draws_under_review, specimen_id, attendance_id, redemption_id, prize_draw_id, event_year, "
    "idempotency_key"
)
LEDGER_SUMS = (
    "SELECT COUNT(*), SUM(amount_cents), SUM(overpayment_cents), SUM(draws), "
    "SUM(draws_under_review) FROM vouchers_ledgerentry"
)
AUDIT = "SELECT COUNT(*), MAX(id) FROM cmtracker_auditevent"
# The apps' tables as they are before the redesign; new apps keep these tables.
APP_TABLE_PREFIXES = ("cmtracker_", "patients_", "vouchers_")


def _plain(value):
    """One value as JSON keeps it, the same from SQLite and PostgreSQL (sums are Decimal there,
    booleans 0/1 here)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return int(value)
    return value


def _order(row: list) -> list:
    """Rows in the order of their columns' values, NULL last (a None never meets a number)."""
    return [(value is None, value) for value in row]


def _rows(cursor, sql: str) -> list[list]:
    cursor.execute(sql)
    return sorted(([_plain(v) for v in row] for row in cursor.fetchall()), key=_order)


def _tables(cursor, vendor: str) -> list[str]:
    if vendor == "sqlite":
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return sorted(name for (name,) in cursor.fetchall() if name.startswith(APP_TABLE_PREFIXES))


def facts(connection, vendor: str, tables: list[str] | None = None) -> dict:
    """The facts of an open DB-API connection (sqlite3 or psycopg): `vendor` is "sqlite" or
    "postgresql". `tables`: whose rows to count (default: the apps' tables the database has)."""
    cursor = connection.cursor()
    found = {name: _rows(cursor, sql) for name, sql in ROWS.items()}
    ledger = _rows(cursor, f"SELECT {LEDGER_COLUMNS} FROM vouchers_ledgerentry")  # noqa: S608
    count, amount, overpayment, draws, under_review = _rows(cursor, LEDGER_SUMS)[0]
    audit_count, audit_last = _rows(cursor, AUDIT)[0]
    counts = {}
    for table in tables if tables is not None else _tables(cursor, vendor):
        cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 - names from the catalog
        counts[table] = cursor.fetchone()[0]
    return {
        "ledger": {
            "count": count,
            "amount_cents": amount,
            "overpayment_cents": overpayment,
            "draws": draws,
            "draws_under_review": under_review,
            # Every row, every column the redesign keeps: a lost or changed entry changes this.
            "checksum": hashlib.sha256(json.dumps(ledger).encode()).hexdigest(),
            "ids": [row[0] for row in ledger],
        },
        **found,
        "audit_events": {"count": audit_count, "last_id": audit_last},
        "table_rows": counts,
    }


def connect(database_url: str):
    """A DB-API connection and its vendor for sqlite:///path or postgres://..."""
    url = urlsplit(database_url)
    if url.scheme == "sqlite":
        return sqlite3.connect(url.path), "sqlite"
    return psycopg.connect(database_url), "postgresql"


def facts_of(database_url: str, tables: list[str] | None = None) -> dict:
    connection, vendor = connect(database_url)
    try:
        return facts(connection, vendor, tables)
    finally:
        connection.close()


# --- make (needs the code from before the redesign) ----------------------------------------------


def load() -> None:
    """In a process whose DATABASE_URL is the new database: migrate, the demo, the extras."""
    import django
    import time_machine

    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmtracker.settings")
    django.setup()
    from django.core.management import call_command

    with time_machine.travel(datetime.fromisoformat(PINNED_AT), tick=False):
        call_command("migrate", verbosity=0)
        call_command("demo_data", stdout=io.StringIO())
        extras()


def extras() -> None:
    """What the demo leaves out, so every table the redesign moves has rows: through services."""
    from django.utils import timezone

    from cmtracker.models import User
    from patients.models import Patient, Specimen
    from vouchers import prizes, redemptions, reminders, services
    from vouchers.models import CatalogItem, PrizeDraw, Wallet

    now = timezone.now()
    counselor = User.objects.get(username="counselor1")
    admin = User.objects.get(username="admin")
    reminders.reminders_queue(now=now)

    richest = [
        w.patient
        for w in Wallet.objects.select_related("patient").order_by("-balance_cents", "pk")[:4]
    ]
    card = CatalogItem.objects.get(name="Grocery gift card $10")
    made = [
        redemptions.redemption_request(
            patient=patient,
            items=[(card, 1)],
            requested_by=counselor,
            idempotency_key=f"before:{n}",
        )
        for n, patient in enumerate(richest)
    ]
    handed, declined, cancelled, _waiting = made
    redemptions.redemption_approve(redemption=handed, actor=counselor)
    redemptions.redemption_handover(redemption=handed, actor=counselor)
    redemptions.redemption_decline(
        redemption=declined, actor=counselor, reason="Not before the next group session."
    )
    redemptions.redemption_cancel(redemption=cancelled, actor=counselor)

    rng = random.Random(SEED)  # noqa: S311 - a fixed fixture, not a real draw
    drawers = Patient.objects.filter(wallet__draws_available__gt=0).order_by("pk")
    for n, patient in enumerate(drawers):
        prizes.draws_run(
            patient=patient,
            count=min(3, patient.wallet.draws_available),
            drawn_by=counselor,
            rng=rng,
            idempotency_key=f"before:draws:{n}",
        )
    won = PrizeDraw.objects.exclude(tier="good job").order_by("pk").first()
    if won is not None:
        item = CatalogItem.objects.filter(prize_tier=won.tier).first()
        if item is not None:
            prizes.prize_claim(draw=won, item=item, claimed_by=counselor)

    # A patient who spent nearly everything, then a negative corrected to positive: the reversal
    # takes what is left and the rest is an overpayment.
    spender = Wallet.objects.select_related("patient").get(balance_cents=4125).patient
    redemptions.redemption_request(
        patient=spender, items=[(card, 4)], requested_by=counselor, idempotency_key="before:4"
    )
    last_negative = (
        Specimen.objects.filter(enrollment__patient=spender, outcome=Specimen.Outcome.NEGATIVE)
        .order_by("-collected_at")
        .first()
    )
    services.specimen_correct(
        specimen=last_negative,
        changed_by=counselor,
        reason="The lab's confirmation came back positive.",
        results={"cocaine": "positive"},
    )

    hat = CatalogItem.objects.get(name="Winter hat and gloves")
    redemptions.stock_adjust(item=hat, quantity=-1, reason="Torn in the cabinet.", actor=admin)
    services.ledger_adjust(
        patient=richest[-1],
        amount_cents=250,
        reason="Bus fare to the lab, agreed with the clinic.",
        actor=admin,
        idempotency_key="before:adjust",
    )


def _run_load(database_url: str) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        # Messages are sent inline to memory: no broker, no console noise.
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "SMS_BACKEND": "cmtracker.sms.LocmemSmsBackend",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "FAST_PASSWORD_HASHER": "true",
    }
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, __file__, "load"], check=True, env=env, cwd=BASE_DIR)  # noqa: S603


def make(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "before.sqlite3"
        _run_load(f"sqlite:///{path}")
        found = facts_of(f"sqlite:///{path}")
        with open(path, "rb") as src, gzip.GzipFile(out / SQLITE_FIXTURE, "wb", mtime=0) as dst:
            shutil.copyfileobj(src, dst)

    name = f"cm_before_{uuid.uuid4().hex[:8]}"
    server = urlsplit(POSTGRES_SERVER)
    pg = ["-h", server.hostname, "-p", str(server.port), "-U", server.username]
    subprocess.run(["createdb", *pg, name], check=True)  # noqa: S603, S607
    try:
        _run_load(f"{POSTGRES_SERVER}/{name}")
        on_postgres = facts_of(f"{POSTGRES_SERVER}/{name}", tables=list(found["table_rows"]))
        if on_postgres != found:
            differ = [k for k in found if found[k] != on_postgres.get(k)]
            raise SystemExit(f"PostgreSQL and SQLite databases differ in {differ}")
        dump = subprocess.run(  # noqa: S603
            ["pg_dump", *pg, "--no-owner", "--no-privileges", "--inserts", name],  # noqa: S607
            check=True,
            capture_output=True,
        ).stdout
        with gzip.GzipFile(out / POSTGRES_FIXTURE, "wb", mtime=0) as dst:
            dst.write(dump)
    finally:
        subprocess.run(["dropdb", *pg, "--if-exists", name], check=True)  # noqa: S603, S607

    found = {"made": {"at": PINNED_AT, "from": MADE_FROM}, **found}
    (out / FACTS_FIXTURE).write_text(facts_json(found))


def facts_json(found: dict) -> str:
    """A list of rows one row a line, the rest one fact a line: a lost row shows in a diff."""
    parts = []
    for key, value in found.items():
        if isinstance(value, list):
            rows = ",\n".join(f"  {json.dumps(row)}" for row in value)
            parts.append(f" {json.dumps(key)}: [\n{rows}\n ]")
        else:
            parts.append(f" {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("make", help="build the fixtures and their facts")
    made.add_argument("--out", type=Path, default=FIXTURES)
    commands.add_parser("load", help="(internal) fill the DATABASE_URL database")
    shown = commands.add_parser("facts", help="print the facts of a database")
    shown.add_argument("database_url")
    args = parser.parse_args()
    if args.command == "make":
        make(args.out)
    elif args.command == "load":
        load()
    else:
        sys.stdout.write(facts_json(facts_of(args.database_url)))


if __name__ == "__main__":
    main()
