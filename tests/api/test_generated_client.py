"""An EHR vendor's view of the API: a Python client generated from /api/schema/ by a standard
generator (openapi-python-client), used unpatched against a running server.

The generator fails on any warning; the generated package must import; and through it a counselor
gets a token and records a result, and the patient reads their balance and asks for a reward, each
answer what the person would see. A schema that offered forms for nested bodies, or an operation
the generator cannot express, breaks this test, not a vendor's integration.
"""

import importlib
import subprocess
import sys
from datetime import UTC, date, datetime

import httpx
import pytest
import time_machine

from rewards.models import CatalogItem
from tests.conftest import at, second_factor_code
from tests.factories import EnrollmentFactory, preset_protocol

pytestmark = [
    pytest.mark.slow,
    # The live server answers from another thread, so the data must be committed.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PASSWORD = "a long test password"  # the test users' (tests/factories.py)
# A Wednesday in the enrollment's first week; the clock ticks on from here.
NOW = datetime(2026, 1, 7, 18, 0, tzinfo=UTC)


def generate_client(schema_url: str, folder) -> object:
    """Fetch the schema as a vendor would, generate the package `cmtracker_client`, import it."""
    schema = httpx.get(schema_url, headers={"Accept": "application/vnd.oai.openapi+json"})
    assert schema.status_code == 200
    (folder / "schema.json").write_bytes(schema.content)
    # No post hooks: the generator would otherwise look for ruff on PATH to format its output.
    (folder / "config.yaml").write_text("post_hooks: []\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path=schema.json",
            "--output-path=cmtracker_client",
            "--meta=none",
            "--config=config.yaml",
            "--fail-on-warning",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(folder))
    return importlib.import_module("cmtracker_client")


@pytest.fixture
def generated(live_server, tmp_path):
    try:
        yield generate_client(f"{live_server.url}/api/schema/", tmp_path)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.split(".")[0] == "cmtracker_client"]:
            del sys.modules[name]


def operation(name: str):
    return importlib.import_module(f"cmtracker_client.api.v1.{name}")


def model(name: str):
    return getattr(importlib.import_module("cmtracker_client.models"), name)


def signed_in(generated, base_url: str, username: str, **otp):
    """The generated token operation, then a client that sends the token."""
    answer = operation("v1_auth_token_create").sync_detailed(
        client=generated.Client(base_url=base_url),
        body=model("TokenRequestRequest")(username=username, password=PASSWORD, **otp),
    )
    assert answer.status_code == 200, answer.content
    return generated.AuthenticatedClient(
        base_url=base_url, token=answer.parsed.token, prefix="Token"
    )


def test_a_generated_client_records_a_result_reads_the_balance_and_asks_for_a_reward(
    generated, live_server, clinic, patient, patient_user, counselor
):
    with time_machine.travel(NOW, tick=True):
        EnrollmentFactory(
            patient=patient, protocol=preset_protocol("higgins-1994"), start_date=date(2026, 1, 5)
        )
        bus_pass = CatalogItem.objects.create(
            clinic=clinic, name="Bus pass", price_cents=100, stock=2
        )
        front_desk = signed_in(
            generated, live_server.url, "casey", otp=second_factor_code(counselor)
        )

        recorded = operation("v1_specimens_create").sync_detailed(
            client=front_desk,
            body=model("SpecimenRecordRequest")(
                patient=patient.pk,
                collected_at=at(clinic, date(2026, 1, 7), hour=9),
                results=model("SpecimenRecordRequestResults").from_dict({"cocaine": "negative"}),
                idempotency_key="lab-2026-01-07-1",
            ),
        )

        assert recorded.status_code == 201, recorded.content
        assert recorded.headers["Content-Type"] == "application/json"
        # Higgins 1994: the first negative earns $2.50; the next one $3.75.
        assert (recorded.parsed.voucher_cents, recorded.parsed.balance_cents) == (250, 250)
        assert recorded.parsed.next_negative_cents == 375
        assert recorded.parsed.specimen.results.to_dict() == {"cocaine": "negative"}

        own_phone = signed_in(generated, live_server.url, "pat")
        balance = operation("v1_patients_balance_retrieve").sync(id=patient.pk, client=own_phone)

        assert (balance.balance_cents, balance.streak, balance.next_negative_cents) == (
            250,
            1,
            375,
        )

        asked = operation("v1_redemptions_create").sync_detailed(
            client=own_phone,
            body=model("RedemptionRequestRequest")(
                items=[model("WantedItemRequest")(item=bus_pass.pk, quantity=1)]
            ),
        )

        assert asked.status_code == 201, asked.content
        assert asked.parsed.total_cents == 100
        assert [(line.name, line.quantity) for line in asked.parsed.lines] == [("Bus pass", 1)]
        after = operation("v1_patients_balance_retrieve").sync(id=patient.pk, client=own_phone)
        assert (after.balance_cents, after.held_cents) == (150, 100)
