"""In a real browser: a counselor's first sign-in turns on two-factor sign-in, QR code and all."""

import re

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.e2e.conftest import axe_serious_violations, screenshot

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_a_counselors_first_sign_in_sets_up_an_authenticator(desktop, counselor):
    page = desktop
    page.goto("/accounts/login/")
    page.locator("#id_username").fill("casey")
    page.locator("#id_password").fill("a long test password")
    page.locator("#id_password").press("Enter")
    page.wait_for_load_state()

    assert "/accounts/two-factor/setup/" in page.url
    qr = page.get_by_role("img", name="QR code for your authenticator app")
    # Drawn by the browser under the app's CSP (a data: image, no script, no CDN).
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")
    assert axe_serious_violations(page) == []
    screenshot(page, "two-factor-setup")

    device = TOTPDevice.objects.get(user=counselor, confirmed=False)
    page.locator("#id_code").fill(f"{totp(device.bin_key):06d}")
    page.locator("#id_code").press("Enter")
    page.wait_for_load_state()

    codes = page.locator("ul.backup-codes code").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[0-9a-f]{8}", c) for c in codes)
    page.get_by_role("link", name=re.compile("continue")).click()
    page.wait_for_load_state()
    assert page.url.endswith("/today/")
