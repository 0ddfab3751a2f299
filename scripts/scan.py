"""`make scan`: the security scans, one after another, with reports in var/scan/.

1. bandit over the app's code (cmtracker/, patients/, vouchers/, messaging/; settings in
   pyproject.toml).
2. pip-audit over requirements.txt. It asks an online vulnerability database about every pinned
   version; when it cannot (no network, or only a package mirror), it says so and falls back to
   PyPI's project pages, which list the known vulnerabilities of each project's newest release.
3. wapiti against the running app: a throwaway SQLite database with the demo clinic, the dev
   server on a free port on 127.0.0.1, signed in as patient1 and then as counselor1 (with a
   second factor when the app asks for one), each scan kept to this one app.

The tools live in .venv-scan, not the app's .venv: wapiti pins older versions of packages Django
needs. wapiti3 3.3 needs Python 3.12+; where there is none, requirements-scan.txt picks 3.2.3.

Usage: python scripts/scan.py [--only bandit,audit,wapiti] [--crawl-minutes 5] [--attack-minutes 2]
(wapiti's time per persona: the crawl, then each attack module for at most --attack-minutes.)
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_PYTHON = ROOT / ".venv" / "bin" / "python"
SCAN_VENV = ROOT / ".venv-scan"
SCAN_REQUIREMENTS = ROOT / "requirements-scan.txt"
OUT = ROOT / "var" / "scan"
CODE = ["cmtracker", "patients", "vouchers", "messaging", "rewards"]
DEMO_PASSWORD = "cmtracker-demo"  # noqa: S105 - the demo logins (rewards/.../demo_data.py)
SEVERITIES = ["critical", "high", "medium", "low", "info"]
WAPITI_LEVELS = {4: "critical", 3: "high", 2: "medium", 1: "low", 0: "info"}


def say(message: str) -> None:
    print(f"scan: {message}", flush=True)


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run for our own tools with arguments built here, never from input."""
    return subprocess.run(args, **kwargs)  # noqa: S603


def by_severity(finding: str) -> int:
    return SEVERITIES.index(finding.split()[0].lower())


@dataclass
class Result:
    tool: str
    ran: bool = True
    note: str = ""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SEVERITIES, 0))
    findings: list[str] = field(default_factory=list)  # one line each, High and Medium first


# --- the tools' own virtualenv ------------------------------------------------------------------


def scan_python() -> str:
    """A Python 3.12+ for wapiti3 3.3 when there is one (PATH, then pyenv), else this one."""
    candidates = [shutil.which(name) for name in ("python3.13", "python3.12")]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(map(str, pyenv_root.glob("versions/3.1[23]*/bin/python3")), reverse=True)
    for candidate in filter(None, candidates):
        if run([candidate, "-c", "import venv"], capture_output=True).returncode == 0:
            return candidate
    say("no Python 3.12+ found: wapiti3 3.2.3 will be used instead of 3.3.2")
    return sys.executable


