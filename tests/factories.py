import importlib
from datetime import date

import factory
from django.apps import apps as django_apps
from factory.django import DjangoModelFactory

from cmtracker.models import Clinic, Membership, User
from patients.models import Enrollment, Patient
from vouchers.models import Protocol


def preset_protocol(slug: str) -> Protocol:
    """A protocol preset, reloaded if a transactional test's flush removed what migrations loaded
    (serialized rollback does not restore them when a live server starts mid-session)."""
    found = Protocol.objects.filter(slug=slug, is_current=True).first()
    if found is None:
        presets = importlib.import_module("vouchers.migrations.0003_protocol_presets")
        presets.load(django_apps, None)
        found = Protocol.objects.get(slug=slug, is_current=True)
    return found


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("a long test password")


class ClinicFactory(DjangoModelFactory):
    class Meta:
        model = Clinic
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Clinic {n}")
    slug = factory.Sequence(lambda n: f"clinic-{n}")
    time_zone = "America/Los_Angeles"


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    clinic = factory.SubFactory(ClinicFactory)
    role = Membership.Role.COUNSELOR


class PatientFactory(DjangoModelFactory):
    class Meta:
        model = Patient

    clinic = factory.SubFactory(ClinicFactory)
    record_number = factory.Sequence(lambda n: f"MRN{n:05d}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    # Most tests read what a message promises (amounts, streaks): the detailed wording. A new
    # patient's real default, the clinic's (discreet) one: tests/vouchers/test_discreet_messages.py.
    message_style = Patient.MessageStyle.DETAILED


class EnrollmentFactory(DjangoModelFactory):
    class Meta:
        model = Enrollment

    patient = factory.SubFactory(PatientFactory)
    protocol = factory.LazyFunction(lambda: preset_protocol("higgins-1994"))
    start_date = date(2026, 1, 5)
