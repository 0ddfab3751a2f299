"""The migration that corrects the petry-fishbowl and ca-rip presets follows the versioning rule:
a preset version an enrollment uses is never edited; the corrected values become the next version,
made current, and the enrollment keeps the version it enrolled under. A clinic's own current
version is left alone."""

import pytest
from django.db.migrations.loader import MigrationLoader

from patients.models import Enrollment
from tests.factories import EnrollmentFactory, PatientFactory
from vouchers.models import Protocol

pytestmark = pytest.mark.django_db


def correction_migration():
    """Found by name, so the migration's number can change."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    (module,) = [
        migration
        for (app, name), migration in loader.disk_migrations.items()
        if app == "vouchers" and name.endswith("presets_cite_their_trials")
    ]
    return __import__(module.__module__, fromlist=["CORRECTED"])


def state_apps():
    """The models as the correction migration sees them (an enrollment still names its protocol
    by a relation then)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    (key,) = [k for k in loader.disk_migrations if k[0] == "vouchers" and "presets_cite" in k[1]]
    return loader.project_state(key).apps


def as_first_loaded(slug: str) -> Protocol:
    """Put the preset back the way migration 0003 loaded it, as an older database holds it."""
    old = correction_migration().CORRECTED[slug]["loaded"]
    protocol = Protocol.objects.get(slug=slug, is_current=True)
    protocol.description = old
    protocol.year_cap_cents = 75000 if slug == "ca-rip" else None
    protocol.draws_escalation = "negative"
    protocol.target_substances = ["cocaine", "amphetamine", "methamphetamine"]
    protocol.save()
    return protocol


@pytest.mark.parametrize("slug", ["petry-fishbowl", "ca-rip"])
def test_a_preset_an_enrollment_uses_gets_a_new_version_and_the_enrollment_keeps_its_own(
    clinic, slug
):
    loaded = as_first_loaded(slug)
    enrollment = EnrollmentFactory(patient=PatientFactory(clinic=clinic), protocol=loaded)

    correction_migration().correct(state_apps(), None)

    loaded.refresh_from_db()
    current = Protocol.objects.get(slug=slug, is_current=True)
    assert current.version == loaded.version + 1
    assert loaded.description == correction_migration().CORRECTED[slug]["loaded"]
    assert not loaded.is_current
    assert Enrollment.objects.get(pk=enrollment.pk).protocol_id == loaded.pk
    assert [p.first_week for p in current.phases.all()] == [
        p.first_week for p in loaded.phases.all()
    ]
    assert current.year_cap_cents is None
    if slug == "petry-fishbowl":
        assert current.draws_escalation == "week"
        assert "alcohol" in current.target_substances
        assert loaded.draws_escalation == "negative"
    else:
        assert loaded.year_cap_cents == 75000


def test_an_unused_preset_is_corrected_in_place():
    loaded = as_first_loaded("ca-rip")

    correction_migration().correct(state_apps(), None)

    assert list(Protocol.objects.filter(slug="ca-rip").values_list("pk", flat=True)) == [loaded.pk]
    loaded.refresh_from_db()
    assert loaded.year_cap_cents is None


def test_a_clinics_own_current_version_is_left_alone():
    own = Protocol.objects.get(slug="ca-rip", is_current=True)
    own.description = "Our county's schedule."
    own.year_cap_cents = 60000
    own.save()

    correction_migration().correct(state_apps(), None)

    own.refresh_from_db()
    assert (own.description, own.year_cap_cents, own.is_current) == (
        "Our county's schedule.",
        60000,
        True,
    )
