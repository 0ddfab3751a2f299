"""A database made by main before the redesign (issue 13), with the demo data, migrated by today's
code keeps every row: every balance, ledger entry, redemption and message is still there, reachable
through today's models, and the ledger still verifies.

The redesign moves models between apps by state-only migrations that keep their tables, so the
facts are read by SQL on table names, the same SQL that wrote them
(scripts/before_redesign_fixture.py, whose docstring says how the fixtures were made and how to
make them again). Each database is a copy of a fixture in tests/fixtures/, migrated once by
`manage.py migrate` in a process of its own pointed at it; then the checks run against it, on
SQLite always and on PostgreSQL (a scratch database loaded from the pg_dump) when there is one.
Nothing here reads the clock: the fixture was made at a pinned instant (recorded in its facts)
and the checks compare rows, never dates.
"""

import gzip
import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from psycopg import sql

from tests import ci_skips

BASE_DIR = Path(__file__).resolve().parent.parent
FIXTURES = BASE_DIR / "tests" / "fixtures"
# scripts/ is no package: the script is loaded by its path, so the facts are checked with the very
# SQL that wrote them.
_spec = importlib.util.spec_from_file_location(
    "before_redesign_fixture", BASE_DIR / "scripts" / "before_redesign_fixture.py"
)
fixture_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixture_script)

EXPECTED = json.loads((FIXTURES / fixture_script.FACTS_FIXTURE).read_text())
# Rows the new code may add to but must keep every one of: post_migrate makes the content types
# and permissions of any new model. A moved model's content type keeps its id (renamed, not made
# again), and so do its permissions and the groups that hold them.
KEPT = ("content_types", "permissions", "group_permissions")
# The append-only tables, and the message their trigger refuses a change with.
APPEND_ONLY = {
    "vouchers_ledgerentry": "ledger entries are append-only",
    "vouchers_stockmovement": "stock movements are append-only",
    "patients_correction": "corrections are append-only",
    "cmtracker_auditevent": "audit events are append-only",
}
READ = "from tests.migrated_reads import main; main()"
# psql meta-commands pg_dump writes around the dump (since 15.14); psycopg runs SQL only.
PSQL_ONLY = ("\\restrict ", "\\unrestrict ")

pytestmark = pytest.mark.slow


