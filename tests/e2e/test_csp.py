"""The Content-Security-Policy breaks pages silently: a blocked script or style only shows up in
the browser console. These walk the pages each role uses, including an htmx swap and the API
docs, and assert the browser reported no violation and no script error."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.conftest import at
from tests.e2e.conftest import DESKTOP, PHONE, sign_in
from tests.factories import EnrollmentFactory, PatientFactory, UserFactory
from vouchers import recording

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

# Also listens for the DOM's own violation event, which names the directive and the source line.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const blocked = e.blockedURI || "inline";
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} blocked ${blocked} at ${where}`);
});
"""


class ConsoleWatch:
    """What the browser said about a page: CSP reports in the console, uncaught script errors,
    and the securitypolicyviolation events of every page visited."""

    def __init__(self, page):
        self.page = page
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"{page.url}: {error}"))

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.problems.append(f"{self.page.url}: {message.text}")

    def visit(self, path: str) -> None:
        response = self.page.goto(path)
        assert response.status == 200, f"{path}: {response.status}"
        self.page.wait_for_load_state("networkidle")
        self.collect()

    def collect(self) -> None:
        for violation in self.page.evaluate("window.__cspViolations || []"):
            self.problems.append(f"{self.page.url}: {violation}")
        self.page.evaluate("window.__cspViolations = []")


def watched_page(browser, live_server, **context_options) -> ConsoleWatch:
    context = browser.new_context(base_url=live_server.url, **context_options)
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return ConsoleWatch(page)


@pytest.fixture
def clinic_day(clinic, counselor, clinic_admin, higgins):
    """A patient due today (with a sign-in) and one who tested negative two days ago."""
    today = timezone.now().astimezone(clinic.tz).date()
    start = today - timedelta(days=2)
    maria = PatientFactory(
        clinic=clinic,
        first_name="María",
        last_name="González",
        primary_counselor=counselor,
        user=UserFactory(username="maria"),
    )
    rosa = PatientFactory(
        clinic=clinic, first_name="Rosa", last_name="Hernández", primary_counselor=counselor
    )
    for patient in (maria, rosa):
        # Every weekday offered, so today is a test day whatever weekday it is.
        EnrollmentFactory(
            patient=patient, protocol=higgins, start_date=start, test_weekdays=list(range(7))
        )
    recording.specimen_record(
        patient=rosa, collected_at=at(clinic, start), results={"cocaine": "negative"}
    )
    return maria, rosa


def test_a_counselors_pages_and_an_htmx_swap_raise_no_csp_violation(
    browser, live_server, clinic_day
):
    maria, rosa = clinic_day
    watch = watched_page(browser, live_server, viewport=DESKTOP)
    sign_in(watch.page, "casey")
    for path in (
        "/today/",
        "/patients/",
        f"/patients/{rosa.pk}/",
        f"/patients/{rosa.pk}/access/",
        "/redemptions/",
        "/import/lab-results/",
    ):
        watch.visit(path)

    # Recording a result is an htmx form: the answer is swapped into the page.
    watch.visit(f"/patients/{maria.pk}/specimens/new/")
    watch.page.get_by_role("button", name="Save result").click()
    watch.page.locator("#record-result").get_by_text("Earned $2.50").wait_for()
    watch.collect()

    assert watch.problems == []


def test_a_clinic_administrators_catalog_pages_raise_no_csp_violation(
    browser, live_server, clinic_day
):
    watch = watched_page(browser, live_server, viewport=DESKTOP)
    sign_in(watch.page, "ada")
    for path in ("/catalog/", "/catalog/new/"):
        watch.visit(path)

    assert watch.problems == []


def test_a_patients_phone_pages_raise_no_csp_violation(browser, live_server, clinic_day):
    watch = watched_page(
        browser, live_server, viewport=PHONE, is_mobile=True, has_touch=True, locale="es-ES"
    )
    sign_in(watch.page, "maria")
    for path in ("/me/", "/me/catalog/", "/me/redemptions/"):
        watch.visit(path)

    assert watch.problems == []


def test_the_api_docs_render_and_open_an_operation_without_a_csp_violation(
    browser, live_server, clinic_day
):
    watch = watched_page(browser, live_server, viewport=DESKTOP)
    sign_in(watch.page, "maria")
    watch.visit("/api/docs/")

    # Swagger UI builds the page from the schema with its own scripts: it only shows
    # operations if those ran.
    operation = watch.page.locator(".opblock-summary", has_text=re.compile("/api/v1/patients/$"))
    operation.first.click()
    watch.page.get_by_text("Parameters").first.wait_for()
    watch.collect()

    assert watch.problems == []


def test_the_watch_does_report_an_inline_style_the_policy_blocks(browser, live_server, clinic_day):
    watch = watched_page(browser, live_server, viewport=DESKTOP)
    watch.visit("/accounts/login/")

    watch.page.evaluate("document.head.insertAdjacentHTML('beforeend', '<style>p {}</style>')")
    watch.page.wait_for_timeout(200)
    watch.collect()

    assert any("style-src" in problem for problem in watch.problems)
