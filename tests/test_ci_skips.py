"""Under CI=true a skipped test fails the run; outside CI it passes and says why."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

TINY = """
import pytest

def test_runs():
    assert True

def test_needs_a_tool():
    pytest.skip("needs the frobnicator")

@pytest.mark.xfail(strict=True, reason="a known finding")
def test_known_finding():
    assert False
"""


def run_pytest(tmp_path, *args, ci: bool, source: str = TINY):
    """pytest in a child process on a tiny test file, with only the CI-skips plugin loaded (and
    xdist when asked): no Django, no test database, quick to start."""
    (tmp_path / "test_tiny.py").write_text(source)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true" if ci else "false"}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env.pop("PYTEST_ADDOPTS", None)
    command = [sys.executable, "-m", "pytest", "-p", "tests.ci_skips", "-p", "no:cacheprovider"]
    return subprocess.run(
        [*command, "-q", "-rs", *args, "test_tiny.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_under_ci_a_skipped_test_fails_the_run_and_says_which_and_why(tmp_path):
    done = run_pytest(tmp_path, ci=True)

    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout
    assert "CI=true: a skipped test fails the run" in done.stdout
    assert "SKIPPED test_tiny.py::test_needs_a_tool: needs the frobnicator" in done.stdout
    assert "test_known_finding" not in done.stdout.split("skipped test fails the run")[1]


def test_outside_ci_a_skip_is_allowed_and_says_why(tmp_path):
    done = run_pytest(tmp_path, ci=False)

    assert done.returncode == pytest.ExitCode.OK, done.stdout
    assert "needs the frobnicator" in done.stdout
    assert "skipped test fails the run" not in done.stdout


def test_under_ci_an_expected_failure_alone_keeps_the_run_green(tmp_path):
    done = run_pytest(tmp_path, "-k", "not needs_a_tool", ci=True)

    assert done.returncode == pytest.ExitCode.OK, done.stdout


def test_under_ci_a_module_skipped_at_collection_fails_the_run(tmp_path):
    source = 'import pytest\npytest.skip("no server", allow_module_level=True)\n'
    done = run_pytest(tmp_path, ci=True, source=source)

    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout
    assert "SKIPPED test_tiny.py: no server" in done.stdout


def test_under_ci_skips_on_xdist_workers_fail_the_run_too(tmp_path):
    done = run_pytest(tmp_path, "-p", "xdist.plugin", "-n", "2", ci=True)

    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout
    assert "SKIPPED test_tiny.py::test_needs_a_tool: needs the frobnicator" in done.stdout
