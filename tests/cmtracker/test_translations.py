"""Spanish is complete: every message has a translation and the catalogue compiles cleanly."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PO = Path(__file__).resolve().parents[2] / "locale" / "es" / "LC_MESSAGES" / "django.po"


@pytest.fixture
def msgfmt():
    tool = shutil.which("msgfmt")
    if tool is None:
        pytest.skip("needs GNU gettext's msgfmt")
    return tool


def test_the_spanish_catalogue_compiles_without_errors(msgfmt):
    done = subprocess.run(
        [msgfmt, "--check", "--statistics", "-o", "/dev/null", str(PO)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "untranslated" not in done.stderr, done.stderr
    assert "fuzzy" not in done.stderr, done.stderr


def test_the_patient_portal_promise_reads_in_spanish(settings):
    from django.utils import translation

    with translation.override("es"):
        text = translation.gettext("Your next negative test earns %(amount)s.")
    assert text == "Tu próxima prueba negativa gana %(amount)s."


def test_every_translatable_string_in_the_code_has_a_spanish_translation(tmp_path, msgfmt):
    """Extract the messages afresh (as `makemessages` would) and find none untranslated."""
    root = PO.parents[3]
    for folder in (
        "cmtracker",
        "patients",
        "vouchers",
        "messaging",
        "rewards",
        "templates",
        "locale",
    ):
        shutil.copytree(root / folder, tmp_path / folder, ignore=shutil.ignore_patterns("*.mo"))
    shutil.copy(root / "manage.py", tmp_path / "manage.py")
    extract = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "es", "--no-obsolete", "-v0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert extract.returncode == 0, extract.stderr
    done = subprocess.run(
        [msgfmt, "--statistics", "-o", "/dev/null", str(tmp_path / PO.relative_to(root))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "untranslated" not in done.stderr and "fuzzy" not in done.stderr, (
        f"run `make translations` and translate the new strings: {done.stderr}"
    )
