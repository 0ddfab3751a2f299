from datetime import date

import factory
from factory.django import DjangoModelFactory

from cmtracker.models import Clinic, Membership, User
from patients.models import Enrollment, Patient
from vouchers.models import Protocol


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


class EnrollmentFactory(DjangoModelFactory):
    class Meta:
        model = Enrollment

    patient = factory.SubFactory(PatientFactory)
    protocol = factory.LazyFunction(
        lambda: Protocol.objects.get(slug="higgins-1994", is_current=True)
    )
    start_date = date(2026, 1, 5)
