import dj_database_url
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from cmtracker.db_roles import AppRoleRefused, app_role_grant


class Command(BaseCommand):
    help = (
        "Make the PostgreSQL role the app runs as (the user and password of APP_DATABASE_URL) and "
        "grant it only row rights: no UPDATE or DELETE where a trigger refuses them, no TRUNCATE, "
        "no trigger changes. Run as the tables' owner (DATABASE_URL), after `migrate`."
    )

    def handle(self, *args, **options):
        if not settings.APP_DATABASE_URL:
            raise CommandError("set APP_DATABASE_URL to the URL the app connects with")
        app = dj_database_url.parse(settings.APP_DATABASE_URL)
        if not app.get("USER") or not app.get("PASSWORD"):
            raise CommandError("APP_DATABASE_URL names no user and password")
        if app.get("NAME") != connection.settings_dict["NAME"]:
            raise CommandError(
                f"APP_DATABASE_URL is for database {app.get('NAME')!r}, "
                f"DATABASE_URL for {connection.settings_dict['NAME']!r}"
            )
        try:
            grants = app_role_grant(role=app["USER"], password=app["PASSWORD"])
        except AppRoleRefused as refused:
            raise CommandError(str(refused)) from None
        self.stdout.write(
            f"{'Created' if grants.created else 'Updated'} role {grants.role}: row rights on "
            f"{grants.tables} tables, except"
        )
        for table, rights in grants.refused.items():
            self.stdout.write(f"  {table}: no {' or '.join(rights)}")
