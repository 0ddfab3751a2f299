"""A balance read is one row, however long the ledger grows; the wallet always equals the ledger."""

from datetime import timedelta

from django.core.management import call_command

from tests.conftest import at
from vouchers import recording
from vouchers.selectors import ledger_verify, wallet_get


def _negatives(enrollment, counselor, count):
    clinic = enrollment.patient.clinic
    for n in range(count):
        recording.specimen_record(
            patient=enrollment.patient,
            collected_at=at(clinic, enrollment.start_date + timedelta(days=2 * n)),
            results={"cocaine": "negative"},
            recorded_by=counselor,
        )


def test_reading_a_balance_takes_one_query_for_a_short_or_long_ledger(
    enrollment, counselor, django_assert_num_queries
):
    _negatives(enrollment, counselor, 2)
    with django_assert_num_queries(1):
        short = wallet_get(patient=enrollment.patient).balance_cents
    _negatives_more = enrollment.specimens.count()
    clinic = enrollment.patient.clinic
    for n in range(_negatives_more, 30):
        recording.specimen_record(
            patient=enrollment.patient,
            collected_at=at(clinic, enrollment.start_date + timedelta(days=2 * n)),
            results={"cocaine": "negative"},
            recorded_by=counselor,
        )
    with django_assert_num_queries(1):
        long = wallet_get(patient=enrollment.patient).balance_cents
    assert long > short > 0


def test_a_patient_with_no_ledger_reads_a_zero_balance(patient, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert wallet_get(patient=patient).balance_cents == 0


def test_ledger_verify_finds_no_drift_after_real_work(enrollment, counselor, capsys):
    _negatives(enrollment, counselor, 5)
    assert ledger_verify() == []
    call_command("ledger_verify")
    assert "Every wallet equals its ledger." in capsys.readouterr().out


def test_ledger_verify_reports_a_wallet_that_drifted(enrollment, counselor):
    from vouchers.models import Wallet

    _negatives(enrollment, counselor, 2)
    Wallet.objects.filter(patient=enrollment.patient).update(balance_cents=1)
    drift = ledger_verify()
    assert [(d.field, d.wallet, d.ledger) for d in drift] == [("balance_cents", 1, 625)]