def manage(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`manage.py <args>` in a process of its own, on the database at `database_url`."""
    env = {**os.environ, "DATABASE_URL": database_url, **env}
    env.pop("REDIS_URL", None)  # nothing here queues a task: no broker to wait for
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@dataclass(frozen=True)
class Migrated:
    """A copy of a fixture after `manage.py migrate`, and what today's code read from it then."""

    vendor: str  # "sqlite" or "postgresql"
    database_url: str
    migrate: subprocess.CompletedProcess
    read: dict  # tests/migrated_reads.py's answer

    def connect(self):
        """A DB-API connection (sqlite3 or psycopg) and the vendor's name."""
        return fixture_script.connect(self.database_url)


def _migrate_and_read(vendor: str, url: str) -> Migrated:
    """Two processes, as an operator would run them: the migration, then today's code reading
    (ledger_verify, makemigrations --check and the ORM, in one process to keep this fast)."""
    migrate = manage(url, "migrate", "--noinput")
    assert migrate.returncode == 0, migrate.stderr
    tables = json.dumps(list(EXPECTED["table_rows"]))
    reading = manage(url, "shell", "-c", READ, MIGRATED_TABLES=tables)
    assert reading.returncode == 0, reading.stderr
    return Migrated(vendor, url, migrate, read=json.loads(reading.stdout.strip().splitlines()[-1]))


def _postgres_server() -> dict:
    """The server `make test` uses, as this run's settings name it; skips (fails under CI=true)
    without one, as the `postgres` marker does."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        why = "needs PostgreSQL (set DATABASE_URL=postgres://...; `make test` does when it answers)"
        if ci_skips.in_ci():
            pytest.fail(f"CI=true but {why}", pytrace=False)
        pytest.skip(why)
    return db


def _sqlite_copy(tmp: Path) -> str:
    path = tmp / "before_redesign.sqlite3"
    with gzip.open(FIXTURES / fixture_script.SQLITE_FIXTURE, "rb") as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return f"sqlite:///{path}"


def _server(db: dict) -> dict:
    return {
        "host": db["HOST"] or "127.0.0.1",
        "port": db["PORT"] or 5432,
        "user": db["USER"],
        "password": db["PASSWORD"] or None,
    }


def _postgres_copy(db: dict, name: str) -> str:
    """A scratch database `name` on the test server, loaded from the pg_dump fixture."""
    server = _server(db)
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with gzip.open(FIXTURES / fixture_script.POSTGRES_FIXTURE, "rt", encoding="utf-8") as dump:
        script = "".join(line for line in dump if not line.startswith(PSQL_ONLY))
    with psycopg.connect(dbname=name, autocommit=True, **server) as conn:
        conn.execute(script)  # no parameters: one simple query, every statement of the dump
    password = f":{quote(server['password'], safe='')}" if server["password"] else ""
    return f"postgres://{server['user']}{password}@{server['host']}:{server['port']}/{name}"


def _postgres_drop(db: dict, name: str) -> None:
    with psycopg.connect(dbname="postgres", autocommit=True, **_server(db)) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _migrated_copy(vendor: str, tmp_path_factory, drops: list) -> Migrated:
    if vendor == "sqlite":
        url = _sqlite_copy(tmp_path_factory.mktemp("before_redesign"))
    else:
        db = _postgres_server()
        # Unique per run and worker: parallel runs share the server.
        name = f"cm_before_redesign_{uuid.uuid4().hex[:12]}"
        drops.append(lambda: _postgres_drop(db, name))
        url = _postgres_copy(db, name)
    return _migrate_and_read(vendor, url)


@pytest.fixture(scope="session")
def before_redesign(tmp_path_factory):
    """Each vendor's migrated copy, made on first use and kept to the end of the session,
    whatever order the tests run in (pytest-randomly, xdist): a migration takes seconds. A
    scratch PostgreSQL database is dropped at the end."""
    made: dict[str, Migrated | Exception] = {}
    drops: list = []

    def migrated_copy(vendor: str) -> Migrated:
        if vendor not in made:
            try:
                made[vendor] = _migrated_copy(vendor, tmp_path_factory, drops)
            except Exception as error:  # a failed migration fails each test, run once
                made[vendor] = error
        if isinstance(made[vendor], Exception):
            raise made[vendor]
        return made[vendor]

    yield migrated_copy
    for drop in drops:
        drop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def migrated(request, before_redesign) -> Migrated:
    """The before-redesign database, copied and migrated by today's code."""
    return before_redesign(request.param)


def test_the_migrations_run_on_the_old_database(migrated):
    assert migrated.migrate.returncode == 0, migrated.migrate.stderr
    assert "Running migrations:" in migrated.migrate.stdout


def test_every_balance_entry_redemption_and_message_is_still_there(migrated):
    expected = {k: v for k, v in EXPECTED.items() if k != "made"}
    connection, vendor = migrated.connect()
    try:
        found = fixture_script.facts(connection, vendor, tables=list(expected["table_rows"]))
    finally:
        connection.close()
    for fact in KEPT:
        after = found.pop(fact)
        missing = [row for row in expected.pop(fact) if row not in after]
        assert missing == [], f"{fact}: rows lost by the migration"
    for fact, rows in expected.items():
        assert found[fact] == rows, f"{fact} differs after the migration"


def test_todays_models_read_every_row_and_every_balance(migrated):
    orm = migrated.read["orm"]
    assert orm["unowned"] == [], "tables no model owns any more"
    assert orm["counts"] == EXPECTED["table_rows"]
    # A moved model's content type is renamed, never made again: permissions, groups and admin
    # history point at it by id.
    before = {model: pk for pk, model in EXPECTED["content_types"]}
    assert {t: ct for t, (model, ct) in orm["content_types"].items() if model in before} == {
        t: before[model] for t, (model, _ct) in orm["content_types"].items() if model in before
    }
    assert orm["wallets"] == EXPECTED["wallets"]
    assert orm["ledger_ids"] == EXPECTED["ledger"]["ids"]
    assert orm["redemptions_found"] == orm["redemptions_named"] != []
    assert orm["draws_found"] == orm["draws_named"] != []
    assert orm["redemptions"] == [[r[0], r[2], r[3]] for r in EXPECTED["redemptions"]]
    assert orm["notifications"] == sorted([n[0], n[5], n[4]] for n in EXPECTED["notifications"])


def test_the_ledger_still_verifies(migrated):
    verified = migrated.read["ledger_verify"]
    assert verified["exit"] == 0, verified["stderr"]
    assert "Every wallet equals its ledger." in verified["stdout"]


def test_the_models_and_the_migrations_agree(migrated):
    check = migrated.read["makemigrations"]
    assert check["exit"] == 0, check["stdout"] + check["stderr"]


def test_the_append_only_triggers_still_refuse_a_change(migrated):
    """The migrations never rebuilt an append-only table (a rebuild on SQLite drops its trigger):
    an UPDATE is refused everywhere; on PostgreSQL a DELETE too, and the DELETE of a wallet."""
    connection, vendor = migrated.connect()
    if vendor == "sqlite":
        refused = sqlite3.DatabaseError
        guards = [("UPDATE", table, message) for table, message in APPEND_ONLY.items()]
    else:
        refused = psycopg.errors.RaiseException
        guards = [
            (action, table, message)
            for table, message in APPEND_ONLY.items()
            for action in ("UPDATE", "DELETE")
        ] + [("DELETE", "vouchers_wallet", "wallets are never deleted")]
    # Table names from APPEND_ONLY above, never from input.
    statements = {
        "UPDATE": "UPDATE {table} SET id = id WHERE id = (SELECT MIN(id) FROM {table})",
        "DELETE": "DELETE FROM {table} WHERE id = (SELECT MIN(id) FROM {table})",
    }
    try:
        for action, table, message in guards:
            with pytest.raises(refused, match=message):
                connection.execute(statements[action].format(table=table))
            connection.rollback()
    finally:
        connection.close()
