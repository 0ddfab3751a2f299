"""The app's PostgreSQL role reads and writes rows and nothing more: as it, TRUNCATE, disabling a
trigger and turning triggers off for the session all fail, and so do UPDATE and DELETE where a
guard trigger refuses them, while the app's own writes work. (The tables' owner can get past any
trigger; that is why the app never runs as the owner: docker-compose.yml, docs/security.md.)"""

import uuid

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from psycopg import sql

from cmtracker.db_roles import AppRoleRefused, app_role_grant
from cmtracker.models import AuditEvent
from patients.models import Correction
from rewards.models import StockMovement
from tests.append_only_rows import append_only_rows
from vouchers.models import LedgerEntry, Wallet

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

APPEND_ONLY = (LedgerEntry, StockMovement, Correction, AuditEvent)


@pytest.fixture
def app_role(transactional_db):
    """A login role made by `app_role_grant` as the owner, named uniquely for this run (roles
    belong to the whole server), dropped afterwards."""
    role, password = f"cm_app_{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    grants = app_role_grant(role=role, password=password)
    yield role, password, grants
    with connection.cursor() as cursor:
        cursor.execute(f'DROP OWNED BY "{role}"')
        cursor.execute(f'DROP ROLE "{role}"')


@pytest.fixture
def rows(transactional_db, enrollment, counselor):
    made = append_only_rows(enrollment, counselor)
    made[AuditEvent] = AuditEvent.objects.first()
    assert all(made.values())
    return made


@pytest.fixture
def as_app(app_role):
    """A connection of the app's role to the test database, outside any transaction."""
    role, password, _ = app_role
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        dbname=db["NAME"],
        user=role,
        password=password,
        autocommit=True,
    ) as conn:
        yield conn


def refused(conn, statement, params=()) -> str:
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as denied:
        conn.execute(statement, params)
    return str(denied.value)


def on(model, template: str, **parts) -> sql.Composed:
    """`template` with {table} the model's table (and any other parts), quoted by psycopg."""
    return sql.SQL(template).format(table=sql.Identifier(model._meta.db_table), **parts)


def test_the_app_role_cannot_truncate_disable_a_trigger_or_turn_triggers_off(rows, as_app):
    assert "session_replication_role" in refused(as_app, "SET session_replication_role = replica")
    for model in (*APPEND_ONLY, Wallet):
        refused(as_app, on(model, "TRUNCATE {table}"))
        refused(as_app, on(model, "ALTER TABLE {table} DISABLE TRIGGER ALL"))

    assert all(model.objects.filter(pk=rows[model].pk).exists() for model in rows)


def test_the_app_role_cannot_update_or_delete_append_only_rows(rows, as_app):
    for model in APPEND_ONLY:
        pk = rows[model].pk
        refused(as_app, on(model, "UPDATE {table} SET id = id WHERE id = %s"), [pk])
        refused(as_app, on(model, "DELETE FROM {table} WHERE id = %s"), [pk])
    refused(as_app, on(Wallet, "DELETE FROM {table} WHERE id = %s"), [rows[Wallet].pk])

    assert all(model.objects.filter(pk=rows[model].pk).exists() for model in rows)


def test_the_app_role_writes_what_the_app_writes(rows, as_app):
    # A copy of each append-only row (a new idempotency key where there is one), as the app
    # would insert it.
    for model in APPEND_ONLY:
        columns = [
            f.column
            for f in model._meta.concrete_fields
            if not f.primary_key and f.column != "idempotency_key"
        ]
        listed = sql.SQL(", ").join(map(sql.Identifier, columns))
        before = model.objects.count()
        as_app.execute(
            on(
                model,
                "INSERT INTO {table} ({listed}) SELECT {listed} FROM {table} WHERE id = %s",
                listed=listed,
            ),
            [rows[model].pk],
        )
        assert model.objects.count() == before + 1, model
    wallet = rows[Wallet]
    as_app.execute(
        on(Wallet, "UPDATE {table} SET balance_cents = balance_cents + 1 WHERE id = %s"),
        [wallet.pk],
    )
    wallet.refresh_from_db()
    assert wallet.balance_cents == 251
    assert as_app.execute("SELECT count(*) FROM django_session").fetchone() == (0,)
    as_app.execute("DELETE FROM django_session")


def test_the_role_is_refused_what_each_guard_trigger_refuses(app_role):
    *_, grants = app_role
    assert grants.refused == {
        "cmtracker_auditevent": ("UPDATE", "DELETE"),
        "patients_correction": ("UPDATE", "DELETE"),
        "vouchers_ledgerentry": ("UPDATE", "DELETE"),
        "vouchers_stockmovement": ("UPDATE", "DELETE"),
        "vouchers_wallet": ("DELETE",),
    }
    assert grants.created
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles "
            "WHERE rolname = %s",
            [grants.role],
        )
        assert cursor.fetchone() == (False, False, False, False)


def test_tables_of_later_migrations_are_granted_to_the_role(app_role, as_app):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE later_migration (id bigserial PRIMARY KEY, note text)")
    try:
        as_app.execute("INSERT INTO later_migration (note) VALUES ('new')")
        as_app.execute("UPDATE later_migration SET note = 'changed'")
        refused(as_app, "TRUNCATE later_migration")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE later_migration")


def test_running_it_again_brings_the_role_up_to_date(app_role):
    role, _, _ = app_role
    again = app_role_grant(role=role, password="a-new-password")

    assert not again.created
    assert again.refused["vouchers_wallet"] == ("DELETE",)


def test_the_owner_or_a_superuser_cannot_be_made_the_app_role(transactional_db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        owner = cursor.fetchone()[0]
    with pytest.raises(AppRoleRefused, match="runs the migrations"):
        app_role_grant(role=owner, password="x")


def test_the_command_needs_the_apps_url(settings, transactional_db):
    settings.APP_DATABASE_URL = ""
    with pytest.raises(CommandError, match="APP_DATABASE_URL"):
        call_command("db_app_role")
    settings.APP_DATABASE_URL = "postgres://someone:secret@db:5432/another_database"
    with pytest.raises(CommandError, match="another_database"):
        call_command("db_app_role")
