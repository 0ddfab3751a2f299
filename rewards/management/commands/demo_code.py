"""The code a demo staff account's authenticator would show now, for trying the demo without a
phone. Refuses on a production database, like demo_data."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from rewards.management.commands.demo_data import DEMO_TOTP_KEY_HEX


class Command(BaseCommand):
    help = "Print the current two-factor code of the demo staff accounts (not in production)."

    def handle(self, *args, **options):
        if getattr(settings, "PRODUCTION", False):
            raise CommandError("the demo's authenticator key is published: not in production")
        device = TOTPDevice.objects.filter(key=DEMO_TOTP_KEY_HEX, confirmed=True).first()
        if device is None:
            raise CommandError("no demo staff account; run `manage.py demo_data` first")
        code = totp(device.bin_key, device.step, device.t0, device.digits, device.drift)
        self.stdout.write(f"{code:0{device.digits}d}")
