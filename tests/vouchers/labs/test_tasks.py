"""The lab import's tasks moved to vouchers/labs/tasks.py and kept their names: the beat schedule
names them, a message queued before an upgrade must still find its task, and a worker, whose
autodiscovery imports only each app's `tasks` module, must know them."""

from django.conf import settings

from cmtracker.celery import app
from vouchers import tasks as app_tasks
from vouchers.labs import tasks


def test_the_lab_import_tasks_keep_their_names():
    assert tasks.lab_import_run.name == "vouchers.tasks.lab_import_run"
    assert tasks.lab_imports_sweep.name == "vouchers.tasks.lab_imports_sweep"


def test_the_apps_tasks_module_brings_the_lab_import_tasks_to_autodiscovery():
    assert app_tasks.lab_import_run is tasks.lab_import_run
    assert app_tasks.lab_imports_sweep is tasks.lab_imports_sweep


def test_every_task_the_beat_schedules_is_registered():
    app.loader.import_default_modules()

    assert {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()} <= set(app.tasks)
