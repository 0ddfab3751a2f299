"""docker-compose.yml describes a stack that can start from this repository.

Docker is not needed: these tests check that every program, module path, management command and
setting the stack names exists in the project, so a rename breaks a test instead of a deployment.
"""

import importlib
import importlib.util
import ipaddress
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from celery import Celery
from celery.app.utils import find_app
from celery.bin.celery import celery as celery_cli
from celery.worker.control import Panel
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker", "beat")
# `module.path:attribute`, as gunicorn takes it (and unlike "0.0.0.0:8000").
APP_MODULE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@pytest.fixture(scope="module")
def services():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


@pytest.fixture(scope="module")
def built_services(services):
    """The services that run this repository's image (not db, not redis)."""
    return {name: service for name, service in services.items() if "build" in service}


def argv(command):
    # Compose splits a string command shell-style, without running a shell.
    return shlex.split(command) if isinstance(command, str) else list(command)


def commands(command):
    """Each program a service's command runs: `sh -c "a && b"` is a, then b."""
    args = argv(command)
    if args[:2] == ["sh", "-c"] and len(args) == 3:
        return [shlex.split(part) for part in args[2].split("&&")]
    return [args]


def database_user(url: str) -> str:
    """The user of a postgres:// URL (its password may still be a ${...} of compose)."""
    match = re.match(r"^postgres(?:ql)?://([^:@/]+)[:@]", url)
    assert match, f"not a PostgreSQL URL with a user: {url}"
    return match.group(1)


def requirement_names(path):
    names = set()
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==", line.strip())
        if match:
            names.add(match.group(1).lower().replace("_", "-"))
    return names


def celery_app_and_subcommand(args):
    """`celery -A cmtracker worker ...` -> ("cmtracker", "worker")."""
    app, rest = None, list(args)
    while rest:
        arg = rest.pop(0)
        if arg in ("-A", "--app"):
            app = rest.pop(0)
        elif arg.startswith("--app="):
            app = arg.split("=", 1)[1]
        elif not arg.startswith("-"):
            return app, arg
    return app, None


def test_the_stack_has_a_database_a_broker_a_web_server_a_worker_and_beat(services):
    assert {"db", "redis", "web", "worker", "beat"} <= set(services)


def test_every_service_built_from_the_repo_says_what_it_runs(built_services):
    assert set(APP_SERVICES) <= set(built_services)
    for name, service in built_services.items():
        assert service.get("command"), f"{name} has no command"


def long_running(services):
    """Every service but the one-shot ones (`restart: "no"`, like migrate)."""
    return {name: s for name, s in services.items() if s.get("restart") != "no"}


def test_every_long_running_service_has_a_healthcheck(services):
    running = long_running(services)
    assert {"db", "redis", "web", "worker", "beat"} <= set(running)
    for name, service in running.items():
        healthcheck = service.get("healthcheck")
        assert healthcheck, f"{name} has no healthcheck"
        assert healthcheck.get("test"), f"{name} healthcheck has no test"
        assert healthcheck.get("interval"), f"{name} healthcheck has no interval"


def healthcheck_argv(test):
    """A healthcheck's `test` as the argv it runs: ["CMD", ...] as is; ["CMD-SHELL", "..."] split
    as the shell would, with compose's `$$` unescaped and $HOSTNAME standing for the container's
    host name."""
    kind, *rest = test
    if kind == "CMD":
        return rest
    assert kind == "CMD-SHELL" and len(rest) == 1, f"unexpected healthcheck test {test}"
    assert "$" not in rest[0].replace("$$", ""), "a single $ is interpolated by compose itself"
    return shlex.split(rest[0].replace("$$HOSTNAME", "container-host"))


def long_options(args):
    return {arg.split("=", 1)[0] for arg in args if arg.startswith("--")}


