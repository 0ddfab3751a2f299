"""`manage.py cm_simulate`: the published protocols reproduce their papers, and bad input is a
one-line error."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db

MANAGE = Path(__file__).resolve().parents[2] / "manage.py"


def simulate(*args: str) -> str:
    out = StringIO()
    call_command("cm_simulate", *args, stdout=out)
    return out.getvalue()


def simulate_json(protocol: str, outcomes: str) -> dict:
    return json.loads(simulate("--protocol", protocol, "--outcomes", outcomes, "--json"))


def test_higgins_pays_the_published_997_50_for_36_negatives():
    data = simulate_json("higgins-1994", "N" * 36)

    assert set(data) == {"protocol", "awards", "total_cents"}
    assert data["protocol"] == "higgins-1994"
    assert data["total_cents"] == 99750
    assert len(data["awards"]) == 36
    assert data["awards"][0] == {
        "n": 1,
        "outcome": "N",
        "voucher_cents": 250,
        "bonus_cents": 0,
        "draws": 0,
        "streak": 1,
        "next_cents": 375,
        "clipped_cents": 0,
    }
    assert data["awards"][2]["bonus_cents"] == 1000


def test_silverman_pays_the_published_1155_for_36_negatives():
    assert simulate_json("silverman-1996", "N" * 36)["total_cents"] == 115500


def test_a_positive_resets_and_five_negatives_restore_the_earlier_level():
    awards = simulate_json("higgins-1994", "NNNNNP NNNNN")["awards"]

    assert [a["voucher_cents"] for a in awards[:5]] == [250, 375, 500, 625, 750]
    assert awards[5]["outcome"] == "P"
    assert (awards[5]["voucher_cents"], awards[5]["streak"], awards[5]["next_cents"]) == (0, 0, 250)
    # The 5th negative after the reset pays the level reached before it, not $7.50.
    assert [a["voucher_cents"] for a in awards[6:]] == [250, 375, 500, 625, 875]
    assert awards[-1]["streak"] == 5
    assert awards[-1]["next_cents"] == 1000


def test_outcome_letters_ignore_case_and_whitespace():
    spaced = simulate_json("higgins-1994", " n n\tP ")
    assert [a["outcome"] for a in spaced["awards"]] == ["N", "N", "P"]


def test_a_prize_protocol_counts_draws_and_their_expected_value():
    data = simulate_json("va-prize", "NNN")

    assert [a["draws"] for a in data["awards"]] == [1, 2, 3]
    assert data["total_cents"] == 0
    # The standard bowl is worth $221.80 / 500 slips a draw; 6 draws ≈ $13.308.
    assert data["expected_cents"] == round(6 * 221.8) == 1331


def test_tests_past_the_protocols_last_week_earn_nothing_and_say_why():
    out = simulate("--protocol", "higgins-1994", "--outcomes", "N" * 37)

    assert "This is after the protocol's last week; it is recorded and earns nothing." in out
    assert "Total: $997.50" in out


def test_the_table_shows_dollars_and_the_total():
    out = simulate("--protocol", "higgins-1994", "--outcomes", "N" * 36)

    assert "$2.50" in out
    assert "$10.00" in out  # the bonus
    assert out.rstrip().endswith("Total: $997.50")
    # Three tests a week from the default start, a Monday: Mon, Wed, Fri.
    assert "2025-01-06" in out and "2025-01-08" in out and "2025-01-10" in out


def test_the_schedule_follows_the_phase_in_force():
    # CA RIP: twice a week in weeks 1-12, weekly from week 13.
    out = simulate(
        "--protocol", "ca-rip", "--outcomes", "N" * 26, "--start", "2025-03-03"
    ).splitlines()
    rows = [line.split() for line in out[2:-1]]

    assert [r[1] for r in rows[:2]] == ["2025-03-03", "2025-03-06"]  # Monday, Thursday
    assert [(r[1], r[2]) for r in rows[24:]] == [("2025-05-26", "13"), ("2025-06-02", "14")]


def test_an_unknown_protocol_is_named_with_the_known_ones():
    with pytest.raises(CommandError) as error:
        simulate("--protocol", "foo", "--outcomes", "N")

    assert str(error.value).startswith("unknown protocol 'foo'; known: ca-rip, higgins-1994")


def test_a_bad_outcome_letter_is_named_with_its_position():
    with pytest.raises(CommandError) as error:
        simulate("--protocol", "higgins-1994", "--outcomes", "NN X")

    assert str(error.value) == "unknown outcome letter 'X' at position 3; use N P M R A D E"


@pytest.mark.slow
def test_from_the_command_line_a_bad_letter_exits_non_zero_with_one_line(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    env.pop("CMTRACKER_PRODUCTION", None)

    def manage(*args):
        return subprocess.run(  # noqa: S603 - our own manage.py, fixed arguments
            [sys.executable, str(MANAGE), *args], env=env, capture_output=True, text=True
        )

    assert manage("migrate", "-v0").returncode == 0
    done = manage("cm_simulate", "--protocol", "higgins-1994", "--outcomes", "NNQ")

    assert done.returncode != 0
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "CommandError: unknown outcome letter 'Q' at position 3; use N P M R A D E"
    ]
