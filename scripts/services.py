"""Decide which database and broker `make test` uses by asking what answers on 127.0.0.1.

Prints shell lines for the Makefile to eval on stdout, and a short human summary on stderr:

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/cmtracker
    unset REDIS_URL

Without PostgreSQL the tests run on SQLite and the tests marked `postgres` skip; without Redis the
tests marked `redis` skip. Fine on a laptop, but under CI=true it is an error (exit 1): CI has both,
and quietly skipping would hide exactly what CI is there to check.
"""

import os
import shlex
import sys

POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/cmtracker"
# Probe the maintenance database: `cmtracker` need not exist, pytest-django creates test_cmtracker.
POSTGRES_PROBE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
TIMEOUT_SECONDS = 2


def postgres_problem() -> str | None:
    """None when PostgreSQL accepts a connection, else the reason it does not."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_PROBE_URL, connect_timeout=TIMEOUT_SECONDS):
            return None
    except Exception as exc:  # whatever went wrong, the server is not usable; say why
        return one_line(exc)


def redis_problem() -> str | None:
    """None when Redis answers PING, else the reason it does not."""
    try:
        import redis

        client = redis.Redis.from_url(
            REDIS_URL, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS
        )
        try:
            client.ping()
        finally:
            client.close()
        return None
    except Exception as exc:
        return one_line(exc)


def one_line(exc: Exception) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def export(name: str, value: str | None) -> None:
    # Always set or unset: a DATABASE_URL left in the caller's shell must not leak into the tests.
    print(f"export {name}={shlex.quote(value)}" if value else f"unset {name}")


def say(message: str) -> None:
    print(f"services: {message}", file=sys.stderr)


def main() -> int:
    missing = []

    problem = postgres_problem()
    if problem is None:
        export("DATABASE_URL", POSTGRES_URL)
        say("database  PostgreSQL at 127.0.0.1:5432 (test_cmtracker_* per run)")
    else:
        export("DATABASE_URL", None)
        say(f"database  SQLite; PostgreSQL not reachable ({problem})")
        say("          tests marked 'postgres' will be skipped")
        missing.append("PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth)")

    problem = redis_problem()
    if problem is None:
        export("REDIS_URL", REDIS_URL)
        say("broker    Redis at 127.0.0.1:6379")
    else:
        export("REDIS_URL", None)
        say(f"broker    Celery filesystem broker; Redis not reachable ({problem})")
        say("          tests marked 'redis' will be skipped")
        missing.append("Redis on 127.0.0.1:6379")

    if missing and os.environ.get("CI") == "true":
        say("CI=true, so a missing service is a failure, not a skip. Not reachable:")
        for service in missing:
            say(f"  - {service}")
        say("Start them first (.ci/run does) and run again.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
