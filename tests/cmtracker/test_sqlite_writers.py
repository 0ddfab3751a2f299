"""The embedded SQLite set-up (`make run`) under concurrent writers: two requests that each read
then write wait their turn instead of one failing with "database is locked" (a 500 to the user).

The settings are read in a subprocess with no DATABASE_URL, as `make run` starts them, and used
on a throw-away database file of this test's own, whatever database the rest of the suite uses.
"""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import OperationalError
from django.db.backends.sqlite3.base import DatabaseWrapper

ROOT = Path(__file__).resolve().parents[2]


def embedded_options() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DJANGO_SETTINGS_MODULE"] = "cmtracker.settings"
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.DATABASES['default']['OPTIONS']))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def connect(path: Path, options: dict) -> DatabaseWrapper:
    settings = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": options,
        "ATOMIC_REQUESTS": False,
        "AUTOCOMMIT": True,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "TIME_ZONE": None,
        "USER": "",
        "PASSWORD": "",
        "HOST": "",
        "PORT": "",
        "TEST": {},
    }
    return DatabaseWrapper(settings, alias=f"writer-{threading.get_ident()}")


def two_read_then_write(path: Path, options: dict) -> list[BaseException | None]:
    """Two transactions, begun as Django's atomic() begins them, that each read the balance and
    then add to it. Each waits (up to a second) for the other to have read before writing: the
    interleaving of two form posts on one patient, when the database lets it happen."""
    has_read = [threading.Event(), threading.Event()]
    errors: list[BaseException | None] = [None, None]

    def writer(me: int) -> None:
        connection = connect(path, options)
        try:
            connection.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
            with connection.cursor() as cursor:
                cursor.execute("SELECT points FROM balance")
                (value,) = cursor.fetchone()
                has_read[me].set()
                has_read[1 - me].wait(1)
                cursor.execute("UPDATE balance SET points = %s", [value + 10])
            connection.commit()
        except BaseException as error:  # noqa: BLE001 - the test reports what each writer met
            errors[me] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return errors


@pytest.fixture
def balance_file(tmp_path: Path, django_db_blocker):
    """A database file of this test's own (pytest-django guards only the suite's database)."""
    django_db_blocker.unblock()
    path = tmp_path / "embedded.sqlite3"
    setup = connect(path, {})
    with setup.cursor() as cursor:
        cursor.execute("CREATE TABLE balance (points integer NOT NULL)")
        cursor.execute("INSERT INTO balance VALUES (0)")
    setup.close()
    yield path
    django_db_blocker.restore()


def points(path: Path) -> int:
    connection = connect(path, {})
    with connection.cursor() as cursor:
        cursor.execute("SELECT points FROM balance")
        (value,) = cursor.fetchone()
    connection.close()
    return value


def test_embedded_settings_take_the_write_lock_when_a_transaction_begins():
    options = embedded_options()
    assert options["transaction_mode"] == "IMMEDIATE"
    assert options["timeout"] >= 5


def test_two_concurrent_writers_on_the_embedded_settings_both_succeed(balance_file):
    errors = two_read_then_write(balance_file, embedded_options())
    assert errors == [None, None]
    assert points(balance_file) == 20  # neither write lost


def test_without_it_one_of_two_concurrent_writers_fails_at_once(balance_file):
    """The control: SQLite's default transactions, the 500s the scan found."""
    errors = two_read_then_write(balance_file, {"timeout": 20})
    failed = [e for e in errors if e is not None]
    assert len(failed) == 1
    assert isinstance(failed[0], OperationalError)
    assert "locked" in str(failed[0])
