"""Password guessing is counted per client, whatever the client writes into X-Forwarded-For, and
counted once for every process (in Redis), not once per gunicorn worker."""

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import caches
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tests.cmtracker import workers

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent.parent
TOKEN_URL = "/api/v1/auth/token/"
PROXY = "172.30.80.2"  # the compose stack's Caddy


@pytest.fixture
def proxies(settings):
    def behind(count: int) -> None:
        settings.NUM_PROXIES = count
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": count}

    return behind


def guess(client, n: int, **headers) -> int:
    body = {"username": "casey", "password": f"guess {n}"}
    return client.post(TOKEN_URL, body, format="json", **headers).status_code


def settings_from(**env) -> dict:
    """What cmtracker/settings.py makes of this environment, in a fresh process."""
    clean = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "NUM_PROXIES"}}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, cmtracker.settings as s; print(json.dumps({'proxies': s.NUM_PROXIES,"
            " 'drf': s.REST_FRAMEWORK['NUM_PROXIES'], 'cache': s.CACHES['default']['BACKEND'],"
            " 'axes': s.AXES_CLIENT_IP_CALLABLE}))",
        ],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def test_no_proxy_is_trusted_unless_configured_and_redis_holds_the_counts_when_there_is_one():
    assert settings_from() == {
        "proxies": 0,
        "drf": 0,
        "cache": "django.core.cache.backends.locmem.LocMemCache",
        "axes": "cmtracker.clients.client_ip",
    }
    behind_caddy = settings_from(NUM_PROXIES="1", REDIS_URL="redis://redis:6379/0")
    assert behind_caddy["proxies"] == behind_caddy["drf"] == 1
    assert behind_caddy["cache"] == "django.core.cache.backends.redis.RedisCache"


def test_a_new_x_forwarded_for_on_every_guess_does_not_escape_the_throttle(counselor):
    # The settings as they are (NUM_PROXIES unset: no proxy is trusted).
    client = APIClient()

    answers = [
        guess(client, n, REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
        for n in range(12)
    ]

    assert answers[:10] == [400] * 10
    assert answers[10:] == [429, 429]


def test_behind_one_proxy_only_the_address_the_proxy_saw_counts(counselor, proxies):
    proxies(1)
    client = APIClient()

    # The attacker writes a new address each time; the proxy appends the one it saw.
    answers = [
        guess(
            client,
            n,
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.9",
        )
        for n in range(12)
    ]
    someone_else = guess(client, 99, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.50")

    assert answers[:10] == [400] * 10
    assert answers[10:] == [429, 429]
    assert someone_else == 400  # the proxy's own address is not what is throttled


def sign_in(ip: str, forwarded_for: str | None = None, password: str = "wrong"):
    headers = {"REMOTE_ADDR": ip}
    if forwarded_for is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return Client().post(reverse("login"), {"username": "casey", "password": password}, **headers)


def test_sign_in_lockouts_count_what_the_proxy_saw_not_the_proxy(counselor, proxies):
    proxies(1)
    for n in range(5):
        sign_in(PROXY, forwarded_for=f"198.51.100.{n}, 203.0.113.9")

    locked = sign_in(PROXY, forwarded_for="203.0.113.9", password="a long test password")
    elsewhere = sign_in(PROXY, forwarded_for="203.0.113.50", password="a long test password")

    assert locked.status_code == 429
    # Before, every client behind the proxy shared its address: one guesser locked casey out
    # for the whole clinic.
    assert elsewhere.status_code == 302


def test_without_proxies_a_sign_in_lockout_ignores_x_forwarded_for(counselor, proxies):
    proxies(0)
    for n in range(5):
        sign_in("203.0.113.9", forwarded_for=f"198.51.100.{n}")

    assert sign_in("203.0.113.9", password="a long test password").status_code == 429


# The token endpoint, called from another Python process with the settings that process gets from
# its environment: a second gunicorn worker (or web container). The throttle answers before the
# database is asked anything.
OTHER_PROCESS = textwrap.dedent(
    """
    import json, sys
    import django
    django.setup()
    from django.conf import settings
    from django.test import Client
    response = Client().post(
        sys.argv[1], {"username": "casey", "password": "guess from elsewhere"},
        content_type="application/json", REMOTE_ADDR=sys.argv[2],
    )
    backend = settings.CACHES["default"]["BACKEND"]
    print(json.dumps({"status": response.status_code, "backend": backend}))
    """
)


@pytest.mark.redis
def test_the_throttle_counts_in_redis_so_every_process_sees_the_same_count(
    counselor, settings, tmp_path
):
    configured = django_settings.CACHES["default"]
    assert configured["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    port = workers.free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with workers.redis_server(port, tmp_path):
        # This process: the settings' Redis cache, on a private Redis.
        settings.CACHES = {"default": {**configured, "LOCATION": url}}
        client = APIClient()
        answers = [guess(client, n, REMOTE_ADDR="203.0.113.9") for n in range(10)]

        key = caches["default"].make_key("throttle_auth-token_203.0.113.9")
        # Django's Redis cache pickles a list (the throttle's request times).
        in_redis = pickle.loads(redis.Redis.from_url(url).get(key))  # noqa: S301 - our own test data
        other = subprocess.run(
            [sys.executable, "-c", OTHER_PROCESS, TOKEN_URL, "203.0.113.9"],
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "cmtracker.settings",
                "REDIS_URL": url,
            },
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert answers == [400] * 10
    assert len(in_redis) == 10  # the ten guesses, where any process can read them
    assert other.returncode == 0, other.stderr
    elsewhere = json.loads(other.stdout.strip().splitlines()[-1])
    assert elsewhere == {"status": 429, "backend": configured["BACKEND"]}
