from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "cmtracker"
    verbose_name = "cmtracker"

    def ready(self):
        from django.contrib.auth.signals import user_login_failed

        from cmtracker import audit

        # A failed sign-in is in the audit log for good; axes' counter is wiped by a success.
        user_login_failed.connect(audit.sign_in_failed, dispatch_uid="cmtracker-audit-sign-in")
