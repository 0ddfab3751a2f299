"""`manage.py demo_data`: a believable clinic, recorded through the services, loaded once.

What the loaded clinic holds is checked in test_demo_program.py, on one shared load; here, what
depends on the day it is loaded, and the production guards."""

from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from cmtracker.models import Clinic, User
from rewards.management.commands.demo_data import PAST, ROSTER
from vouchers.views.record import today_boards

LAST_NAMES_TODAY = {d.last_name for d in ROSTER}

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # The demo hashes six passwords; the default hasher's deliberate slowness is not the point.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def demo_data(*args) -> str:
    out = StringIO()
    call_command("demo_data", *args, stdout=out)
    return out.getvalue()


LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def test_whatever_the_day_today_has_someone_due_and_someone_overdue(client):
    # A Sunday here; test_demo_program.py checks the board of its load, on a Tuesday.
    now = datetime(2026, 12, 6, 9, 0, tzinfo=LOS_ANGELES)
    with time_machine.travel(now, tick=False):
        demo_data()
        assert_todays_board(client, now)


def assert_todays_board(client, now):
    """Most patients are due today and Ana Castillo is overdue from her last test day (two days
    ago); nobody is seen yet, and nobody of the program's past is on the board."""
    client.force_login(User.objects.get(username="counselor1"))
    page = client.get("/today/").content.decode()
    (board,) = today_boards([Clinic.objects.get()], timezone.now())

    assert len(board.due) >= 5 and not board.seen
    (overdue,) = board.overdue
    assert overdue.patient.last_name == "Castillo"
    assert overdue.overdue_day == now.date() - timedelta(days=2)
    assert "Castillo" in page and f"{len(board.due)} due · 1 overdue · 0 seen" in page
    on_board = {row.patient.record_number for row in board.due + board.overdue}
    assert on_board <= {d.record_number for d in ROSTER}
    assert not any(p.last_name in page for p in PAST if p.last_name not in LAST_NAMES_TODAY)


def test_it_refuses_a_production_database_without_force(settings):
    settings.PRODUCTION = True

    with pytest.raises(CommandError, match="--force"):
        demo_data()

    assert not Clinic.objects.exists()


def test_the_demo_code_is_refused_in_production(settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="not in production"):
        call_command("demo_code", stdout=StringIO())
