"""The database itself refuses to change or remove a ledger entry.

PostgreSQL: a trigger rejects UPDATE and DELETE (TRUNCATE, used only by test teardown, is not a row
operation). SQLite: a trigger rejects UPDATE; DELETE is refused by the model and by PROTECT
foreign keys, and left possible at the SQL level so the test runner can empty the table.
"""

from django.db import migrations

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION vouchers_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER vouchers_ledgerentry_append_only
    BEFORE UPDATE OR DELETE ON vouchers_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION vouchers_ledger_append_only();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS vouchers_ledgerentry_append_only ON vouchers_ledgerentry;
DROP FUNCTION IF EXISTS vouchers_ledger_append_only();
"""
SQLITE_UP = """
CREATE TRIGGER vouchers_ledgerentry_append_only
BEFORE UPDATE ON vouchers_ledgerentry
BEGIN
    SELECT RAISE(ABORT, 'ledger entries are append-only');
END;
"""
SQLITE_DOWN = "DROP TRIGGER IF EXISTS vouchers_ledgerentry_append_only;"


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_UP)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_DOWN)


class Migration(migrations.Migration):
    dependencies = [("vouchers", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
