"""Benchmark: a test day's reminders for 100,000 enrollments, queued and sent, on each broker.

In one run, on a throw-away PostgreSQL database (created, migrated, seeded and dropped here):
100,000 patients on Higgins 1994, each two weeks into the protocol (six results so far), all due
for a test-day reminder by SMS, one in four by email too. Then, for the embedded (filesystem)
broker in a temporary folder and for a private redis-server on a free port, the outbox emptied
before each:

1. queue: `reminders_queue(now=...)` in a subprocess whose settings choose that broker (they
   read REDIS_URL at import); it writes the outbox rows and, after each chunk's commit, publishes
   the send tasks. The messages waiting in the broker are counted before any worker starts.
2. send: one real Celery worker (solo pool, locmem SMS and email backends) until every row is
   `sent`, polling the database.

It prints a Markdown table and writes it into docs/performance.md. Try a small run first:

    .venv/bin/python scripts/bench_reminders.py --enrollments 2000
    .venv/bin/python scripts/bench_reminders.py
"""

import argparse
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATABASE = "cmtracker_bench_reminders"
QUEUE = "celery"  # the default queue, on a broker of our own
BROKERS = ("embedded", "redis")
# Backends that keep messages in the worker's memory instead of printing 100,000 of them.
SMS_BACKEND = "messaging.sms.LocmemSmsBackend"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# US zones, west-most last: the clinics are the first four where midnight is 3 hours away or more,
# so no reminder expires at the end of the clinic's day while the benchmark runs.
ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
]
CLINICS = 4
EMAIL_EVERY = 4  # one patient in four also consents to email reminders
SPANISH_EVERY = 5
SEED_CHUNK = 5000
SEND_TIMEOUT = 60 * 60
SECTION = "## Reminders: 100,000 enrollments, embedded vs Redis broker"
DOCS = ROOT / "docs" / "performance.md"
# The measured block, replaced by every run; the prose around it is written by hand.
BEGIN = "<!-- bench_reminders.py: begin -->"
END = "<!-- bench_reminders.py: end -->"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enrollments", type=int, default=100_000)
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--no-docs", action="store_true", help="print the table only")
    parser.add_argument("--phase", choices=["queue"], help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "queue":
        queue_phase(datetime.fromisoformat(args.now))
    else:
        run(args)


# --- the run (parent process) --------------------------------------------------------------------


def run(args) -> None:
    started = time.perf_counter()
    # A SIGTERM (or a Ctrl-C) still stops the worker and redis-server and drops the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.environ.update(base_env(args.server))
    os.environ.pop("REDIS_URL", None)
    folder = Path(tempfile.mkdtemp(prefix="bench-reminders-"))
    os.environ["CELERY_FILESYSTEM_DIR"] = str(folder / "parent")  # never used: no task is sent

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    database_create(args.server)
    try:
        call_command("migrate", verbosity=0)
        now = timezone.now().replace(microsecond=0)
        zones = clinic_zones(now)
        expected = seed(args.enrollments, now, zones)
        database_settle(vacuum=True)
        print(f"Seeded {args.enrollments:,} enrollments in {', '.join(zones)}; {expected:,} "
              f"messages due at {now.isoformat()}.", flush=True)  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            postgres = cursor.fetchone()[0].split()[0]
        results = []
        for broker in BROKERS:
            outbox_empty()
            with broker_env(broker, folder) as (env, waiting):
                results.append(measure(broker, env, waiting, now, expected, folder))
    finally:
        connection.close()
        database_drop(args.server)
        shutil.rmtree(folder, ignore_errors=True)
    wall = time.perf_counter() - started
    machine = {
        "cores": os.cpu_count(),
        "postgres": postgres,
        "redis": redis_version(),
        "python": platform.python_version(),
    }
    table = render(results, args.enrollments, expected, wall, machine)
    print()
    print(table)
    if not args.no_docs:
        docs_write(table, args.enrollments)
        print(f"\nWritten to {DOCS.relative_to(ROOT)}.")


def base_env(server: str) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "cmtracker.settings",
        "DATABASE_URL": f"{server}/{DATABASE}",
        "SMS_BACKEND": SMS_BACKEND,
        "EMAIL_BACKEND": EMAIL_BACKEND,
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def database_create(server: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DATABASE}"')


def database_drop(server: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def clinic_zones(now: datetime) -> list[str]:
    fit = [z for z in ZONES if now.astimezone(ZoneInfo(z)).hour < 21]
    return fit[:CLINICS]


def seed(enrollments: int, now: datetime, zones: list[str]) -> int:
    """Clinics, patients, active enrollments and their first two weeks of results; returns how
    many reminders are due at `now`."""
    from cmtracker.models import Clinic
    from patients.models import Enrollment, Patient, Specimen
    from vouchers.models import Protocol
    from vouchers.schedule import EVERY_WEEKDAY, scheduled_days_between

    clinics = [
        # Open every day until 23:59 and no quiet hours: every reminder is due, and sendable,
        # whatever hour the benchmark runs at (the rules themselves are the ones in production).
        Clinic.objects.create(
            name=f"Bench clinic {i + 1}",
            slug=f"bench-{i + 1}",
            time_zone=zone,
            test_weekdays=list(EVERY_WEEKDAY),
            closes_at=clock(23, 59),
            quiet_hours_start=clock(0),
            quiet_hours_end=clock(0),
        )
        for i, zone in enumerate(zones)
    ]
    protocol = Protocol.objects.get(slug="higgins-1994", is_current=True)
    rules = protocol.rules()
    # Week 3 starts today on each clinic's calendar: a test day, after six scheduled tests.
    starts, histories = {}, {}
    for c in clinics:
        today = now.astimezone(c.tz).date()
        starts[c.pk] = today - timedelta(weeks=2)
        days = scheduled_days_between(rules, starts[c.pk], starts[c.pk], today, c.test_weekdays)
        histories[c.pk] = [datetime.combine(d, clock(10), tzinfo=c.tz) for d in days if d < today]
    expected = 0
    for first in range(0, enrollments, SEED_CHUNK):
        patients = []
        for n in range(first, min(first + SEED_CHUNK, enrollments)):
            email = n % EMAIL_EVERY == 0
            expected += 2 if email else 1
            patients.append(
                Patient(
                    clinic=clinics[n % len(clinics)],
                    record_number=f"R{n:07d}",
                    first_name="Bench",
                    last_name=str(n),
                    phone=f"+1555{n:07d}",
                    email=f"patient{n}@example.org" if email else "",
                    reminder_consent_sms=True,
                    reminder_consent_email=email,
                    preferred_language="es" if n % SPANISH_EVERY == 0 else "en",
                    reminder_time=clock(0),
                )
            )
        Patient.objects.bulk_create(patients)
        chunk = Enrollment.objects.bulk_create(
            Enrollment(patient=p, protocol=protocol, start_date=starts[p.clinic_id])
            for p in patients
        )
        Specimen.objects.bulk_create(
            Specimen(
                enrollment=e,
                collected_at=at,
                # Every seventh result positive, so the replays reset and rebuild streaks.
                outcome="P" if (e.pk + i) % 7 == 0 else "N",
            )
            for e in chunk
            for i, at in enumerate(histories[e.patient.clinic_id])
        )
    return expected


def outbox_empty() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute('TRUNCATE "cmtracker_notification"')


def database_settle(*, vacuum: bool = False) -> None:
    """Before a timed phase: the seed's statistics, and the write-ahead log of what came before
    flushed, so the first broker does not pay for the work done ahead of it."""
    from django.db import connection

    with connection.cursor() as cursor:
        if vacuum:
            cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")


@contextmanager
def broker_env(broker: str, folder: Path):
    """The environment of this broker's producer and worker, and a count of the messages waiting
    in it for the worker."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_FILESYSTEM_DIR")}
    if broker == "embedded":
        broker_dir = folder / "embedded"
        env["CELERY_FILESYSTEM_DIR"] = str(broker_dir)
        yield (
            env,
            lambda: sum(1 for f in os.listdir(broker_dir / "out") if f.endswith(f".{QUEUE}.msg")),
        )
        return
    port = free_port()
    server = subprocess.Popen(  # noqa: S603 - fixed arguments
        [tool("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: redis_cli(port, "ping") == "PONG", timeout=10, what="redis-server")
        env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        yield env, lambda: int(redis_cli(port, "llen", QUEUE))
    finally:
        stop(server)


def measure(broker: str, env: dict, waiting, now: datetime, expected: int, folder: Path) -> dict:
    from messaging.models import Notification

    database_settle()
    print(f"\n[{broker}] queueing...", flush=True)
    done = subprocess.run(  # noqa: S603 - this script, fixed arguments
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--phase",
            "queue",
            "--now",
            now.isoformat(),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"[{broker}] the queue phase failed:\n{done.stderr[-3000:]}")
    queued = json.loads(done.stdout.splitlines()[-1])
    queue_load = os.getloadavg()[0]
    rows = Notification.objects.count()
    in_broker = waiting()
    print(f"[{broker}] {queued}; {rows:,} rows, {in_broker:,} messages in the broker", flush=True)
    if queued["broker"] != ("redis" if broker == "redis" else "filesystem"):
        raise SystemExit(f"[{broker}] the producer used {queued['broker']}")
    if queued["queued"] != expected or rows != expected:
        raise SystemExit(f"[{broker}] {queued['queued']} queued, {rows} rows, {expected} due")
    if in_broker != queued["tasks"] or queued["tasks"] < math.ceil(expected / 1000):
        raise SystemExit(f"[{broker}] {queued['tasks']} tasks published, {in_broker} in broker")

    database_settle()
    log = folder / f"worker-{broker}.log"
    print(f"[{broker}] sending (worker log: {log})...", flush=True)
    cpu_before = children_cpu()
    with log.open("ab") as out:
        began = time.perf_counter()
        worker = subprocess.Popen(  # noqa: S603 - fixed arguments
            [sys.executable, "-m", "celery", "-A", "cmtracker", "worker", "--pool=solo",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", QUEUE,
             "--loglevel=warning"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    first_sent = None
    try:
        unsent = Notification.objects.exclude(status=Notification.Status.SENT)
        while True:
            left = unsent.count()
            if left == 0:
                break
            if first_sent is None and left < expected:
                first_sent = time.perf_counter() - began
            if worker.poll() is not None:
                raise SystemExit(f"[{broker}] the worker exited:\n{log.read_text()[-3000:]}")
            if unsent.exclude(status__in=["pending", "sending"]).exists():
                raise SystemExit(f"[{broker}] messages failed or expired:\n{statuses()}")
            if time.perf_counter() - began > SEND_TIMEOUT:
                raise SystemExit(f"[{broker}] still {left} unsent after {SEND_TIMEOUT} s")
            time.sleep(0.25)
        send_seconds = time.perf_counter() - began
    finally:
        stop(worker)
    worker_cpu = children_cpu() - cpu_before
    print(f"[{broker}] all {expected:,} sent in {send_seconds:.1f} s "
          f"(first after {first_sent or 0:.1f} s)", flush=True)  # fmt: skip
    return {
        "broker": broker,
        "queued": queued["queued"],
        "tasks": queued["tasks"],
        "queue_seconds": queued["seconds"],
        "queue_cpu": queued["cpu_seconds"],
        "publish_seconds": queued["publish_seconds"],
        "first_publish_ms": queued["first_publish_ms"],
        "median_publish_ms": queued["median_publish_ms"],
        "send_seconds": send_seconds,
        "worker_cpu": worker_cpu,
        "startup_seconds": first_sent or 0.0,
        # The 1-minute load average as each phase ended: other jobs on the machine show here.
        "load": (queue_load, os.getloadavg()[0]),
    }


def children_cpu() -> float:
    """CPU seconds of the child processes reaped so far (the worker, once stopped): unlike wall
    time, barely moved by other jobs on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def statuses() -> dict:
    from django.db.models import Count

    from messaging.models import Notification

    return dict(Notification.objects.values_list("status").annotate(n=Count("pk")))


# --- the queue phase (a subprocess per broker) ---------------------------------------------------


def queue_phase(now: datetime) -> None:
    """Queue the day's reminders with this process's broker; prints the counts and times as JSON.

    Publishing is timed on its own by wrapping the task the outbox calls after each commit.
    """
    import django

    django.setup()
    from cmtracker.celery import app
    from messaging.notifications import SEND_TASK
    from vouchers.reminders import reminders_queue

    publish_times: list[float] = []
    # The outbox finds its send task in the app's registry, by name, after each commit.
    send = app.tasks[SEND_TASK]
    publish = send.delay

    def timed_delay(*args, **kwargs):
        began = time.perf_counter()
        result = publish(*args, **kwargs)
        publish_times.append(time.perf_counter() - began)
        return result

    send.delay = timed_delay
    began, began_cpu = time.perf_counter(), time.process_time()
    queued = reminders_queue(now=now)
    seconds, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    app.close()
    print(
        json.dumps(
            {
                "broker": app.conf.broker_url.split(":")[0],
                "queued": queued,
                "tasks": len(publish_times),
                "seconds": round(seconds, 3),
                "cpu_seconds": round(cpu, 3),
                "publish_seconds": round(sum(publish_times), 3),
                # The first includes connecting to the broker.
                "first_publish_ms": round(publish_times[0] * 1000, 2) if publish_times else 0,
                "median_publish_ms": round(statistics.median(publish_times) * 1000, 2)
                if publish_times
                else 0,
            }
        )
    )


# --- processes -----------------------------------------------------------------------------------


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} is not installed")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_cli(port: int, *command: str) -> str:
    done = subprocess.run(  # noqa: S603 - fixed arguments
        [tool("redis-cli"), "-p", str(port), *command], capture_output=True, text=True
    )
    return done.stdout.strip()


def redis_version() -> str:
    args = [tool("redis-server"), "--version"]
    out = subprocess.run(args, capture_output=True, text=True).stdout  # noqa: S603
    found = re.search(r"v=(\S+)", out)
    return found.group(1) if found else "?"


def wait_for(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out after {timeout} s waiting for {what}")


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


# --- the report ----------------------------------------------------------------------------------


def render(results: list[dict], enrollments: int, expected: int, wall: float, machine) -> str:
    embedded, redis = results
    lines = [
        f"{enrollments:,} enrollments, {expected:,} messages (SMS, and email for one patient in "
        f"{EMAIL_EVERY}); {machine['cores']} cores, PostgreSQL {machine['postgres']}, Redis "
        f"{machine['redis']}, Python {machine['python']}; whole run {wall / 60:.1f} min.",
        "",
        "| broker | rows queued | tasks published | queue (rows + publish) | of which publish "
        "| queued / s | producer CPU | send (one worker) | sent / s | worker CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['broker']} | {r['queued']:,} | {r['tasks']:,} | {r['queue_seconds']:.1f} s "
            f"| {r['publish_seconds']:.2f} s | {r['queued'] / r['queue_seconds']:,.0f} "
            f"| {r['queue_cpu']:.1f} s | {r['send_seconds']:.1f} s "
            f"| {r['queued'] / r['send_seconds']:,.0f} | {r['worker_cpu']:.1f} s |"
        )

    def ratio(key: str) -> str:
        return f"{embedded[key] / redis[key]:.2f}×"

    lines.append(
        f"| embedded / Redis | | | {ratio('queue_seconds')} | {ratio('publish_seconds')} | "
        f"| {ratio('queue_cpu')} | {ratio('send_seconds')} | | {ratio('worker_cpu')} |"
    )
    lines.append("")
    lines.append(
        "(Send times run from starting the worker to the last row marked `sent`; the worker's "
        f"start-up, {embedded['startup_seconds']:.1f} s and {redis['startup_seconds']:.1f} s to "
        "the first message, is included, and in its CPU time. One publish took "
        f"{embedded['median_publish_ms']:.2f} ms and {redis['median_publish_ms']:.2f} ms (median), "
        "the first, which connects to the broker, "
        f"{embedded['first_publish_ms']:.0f} ms and {redis['first_publish_ms']:.0f} ms. Load "
        "average at the end of each phase (queue, send): "
        + "; ".join(f"{r['broker']} {r['load'][0]:.1f}, {r['load'][1]:.1f}" for r in results)
        + ".)"
    )
    return "\n".join(lines)


def section(table: str, enrollments: int) -> str:
    """A new section: the measured block between markers, and prose around it to be written by
    hand once (a re-run replaces only the block)."""
    return "\n".join(
        [
            SECTION,
            "",
            f"`scripts/bench_reminders.py`, {enrollments:,} patients, one run:",
            "",
            block(table),
            "",
            "Reading: (to be written from the numbers above.)",
            "",
        ]
    )


def block(table: str) -> str:
    return f"{BEGIN}\n{table}\n{END}"


def docs_write(table: str, enrollments: int) -> None:
    """Replace the measured block of this benchmark's section in docs/performance.md, keeping the
    prose around it; add the section at the end when it is not there yet."""
    doc = DOCS.read_text()
    if BEGIN in doc and END in doc:
        doc = doc[: doc.index(BEGIN)] + block(table) + doc[doc.index(END) + len(END) :]
    else:
        doc = doc.rstrip("\n") + "\n\n" + section(table, enrollments)
    DOCS.write_text(doc.rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
