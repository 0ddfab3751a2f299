"""Security headers on every kind of response, and templates a strict CSP can serve.

The browser tests (tests/e2e/test_csp.py) prove the pages still work under the policy; these
prove the policy is sent, and that no template brings back what it forbids.
"""

import re
from pathlib import Path

import pytest
from django.urls import reverse

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def policy(response) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: [sources]}."""
    header = response.headers["Content-Security-Policy"]
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


@pytest.fixture
def phone(client, patient_user):
    client.force_login(patient_user)
    return client


@pytest.fixture
def pages(client, phone):
    """One of each kind: a public page, a patient's page, the API docs, a JSON API answer, an
    error page."""
    anonymous = client.__class__()
    return {
        "login": anonymous.get(reverse("login")),
        "portal": phone.get(reverse("portal")),
        "api docs": phone.get(reverse("api-docs")),
        "api json": phone.get("/api/v1/patients/"),
        "not found": anonymous.get("/no-such-page/"),
    }


def test_every_response_carries_the_strict_content_security_policy(pages):
    for name, response in pages.items():
        csp = policy(response)
        assert csp["default-src"] == ["'self'"], name
        assert csp["script-src"] == ["'self'"], name
        assert csp["style-src"] == ["'self'"], name
        assert csp["img-src"] == ["'self'", "data:"], name
        assert csp["frame-ancestors"] == ["'none'"], name
        assert csp["form-action"] == ["'self'"], name
        assert csp["base-uri"] == ["'self'"], name
        assert csp["object-src"] == ["'none'"], name


def test_no_page_relaxes_the_policy_with_unsafe_inline_or_eval(pages):
    for name, response in pages.items():
        header = response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in header, name
        assert "unsafe-eval" not in header, name


def test_pages_cannot_be_framed_or_sniffed_and_send_no_referrer_elsewhere(pages):
    for name, response in pages.items():
        assert response.headers["X-Frame-Options"] == "DENY", name
        assert response.headers["X-Content-Type-Options"] == "nosniff", name
        assert response.headers["Referrer-Policy"] == "same-origin", name
        assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin", name


def test_htmx_is_told_not_to_inject_styles_or_evaluate_code(pages):
    html = pages["portal"].content.decode()

    config = re.search(r'<meta name="htmx-config" content=\'([^\']+)\'>', html)
    assert config, "no htmx-config meta tag"
    assert '"includeIndicatorStyles": false' in config.group(1)
    assert '"allowEval": false' in config.group(1)
    # The config must be in the page before htmx reads it.
    assert html.index('name="htmx-config"') < html.index("htmx-2.min.js")


def test_the_api_docs_page_has_no_inline_script_or_style(pages):
    html = pages["api docs"].content.decode()

    assert pages["api docs"].status_code == 200
    assert "<style" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "/static/css/api-docs.css" in html


def test_the_api_answers_json_only_not_the_browsable_html_pages(phone, patient_user):
    response = phone.get("/api/v1/patients/", HTTP_ACCEPT="text/html,*/*;q=0.8")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"


def test_the_language_cookie_is_out_of_reach_of_scripts(client, db):
    response = client.post(reverse("set_language"), {"language": "es", "next": "/"})

    assert response.cookies["django_language"].value == "es"
    assert response.cookies["django_language"]["httponly"] is True


# What a strict CSP refuses: an inline <script> (one without src), any <style> element, a style=
# attribute, an on*= event handler, and javascript: URLs.
INLINE = {
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),
    "style element": re.compile(r"<style\b", re.IGNORECASE),
    "style attribute": re.compile(r"\sstyle\s*=", re.IGNORECASE),
    "event handler": re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),
    "javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
}


def test_no_template_has_inline_scripts_styles_or_event_handlers():
    found = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        text = template.read_text(encoding="utf-8")
        # {# ... #} and {% comment %} blocks are not sent to the browser.
        text = re.sub(r"{#.*?#}", "", text, flags=re.DOTALL)
        text = re.sub(r"{% comment %}.*?{% endcomment %}", "", text, flags=re.DOTALL)
        for what, pattern in INLINE.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{template.relative_to(TEMPLATES)}:{line}: {what}")
    assert found == []


def test_the_template_check_would_catch_each_kind_of_inline_code():
    samples = {
        "inline script": "<script>alert(1)</script>",
        "style element": "<style>p{}</style>",
        "style attribute": '<p style="color:red">',
        "event handler": '<button onclick="go()">',
        "javascript: URL": '<a href="javascript:go()">',
    }
    for what, sample in samples.items():
        assert INLINE[what].search(sample), what
    assert not INLINE["inline script"].search('<script src="/static/x.js" defer></script>')
