"""Stock movements and corrections are append-only in the database itself, like the ledger and
the audit trail, and a wallet is never deleted: the triggers hold even for the tables' owner (only
TRUNCATE, which the app's role may not run, gets past them; tests/cmtracker/test_db_roles.py)."""

import pytest
from django.db import DatabaseError, connection, transaction

from patients.models import Correction
from rewards.models import StockMovement
from tests.append_only_rows import append_only_rows
from vouchers.models import Wallet


@pytest.fixture
def rows(enrollment, counselor):
    return append_only_rows(enrollment, counselor)


def raw(statement: str, pk: int) -> None:
    """Run SQL behind the ORM's back (table names come from the models, never from input)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [pk])


@pytest.mark.parametrize(
    ("model", "column", "message"),
    [
        (StockMovement, "quantity", "stock movements are append-only"),
        (Correction, "reason", "corrections are append-only"),
    ],
)
def test_the_database_refuses_to_change_a_stock_movement_or_a_correction(
    rows, model, column, message
):
    row = rows[model]
    table = model._meta.db_table
    value = 99 if column == "quantity" else "'rewritten'"
    with pytest.raises(DatabaseError, match=message):
        raw(f"UPDATE {table} SET {column} = {value} WHERE id = %s", row.pk)  # noqa: S608

    before = getattr(row, column)
    row.refresh_from_db()
    assert getattr(row, column) == before


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("model", "message"),
    [
        (StockMovement, "stock movements are append-only"),
        (Correction, "corrections are append-only"),
        (Wallet, "wallets are never deleted"),
    ],
)
def test_postgresql_refuses_to_delete_a_stock_movement_a_correction_or_a_wallet(
    rows, model, message
):
    row = rows[model]
    with pytest.raises(DatabaseError, match=message):
        raw(f"DELETE FROM {model._meta.db_table} WHERE id = %s", row.pk)  # noqa: S608

    assert model.objects.filter(pk=row.pk).exists()


def test_a_wallet_is_still_updated_with_every_entry(rows):
    wallet = rows[Wallet]
    Wallet.objects.filter(pk=wallet.pk).update(balance_cents=wallet.balance_cents + 1)

    wallet.refresh_from_db()
    assert wallet.balance_cents == 251
