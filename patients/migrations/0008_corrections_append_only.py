"""The database refuses to change or remove a correction: the history of a result is kept as
written. As for the ledger (vouchers/migrations/0002): PostgreSQL rejects UPDATE and DELETE,
SQLite rejects UPDATE (DELETE stays possible there so the test runner can empty the table; the
admin offers no delete). TRUNCATE is left to the tables' owner, never the app's role
(docs/security.md).
"""

from django.db import migrations

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION patients_correction_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'corrections are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER patients_correction_append_only
    BEFORE UPDATE OR DELETE ON patients_correction
    FOR EACH ROW EXECUTE FUNCTION patients_correction_append_only();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS patients_correction_append_only ON patients_correction;
DROP FUNCTION IF EXISTS patients_correction_append_only();
"""
SQLITE_UP = """
CREATE TRIGGER patients_correction_append_only
BEFORE UPDATE ON patients_correction
BEGIN
    SELECT RAISE(ABORT, 'corrections are append-only');
END;
"""
SQLITE_DOWN = "DROP TRIGGER IF EXISTS patients_correction_append_only;"


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
    dependencies = [("patients", "0007_bounded_text_and_record_numbers")]
    operations = [migrations.RunPython(forwards, backwards)]