def scan_venv() -> Path:
    """.venv-scan with requirements-scan.txt installed; again only when that file changes."""
    bin_dir = SCAN_VENV / "bin"
    stamp = SCAN_VENV / ".stamp-requirements-scan"
    wanted = hashlib.sha256(SCAN_REQUIREMENTS.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return bin_dir
    if not (bin_dir / "python").exists():
        python = scan_python()
        say(f"creating {SCAN_VENV.name} with {python}")
        run([python, "-m", "venv", str(SCAN_VENV)], check=True)
    say(f"installing the scan tools from {SCAN_REQUIREMENTS.name} (pinned)")
    done = run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-r", str(SCAN_REQUIREMENTS)],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        print(done.stdout + done.stderr)
        raise SystemExit(f"scan: installing {SCAN_REQUIREMENTS.name} failed (above)")
    stamp.write_text(wanted)
    return bin_dir


def version_of(bin_dir: Path, tool: str) -> str:
    done = run([str(bin_dir / tool), "--version"], capture_output=True, text=True)
    for line in (done.stdout + done.stderr).splitlines():
        # "bandit 1.9.4", "pip-audit 2.10.1", or wapiti's bare "3.3.2" under its banner
        if match := re.fullmatch(r"(?:[\w-]+ )?(\d+\.\d+(?:\.\d+)?)", line.strip()):
            return match.group(1)
    return "unknown"


# --- 1. bandit ----------------------------------------------------------------------------------


def run_bandit(bin_dir: Path) -> Result:
    report = OUT / "bandit.json"
    say(f"bandit over {', '.join(CODE)}")
    run(
        [str(bin_dir / "bandit"), "-c", "pyproject.toml", "-r", *CODE, "-q",
         "-f", "json", "-o", str(report)],
        cwd=ROOT,
    )  # fmt: skip  # exits 1 when it finds anything; the report says what
    result = Result("bandit")
    data = json.loads(report.read_text())
    if data.get("errors"):
        result.note = f"{len(data['errors'])} files could not be parsed"
    for issue in data["results"]:
        severity = issue["issue_severity"].lower()
        result.counts[severity] += 1
        result.findings.append(
            f"{severity.upper()} {issue['test_id']} {issue['filename']}:{issue['line_number']}"
            f" {issue['issue_text']} (confidence {issue['issue_confidence'].lower()})"
        )
    return result


# --- 2. dependency audit ------------------------------------------------------------------------


def run_audit(bin_dir: Path) -> Result:
    report = OUT / "pip-audit.json"
    say("pip-audit -r requirements.txt (asks PyPI's vulnerability data for each pinned version)")
    done = run(
        [str(bin_dir / "pip-audit"), "-r", "requirements.txt", "--progress-spinner", "off",
         "-f", "json", "-o", str(report)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    (OUT / "pip-audit.log").write_text(done.stdout + done.stderr)
    result = Result("pip-audit")
    data = json.loads(report.read_text()) if report.exists() and report.stat().st_size else {}
    dependencies = data.get("dependencies", [])
    audited = [d for d in dependencies if "skip_reason" not in d]
    for dependency in audited:
        for vuln in dependency.get("vulns", []):
            # pip-audit gives no severity: every known vulnerability in a pin counts as high
            # until someone reads the advisory and decides.
            result.counts["high"] += 1
            fixed = ", ".join(vuln.get("fix_versions", [])) or "none yet"
            result.findings.append(
                f"HIGH {dependency['name']}=={dependency['version']} {vuln['id']}"
                f" (fixed in {fixed})"
            )
    if dependencies and audited:
        skipped = len(dependencies) - len(audited)
        result.note = f"{len(audited)} packages audited, {skipped} skipped"
        return result
    say(
        "pip-audit could NOT audit anything: its vulnerability database is out of reach from "
        f"this machine ({len(dependencies)} of {len(dependencies)} packages skipped; "
        "see var/scan/pip-audit.log). Falling back to PyPI's project pages."
    )
    return audit_from_pypi_project_pages(result)


def pinned_requirements() -> list[tuple[str, str]]:
    pins = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins.append((re.sub(r"\[.*\]", "", name).strip(), version.strip()))
    return pins


def final_release(version: str) -> tuple[int, ...] | None:
    return tuple(map(int, version.split("."))) if re.fullmatch(r"\d+(\.\d+)*", version) else None


def audit_from_pypi_project_pages(result: Result) -> Result:
    """For each direct pin: PyPI's project JSON lists the known vulnerabilities of the project's
    newest release only. A pin at the newest release is audited by that list. Any other pin is
    not audited; the note says whether it is at least the newest patch of its own series (as
    Django 5.2.x, a supported LTS, gets its security fixes)."""
    result.tool = "pip-audit fallback: PyPI project pages"
    rows, in_series, behind, failed = [], [], [], []
    for name, version in pinned_requirements():
        url = f"https://pypi.org/pypi/{urllib.parse.quote(name)}/json"
        try:
            with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - fixed https URL
                project = json.load(response)
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            failed.append(f"{name}: {exc}")
            continue
        latest = project["info"]["version"]
        vulns = project.get("vulnerabilities") or []
        pinned = final_release(version) or ()
        series = [
            release
            for release in filter(None, map(final_release, project["releases"]))
            if release[:2] == pinned[:2]
        ]
        newest_in_series = ".".join(map(str, max(series))) if series else version
        rows.append(
            {"name": name, "pinned": version, "latest": latest,
             "newest_in_series": newest_in_series, "vulns_of_latest": vulns}
        )  # fmt: skip
        if version == latest:
            for vuln in vulns:
                result.counts["high"] += 1
                result.findings.append(f"HIGH {name}=={version} {vuln.get('id')}")
        elif version == newest_in_series:
            in_series.append(f"{name}=={version} (newest {latest})")
        else:
            behind.append(f"{name}=={version} (newest {newest_in_series} in its series)")
    (OUT / "dependency-fallback.json").write_text(json.dumps(rows, indent=2))
    audited = len(rows) - len(in_series) - len(behind)
    result.note = (
        f"pip-audit's database was out of reach. {audited} of {len(rows) + len(failed)} direct "
        "pins are their project's newest release, checked against PyPI's list for it. Not "
        f"audited, newest patch of their series: {', '.join(in_series) or 'none'}. Not audited, "
        f"behind a newer patch release: {', '.join(behind) or 'none'}"
    )
    if failed:
        result.ran = False
        result.note += f". PyPI unreachable for: {'; '.join(failed)}"
    return result


# --- 3. wapiti against the running app ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def totp(key_hex: str, at: float | None = None) -> str:
    """RFC 6238 with django-otp's defaults (SHA-1, 30 s, 6 digits)."""
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(bytes.fromhex(key_hex), struct.pack(">Q", counter), "sha1").digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


SEED_SECOND_FACTOR = """
from django.apps import apps
if apps.is_installed("django_otp.plugins.otp_totp"):
    from django.contrib.auth import get_user_model
    from django_otp.plugins.otp_totp.models import TOTPDevice
    user = get_user_model().objects.get(username="counselor1")
    TOTPDevice.objects.filter(user=user).delete()
    TOTPDevice.objects.create(user=user, name="scan", key="{key}", confirmed=True)
    print("seeded")
"""


class App:
    """The dev server on a throwaway database, with the demo clinic."""

    def __init__(self):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.dir = OUT / "app"
        self.totp_key = secrets.token_hex(20)
        self.process: subprocess.Popen | None = None
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "REDIS_URL", "CMTRACKER_PRODUCTION"}
        }
        self.env.update(
            DATABASE_URL=f"sqlite:///{self.dir / 'db.sqlite3'}",
            DEBUG="0",  # as deployed: no debug pages for the scanner to find
            SECRET_KEY=secrets.token_urlsafe(48),
            ALLOWED_HOSTS="127.0.0.1",
            CELERY_TASK_ALWAYS_EAGER="1",  # no worker: reminders run inline, to the console
            CELERY_FILESYSTEM_DIR=str(self.dir / "celery"),
        )

    def manage(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return run(
            [str(APP_PYTHON), "manage.py", *args], cwd=ROOT, env=self.env, check=True, **kwargs
        )

    def start(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        say(f"preparing a throwaway database in {self.dir.relative_to(ROOT)} with the demo clinic")
        self.manage("migrate", "--noinput", "--verbosity", "0")
        self.manage("demo_data", capture_output=True)
        self.manage("collectstatic", "--noinput", "--verbosity", "0")
        seeded = self.manage(
            "shell", "--verbosity", "0", "-c", SEED_SECOND_FACTOR.format(key=self.totp_key),
            capture_output=True, text=True,
        )  # fmt: skip
        self.second_factor = "seeded" in seeded.stdout
        log = (self.dir / "server.log").open("w")
        self.process = subprocess.Popen(  # noqa: S603 - our own dev server
            [str(APP_PYTHON), "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        for _ in range(60):
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=2):  # noqa: S310
                    say(f"app running at {self.base} (log: var/scan/app/server.log)")
                    return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        raise SystemExit("scan: the app did not start; see var/scan/app/server.log")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


class Browser:
    """Just enough of a browser to sign in: cookies, the CSRF token, redirects."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> tuple[str, str]:
        with self.opener.open(self.base + path, timeout=30) as response:
            return urllib.parse.urlparse(response.url).path, response.read().decode()

    def post_form(self, path: str, html: str, fields: dict[str, str]) -> tuple[str, str]:
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": token.group(1), **fields}).encode()
        with self.opener.open(self.base + path, data=data, timeout=30) as response:
            return urllib.parse.urlparse(response.url).path, response.read().decode()

    def cookie_header(self) -> str:
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.jar)


def sign_in(app: App, username: str, home: str) -> Browser:
    browser = Browser(app.base)
    path, html = browser.get("/accounts/login/")
    path, html = browser.post_form(
        path, html, {"username": username, "password": DEMO_PASSWORD, "next": home}
    )
    if path.startswith("/accounts/two-factor/"):
        if not app.second_factor:
            raise SystemExit(f"scan: {username} was asked for a second factor the scan cannot give")
        path, html = browser.post_form(path, html, {"code": totp(app.totp_key), "next": home})
    path, _ = browser.get(home)
    if path != home:
        raise SystemExit(f"scan: signing in as {username} did not reach {home} (got {path})")
    return browser


def run_wapiti(
    bin_dir: Path, app: App, persona: str, home: str, limits: argparse.Namespace
) -> Result:
    result = Result(f"wapiti as {persona}")
    browser = sign_in(app, persona, home)
    # The scan's own copy of the API schema, so wapiti attacks every API operation too.
    _, schema = browser.get("/api/schema/?format=json")
    swagger = OUT / f"openapi-{persona}.json"
    swagger.write_text(schema)
    report = OUT / f"wapiti-{persona}.json"
    say(
        f"wapiti as {persona}: crawl up to {limits.crawl_minutes} min, then each attack module up"
        f" to {limits.attack_minutes} min (log: var/scan/wapiti-{persona}.log)"
    )
    with (OUT / f"wapiti-{persona}.log").open("w") as log:
        done = run(
            [
                str(bin_dir / "wapiti"),
                "--url", f"{app.base}/",
                "--scope", "folder",  # this app only: nothing outside http://127.0.0.1:PORT/
                "--start", f"{app.base}{home}",
                "--swagger", str(swagger),
                # The signed-in cookies, sent as a fixed header with every request: cookies the
                # app sets later are not sent back, so attacking the language switch cannot flip
                # the page language under the scan's feet (it read that as a blind SQL injection).
                "--cookie-value", browser.cookie_header(),
                # Signing out would end the scan's session.
                "--exclude", f"{app.base}/accounts/logout/*",
                # Out-of-band checks (SSRF) would call wapiti's public server: keep them here.
                "--endpoint", f"{app.base}/",
                "--no-bugreport",
                "--max-scan-time", str(limits.crawl_minutes * 60),
                "--max-attack-time", str(limits.attack_minutes * 60),
                "--flush-session",
                "--store-session", str(OUT / "wapiti-state"),
                "--store-config", str(OUT / "wapiti-config"),
                "--format", "json",
                "--output", str(report),
                "--verbose", "1",
            ],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    if done.returncode != 0 or not report.exists():
        result.ran = False
        result.note = f"wapiti exited {done.returncode}; see var/scan/wapiti-{persona}.log"
        return result
    data = json.loads(report.read_text())
    for section in ("vulnerabilities", "anomalies", "additionals"):
        for category, items in data.get(section, {}).items():
            for item in items:
                severity = WAPITI_LEVELS.get(item.get("level", 0), "info")
                result.counts[severity] += 1
                where = f"{item.get('method', '')} {item.get('path', '')}"
                parameter = item.get("parameter") or ""
                info = " ".join(str(item.get("info", "")).split())
                result.findings.append(
                    f"{severity.upper()} {category}: {where} {parameter} - {info}"
                )
    result.findings.sort(key=by_severity)
    crawled = data.get("infos", {}).get("crawled_pages_nbr", "?")
    still_in = browser.get(home)[0] == home
    result.note = f"{crawled} pages crawled" + (
        "" if still_in else "; the session ENDED during the scan, so later attacks ran signed out"
    )
    return result


# --- summary ------------------------------------------------------------------------------------


def summarize(results: list[Result], versions: dict[str, str]) -> str:
    lines = [
        f"# make scan, {time.strftime('%Y-%m-%d %H:%M %Z')}",
        "",
        "Versions: " + ", ".join(f"{tool} {version}" for tool, version in versions.items()),
        "",
        "| tool | ran | critical | high | medium | low | info | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        counts = " | ".join(str(r.counts[s]) for s in SEVERITIES)
        lines.append(f"| {r.tool} | {'yes' if r.ran else 'NO'} | {counts} | {r.note} |")
    for r in results:
        if r.findings:
            lines += ["", f"## {r.tool}", "", *(f"- {finding}" for finding in r.findings)]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="bandit,audit,wapiti", help="comma-separated tools")
    parser.add_argument("--crawl-minutes", type=float, default=5, help="wapiti's crawl, each")
    parser.add_argument("--attack-minutes", type=float, default=2, help="each attack module")
    args = parser.parse_args()
    only = set(args.only.split(","))
    OUT.mkdir(parents=True, exist_ok=True)
    bin_dir = scan_venv()
    versions = {tool: version_of(bin_dir, tool) for tool in ("bandit", "pip-audit", "wapiti")}
    results = []
    if "bandit" in only:
        results.append(run_bandit(bin_dir))
    if "audit" in only:
        results.append(run_audit(bin_dir))
    if "wapiti" in only:
        app = App()
        try:
            app.start()
            # The patient first: the counselor's scan can reset the patient's sign-in.
            results.append(run_wapiti(bin_dir, app, "patient1", "/me/", args))
            results.append(run_wapiti(bin_dir, app, "counselor1", "/today/", args))
        finally:
            app.stop()
    summary = summarize(results, versions)
    (OUT / "summary.md").write_text(summary)
    print(summary)
    say("reports in var/scan/ (summary.md, bandit.json, pip-audit.json, wapiti-*.json)")
    return 0 if all(r.ran for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
