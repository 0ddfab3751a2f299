"""The supervisor: reads every report of their clinics, changes nothing, signs in like staff.

What a supervisor may open is in the permission matrices (tests/test_permission_matrix.py and
tests/api/test_permission_matrix.py, the "supervisor" column); these are the rules behind it.
"""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory

from cmtracker.context_processors import roles
from cmtracker.two_factor import needs_second_factor
from patients.permissions import admin_clinics, report_clinics, staff_clinics
from tests.factories import ClinicFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _nav(user):
    request = RequestFactory().get("/")
    request.user = user
    return roles(request)


def test_a_supervisor_reads_reports_of_their_clinics_and_works_with_no_patient(supervisor, clinic):
    assert report_clinics(supervisor) == [clinic]
    assert staff_clinics(supervisor) == []
    assert admin_clinics(supervisor) == []
    assert _nav(supervisor) == {
        "is_staff_member": False,
        "is_clinic_admin": False,
        "is_report_reader": True,
    }


def test_administrators_read_reports_and_counselors_do_not(clinic_admin, counselor, clinic):
    assert report_clinics(clinic_admin) == [clinic]
    assert report_clinics(counselor) == []
    assert _nav(clinic_admin)["is_report_reader"] is True
    assert _nav(counselor) == {
        "is_staff_member": True,
        "is_clinic_admin": False,
        "is_report_reader": False,
    }


def test_a_supervisor_signs_in_with_a_second_factor_like_all_staff(supervisor):
    assert needs_second_factor(supervisor) is True


def test_roles_at_several_clinics_are_kept_apart(clinic):
    """Counselor at one clinic, supervisor at another: patients of the first, reports of the
    second, and nothing the other way round."""
    other = ClinicFactory(name="Bayview", slug="bayview")
    user = UserFactory(username="mixed")
    MembershipFactory(user=user, clinic=clinic, role="counselor")
    MembershipFactory(user=user, clinic=other, role="supervisor")

    assert staff_clinics(user) == [clinic]
    assert report_clinics(user) == [other]


def test_a_signed_out_visitor_reads_no_report():
    assert report_clinics(AnonymousUser()) == []
