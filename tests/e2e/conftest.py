"""Real-browser tests: Playwright driving Debian's Chromium (never a downloaded browser).

They run against pytest-django's live server. Without /usr/bin/chromium they skip, saying why;
under CI=true a missing browser is a failure (`make test` installs it with apt when missing).
"""

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import second_factor_code, second_factor_device

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
# A test run leaves the committed screenshots (docs/screenshots, in the README) alone and writes
# to var/; `make screenshots` retakes the committed ones (SCREENSHOTS_DIR=docs/screenshots).
SCREENSHOTS = ROOT / os.environ.get("SCREENSHOTS_DIR", "var/screenshots")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

# The live server runs in a thread of this process; Django refuses sync ORM calls from the
# Playwright event loop thread unless told this is intended.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but Chromium is missing (apt-get install chromium)", pytrace=False)
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def desktop(browser, live_server):
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(
        viewport=PHONE,
        base_url=live_server.url,
        is_mobile=True,
        has_touch=True,
        locale="es-ES",
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def sign_in(page, username: str, password: str = "a long test password") -> None:
    """Password, then (staff, or anyone who turned it on) the authenticator app's code."""
    from cmtracker.models import User
    from cmtracker.two_factor import needs_second_factor

    user = User.objects.get(username=username)
    if needs_second_factor(user):
        second_factor_device(user)
    page.goto("/accounts/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.locator("form [type=submit]").last.click()
    page.wait_for_load_state()
    if "/accounts/two-factor/" in page.url:
        page.locator("#id_code").fill(second_factor_code(user))
        page.locator("#id_code").press("Enter")
        page.wait_for_load_state()


def axe_serious_violations(page) -> list[str]:
    """axe-core (shipped inside axe-playwright-python, no download) on the current page."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes']]} on {page.url}"
        for v in results.response["violations"]
        if v.get("impact") in {"serious", "critical"}
    ]


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
