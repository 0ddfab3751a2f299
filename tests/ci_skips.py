"""Under CI=true a skipped test fails the run.

A missing tool (msgfmt, Chromium, a server) must never pass CI silently. Outside CI a skip stays
allowed and says why (`-ra` prints the reasons). tests/conftest.py registers this for the suite;
`pytest -p tests.ci_skips` loads it on its own (its test does, on a tiny test file).
"""

import os

import pytest

NAME = "cmtracker-ci-skips"
OK = pytest.ExitCode.OK


class SkipsFailTheRun:
    """Counts skips where the reports arrive (the xdist controller, or the only process), lists
    them with their reasons at the end, and turns a green run red. An xfail is not a skip."""

    def __init__(self):
        self.skipped: list[tuple[str, str]] = []

    def _note(self, report):
        if report.skipped and not hasattr(report, "wasxfail"):
            longrepr = report.longrepr
            reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            self.skipped.append((report.nodeid, reason.removeprefix("Skipped: ")))

    def pytest_runtest_logreport(self, report):
        self._note(report)

    def pytest_collectreport(self, report):
        self._note(report)

    def pytest_sessionfinish(self, session):
        if self.skipped and session.exitstatus in (OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter):
        if self.skipped:
            terminalreporter.section("CI=true: a skipped test fails the run", red=True, bold=True)
            for nodeid, reason in self.skipped:
                terminalreporter.line(f"SKIPPED {nodeid}: {reason}", red=True)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def pytest_configure(config):
    # xdist workers send their reports to the controller, which counts them once.
    worker = hasattr(config, "workerinput")
    if in_ci() and not worker and not config.pluginmanager.has_plugin(NAME):
        config.pluginmanager.register(SkipsFailTheRun(), NAME)