def celery_help(*subcommand) -> str:
    celery = Path(sys.executable).parent / "celery"
    done = subprocess.run(
        [str(celery), "-A", "cmtracker", *subcommand, "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def test_every_app_healthcheck_runs_a_command_of_the_project(built_services):
    for name in APP_SERVICES:
        program, *args = healthcheck_argv(built_services[name]["healthcheck"]["test"])
        if program == "python":
            assert args[0] == "-c", f"{name}: python healthcheck runs no code"
            compile(args[1], f"{name} healthcheck", "exec")
        elif program == "celery":
            app_name, subcommand = celery_app_and_subcommand(args)
            assert isinstance(find_app(app_name), Celery), f"{name}: no Celery app in {app_name}"
            assert subcommand == "inspect", f"{name}: expected `celery inspect ping`"
            assert "ping" in args and Panel.meta["ping"].type == "inspect"
            unknown = long_options(args) - set(re.findall(r"--[\w-]+", celery_help("inspect")))
            assert not unknown, f"{name}: `celery inspect` has no option {unknown}"
        else:
            pytest.fail(f"{name}: this test does not know how to check `{program}`; teach it")


def pinged_node(service) -> str:
    args = healthcheck_argv(service["healthcheck"]["test"])
    return args[args.index("--destination") + 1]


def test_the_worker_healthcheck_pings_this_containers_worker(built_services):
    # A worker's node name is celery@<host name> unless the command gives it another.
    worker = built_services["worker"]
    assert not {"-n", "--hostname"} & set(argv(worker["command"]))
    assert pinged_node(worker) == "celery@container-host"


def test_the_beat_healthcheck_pings_beat_which_answers_only_while_it_ticks(built_services):
    # Celery's beat answers pings as celerybeat@<host name>, only with remote control on, and
    # falls silent when its scheduler has stalled for a minute.
    beat = built_services["beat"]
    args = argv(beat["command"])
    assert "--enable-remote-control" in args
    assert not {"-n", "--hostname"} & set(args)
    assert pinged_node(beat) == "celerybeat@container-host"


def test_every_celery_option_a_service_passes_exists(built_services):
    for name, service in built_services.items():
        program, *args = argv(service["command"])
        if program != "celery":
            continue
        _, subcommand = celery_app_and_subcommand(args)
        unknown = long_options(args) - set(re.findall(r"--[\w-]+", celery_help(subcommand)))
        assert not unknown, f"{name}: `celery {subcommand}` has no option {unknown}"


def gunicorn_check_config(args) -> subprocess.CompletedProcess:
    gunicorn = Path(sys.executable).parent / "gunicorn"
    return subprocess.run(
        [str(gunicorn), "--check-config", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=ROOT,
    )


def test_gunicorn_runs_without_a_control_socket_and_accepts_every_option(built_services):
    # The image's user has no home folder, where gunicorn would put its control socket.
    program, *args = argv(built_services["web"]["command"])
    assert program == "gunicorn"
    assert "--no-control-socket" in args
    done = gunicorn_check_config(args)
    assert done.returncode == 0, done.stderr


def test_the_images_default_command_is_the_web_command(built_services):
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = json.loads(re.search(r"^CMD\s+(\[.*\])\s*$", dockerfile, re.MULTILINE).group(1))
    assert cmd == argv(built_services["web"]["command"])
    done = gunicorn_check_config(cmd[1:])
    assert done.returncode == 0, done.stderr


def test_the_file_says_which_compose_it_needs():
    header = (ROOT / "docker-compose.yml").read_text().split("\nx-app:")[0]
    assert "Docker Compose v2" in header
    assert "Docker Compose v2" in (ROOT / "README.md").read_text()


def test_app_services_wait_for_a_healthy_database_and_redis(services):
    for name in APP_SERVICES:
        depends_on = services[name].get("depends_on")
        assert isinstance(depends_on, dict), f"{name} must wait on conditions, not just order"
        for dependency in ("db", "redis"):
            condition = depends_on.get(dependency, {}).get("condition")
            assert condition == "service_healthy", f"{name} does not wait for {dependency}"


def test_app_services_start_only_after_migrations_have_run(services):
    assert commands(services["migrate"]["command"])[0][:3] == ["python", "manage.py", "migrate"]
    for name in APP_SERVICES:
        condition = services[name]["depends_on"].get("migrate", {}).get("condition")
        assert condition == "service_completed_successfully", f"{name} may start before migrate"


def test_every_service_command_exists_in_the_project(built_services):
    every_command = [
        (name, args)
        for name, service in built_services.items()
        for args in commands(service["command"])
    ]
    for name, (program, *args) in every_command:
        if program == "gunicorn":
            app_modules = [arg for arg in args if APP_MODULE.match(arg)]
            assert len(app_modules) == 1, f"{name}: expected one module:attribute, got {args}"
            module_path, attribute = app_modules[0].split(":")
            module = importlib.import_module(module_path)
            assert hasattr(module, attribute), f"{name}: {module_path} has no {attribute}"

        elif program == "celery":
            app_name, subcommand = celery_app_and_subcommand(args)
            assert app_name, f"{name}: celery without -A"
            # find_app is how `celery -A <name>` itself resolves the app.
            assert isinstance(find_app(app_name), Celery), f"{name}: no Celery app in {app_name}"
            assert subcommand in celery_cli.commands, f"{name}: no `celery {subcommand}` command"

        elif program == "python" and args[:1] == ["manage.py"]:
            assert (ROOT / "manage.py").is_file()
            assert len(args) > 1 and args[1] in get_commands(), f"{name}: unknown command {args}"

        else:
            pytest.fail(f"{name}: this test does not know how to check `{program}`; teach it")


def test_every_program_a_service_runs_is_pinned_in_requirements(built_services):
    pinned = requirement_names(ROOT / "requirements.txt")
    programs = {
        args[0] for service in built_services.values() for args in commands(service["command"])
    }
    for program in programs - {"python"}:
        assert program in pinned, f"{program} is run but not pinned in requirements.txt"


def test_the_image_installs_the_pinned_requirements():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^COPY\s.*\brequirements\.txt\b", dockerfile, re.MULTILINE)
    assert re.search(r"^RUN\s+pip install\b.*-r\s+requirements\.txt", dockerfile, re.MULTILINE)


def test_every_setting_the_stack_passes_is_read_by_the_settings(built_services):
    settings_source = Path(importlib.util.find_spec("cmtracker.settings").origin).read_text()
    passed = set()
    for service in built_services.values():
        environment = service.get("environment", {})
        if isinstance(environment, list):  # the ["NAME=value", ...] spelling
            environment = dict(item.split("=", 1) for item in environment)
        passed |= set(environment)

    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"} <= passed
    for name in sorted(passed):
        assert re.search(rf"""["']{name}["']""", settings_source), (
            f"{name} is set in docker-compose.yml but cmtracker/settings.py never reads it"
        )


def test_exactly_one_process_runs_beat_so_no_schedule_fires_twice(built_services):
    runs_beat = []
    for name, service in built_services.items():
        program, *args = argv(service["command"])
        if program != "celery":
            continue
        _, subcommand = celery_app_and_subcommand(args)
        if subcommand == "beat" or {"-B", "--beat"} & set(args):
            runs_beat.append(name)
            assert service.get("deploy", {}).get("replicas", 1) == 1, f"{name} is replicated"
    assert runs_beat == ["beat"]


# --- the edge: only a TLS proxy is reachable, and web trusts forwarded headers from it alone ---


def gunicorn_option(args, name):
    for i, arg in enumerate(args):
        if arg == name:
            return args[i + 1]
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return None


def test_only_the_tls_proxy_publishes_ports(services):
    publishing = {name for name, service in services.items() if service.get("ports")}
    assert publishing == {"proxy"}, "gunicorn, the database and Redis must not be published"
    assert not services["web"].get("ports")
    assert [str(port) for port in services["web"]["expose"]] == ["8000"]


def test_the_proxy_answers_https_on_443_and_redirects_80(services):
    proxy = services["proxy"]
    assert proxy["image"].startswith("caddy:")
    assert set(proxy["ports"]) == {"80:80", "443:443"}
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    assert proxy["depends_on"]["web"]["condition"] == "service_healthy"


def caddyfile_lines() -> list[str]:
    text = (ROOT / "Caddyfile").read_text()
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0]]


def test_the_caddyfile_terminates_tls_and_proxies_to_web():
    lines = caddyfile_lines()
    # Caddy redirects http:// to https:// for a site address with a host name (no http:// prefix).
    assert lines[0] == "{$SITE_ADDRESS:localhost} {"
    assert "tls internal" in lines
    assert "reverse_proxy web:8000" in lines
    # Caddy replaces a client's X-Forwarded-* unless told to trust the sender: it must not be.
    assert not any(line.startswith("trusted_proxies") for line in lines)


def test_web_trusts_forwarded_headers_from_the_proxy_only(services, built_services):
    args = argv(built_services["web"]["command"])
    allowed = gunicorn_option(args, "--forwarded-allow-ips").split(",")
    proxy_address = services["proxy"]["networks"]["edge"]["ipv4_address"]
    # The proxy, and the container's own loopback for its health check; never "*".
    assert sorted(allowed) == sorted([proxy_address, "127.0.0.1"])
    assert "edge" in services["web"]["networks"] and "default" in services["web"]["networks"]


def test_the_proxys_address_is_fixed_in_the_edge_network(services):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    subnet = compose["networks"]["edge"]["ipam"]["config"][0]["subnet"]
    proxy_address = services["proxy"]["networks"]["edge"]["ipv4_address"]
    assert ipaddress.ip_address(proxy_address) in ipaddress.ip_network(subnet)


def test_web_counts_one_proxy_in_front_of_it(built_services):
    environment = built_services["web"]["environment"]
    assert environment["NUM_PROXIES"] == "1"
    assert environment["CMTRACKER_PRODUCTION"] == "1"  # which keeps SECURE_PROXY_SSL_HEADER on


def test_migrations_run_as_the_tables_owner_who_then_makes_the_apps_role(services):
    migrate = services["migrate"]
    assert commands(migrate["command"]) == [
        ["python", "manage.py", "migrate", "--noinput"],
        ["python", "manage.py", "db_app_role"],
    ]
    owner = services["db"]["environment"]["POSTGRES_USER"]
    assert database_user(migrate["environment"]["DATABASE_URL"]) == owner
    # The role it makes is the one web, worker and beat connect as, password included.
    for name in APP_SERVICES:
        assert (
            migrate["environment"]["APP_DATABASE_URL"]
            == (services[name]["environment"]["DATABASE_URL"])
        ), f"{name} connects with another URL than the role migrate makes"


def test_no_service_runs_the_app_as_the_owner_or_postgres(services, built_services):
    owner = services["db"]["environment"]["POSTGRES_USER"]
    for name, service in built_services.items():
        if name == "migrate":
            continue
        user = database_user(service["environment"]["DATABASE_URL"])
        assert user not in {owner, "postgres"}, f"{name} runs as {user}, who owns the tables"
        assert "APP_DATABASE_URL" not in service["environment"], f"{name} needs no role-making"
