"""The database refuses to change or remove a stock movement, and to remove a wallet.

Stock movements are the stock ledger (an item's stock is the sum of its movements): like the
points ledger (0002), PostgreSQL rejects UPDATE and DELETE, SQLite rejects UPDATE (DELETE stays
possible there so the test runner can empty the table; the model refuses it). A wallet is updated
with every entry but never deleted: a wallet made again would start from nothing while the ledger
says otherwise, so PostgreSQL rejects DELETE of a wallet. TRUNCATE is not a row operation: only
the tables' owner may truncate (test teardown does), never the app's role (docs/security.md).
"""

from django.db import migrations

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION vouchers_stock_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'stock movements are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER vouchers_stockmovement_append_only
    BEFORE UPDATE OR DELETE ON vouchers_stockmovement
    FOR EACH ROW EXECUTE FUNCTION vouchers_stock_append_only();
CREATE OR REPLACE FUNCTION vouchers_wallet_kept() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'wallets are never deleted';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER vouchers_wallet_kept
    BEFORE DELETE ON vouchers_wallet
    FOR EACH ROW EXECUTE FUNCTION vouchers_wallet_kept();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS vouchers_stockmovement_append_only ON vouchers_stockmovement;
DROP FUNCTION IF EXISTS vouchers_stock_append_only();
DROP TRIGGER IF EXISTS vouchers_wallet_kept ON vouchers_wallet;
DROP FUNCTION IF EXISTS vouchers_wallet_kept();
"""
SQLITE_UP = """
CREATE TRIGGER vouchers_stockmovement_append_only
BEFORE UPDATE ON vouchers_stockmovement
BEGIN
    SELECT RAISE(ABORT, 'stock movements are append-only');
END;
"""
SQLITE_DOWN = "DROP TRIGGER IF EXISTS vouchers_stockmovement_append_only;"


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
    dependencies = [("vouchers", "0008_lab_import_uploads_and_jobs")]
    operations = [migrations.RunPython(forwards, backwards)]
