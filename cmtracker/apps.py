from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "cmtracker"
    verbose_name = "cmtracker"
