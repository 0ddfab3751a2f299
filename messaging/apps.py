from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"

    def ready(self):
        # The outbox queues its send task by name from Celery's registry (after a commit, in the
        # web process as in the worker), so the task must be registered in every process.
        from messaging import tasks  # noqa: F401
