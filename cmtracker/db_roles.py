"""The PostgreSQL role the app runs as: it reads and writes rows, and nothing more.

Migrations run as the tables' owner (docker-compose.yml's `migrate` service); web, worker and beat
connect as another role, made and granted here. An owner (or a superuser) can get past any trigger
— TRUNCATE, `ALTER TABLE ... DISABLE TRIGGER`, `SET session_replication_role = replica` — so the
append-only guarantees of the ledger, the audit trail, the stock ledger and the corrections hold
only for a role that owns nothing, is no superuser, and has no TRUNCATE or TRIGGER privilege.

What a guard trigger refuses (UPDATE, DELETE), the role is not granted either: the privileges are
read from the triggers themselves, so a new guard in a later migration is matched the next time
`manage.py db_app_role` runs (the migrate service runs it after every migration). Every trigger in
the schema is a guard: the project has no other kind.
"""

from dataclasses import dataclass

from django.db import connection, transaction
from psycopg import sql

ROW_RIGHTS = ("SELECT", "INSERT", "UPDATE", "DELETE")

# pg_trigger.tgtype bits (PostgreSQL's include/catalog/pg_trigger.h).
_TRIGGER_ON_DELETE = 1 << 3
_TRIGGER_ON_UPDATE = 1 << 4


class AppRoleRefused(Exception):
    """The named role cannot be the app's role (it is the owner, a superuser, or owns tables)."""


@dataclass(frozen=True)
class AppRoleGrants:
    role: str
    created: bool
    tables: int
    refused: dict[str, tuple[str, ...]]  # table -> the row rights a guard trigger keeps from it


def guarded_tables() -> dict[str, tuple[str, ...]]:
    """Each table of the current schema with a guard trigger, and what its triggers refuse."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, bit_or(t.tgtype::int)
            FROM pg_trigger t
            JOIN pg_class c ON c.oid = t.tgrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE NOT t.tgisinternal AND n.nspname = current_schema()
            GROUP BY c.relname
            ORDER BY c.relname
            """
        )
        rows = cursor.fetchall()
    refused = {}
    for table, events in rows:
        rights = tuple(
            right
            for right, bit in (("UPDATE", _TRIGGER_ON_UPDATE), ("DELETE", _TRIGGER_ON_DELETE))
            if events & bit
        )
        if rights:
            refused[table] = rights
    return refused


def _check_role_may_be_the_apps(cursor, role: str) -> bool:
    """True when the role exists already. Refuses the owner, a superuser, an owner of tables."""
    cursor.execute("SELECT current_user")
    if cursor.fetchone()[0] == role:
        raise AppRoleRefused(f"{role} runs the migrations; the app needs a role of its own")
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
    found = cursor.fetchone()
    if found is None:
        return False
    if found[0]:
        raise AppRoleRefused(f"{role} is a superuser; the app needs a role without privileges")
    cursor.execute(
        """
        SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND pg_get_userbyid(c.relowner) = %s
        """,
        [role],
    )
    if cursor.fetchone()[0]:
        raise AppRoleRefused(f"{role} owns tables here; the app must own none")
    return True


def app_role_grant(*, role: str, password: str) -> AppRoleGrants:
    """Make (or bring up to date) the app's login role and grant it exactly the row rights it
    needs on every table of the current schema, now and in later migrations. Run as the owner."""
    if connection.vendor != "postgresql":
        raise AppRoleRefused("database roles exist only on PostgreSQL")
    with transaction.atomic(), connection.cursor() as cursor:
        raw = connection.connection

        def run(statement: sql.Composable) -> None:
            cursor.execute(statement.as_string(raw))

        exists = _check_role_may_be_the_apps(cursor, role)
        cursor.execute("SELECT current_database(), current_schema(), current_user")
        database, schema, owner = cursor.fetchone()
        name, db, sch, own = (
            sql.Identifier(role),
            sql.Identifier(database),
            sql.Identifier(schema),
            sql.Identifier(owner),
        )
        attributes = sql.SQL(
            "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT"
        )
        verb = sql.SQL("ALTER ROLE" if exists else "CREATE ROLE")
        run(sql.SQL("{} {} {} PASSWORD {}").format(verb, name, attributes, sql.Literal(password)))
        run(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, name))
        run(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sch, name))
        # Tables are made by the owner only (before PostgreSQL 15 anyone could create in public).
        run(sql.SQL("REVOKE CREATE ON SCHEMA {} FROM PUBLIC").format(sch))
        # From nothing each time, so a right a new guard takes away is really gone.
        run(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(sch, name))
        rights = sql.SQL(", ".join(ROW_RIGHTS))
        run(sql.SQL("GRANT {} ON ALL TABLES IN SCHEMA {} TO {}").format(rights, sch, name))
        run(sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(sch, name))
        refused = guarded_tables()
        for table, kept_back in refused.items():
            run(
                sql.SQL("REVOKE {} ON {}.{} FROM {}").format(
                    sql.SQL(", ".join(kept_back)), sch, sql.Identifier(table), name
                )
            )
        # Tables and sequences that later migrations make are granted the row rights at once.
        for kind, granted in (("TABLES", rights), ("SEQUENCES", sql.SQL("USAGE, SELECT"))):
            run(
                sql.SQL(
                    "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT {} ON {} TO {}"
                ).format(own, sch, granted, sql.SQL(kind), name)
            )
        cursor.execute(
            """
            SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
            """
        )
        tables = cursor.fetchone()[0]
    return AppRoleGrants(role=role, created=not exists, tables=tables, refused=refused)
