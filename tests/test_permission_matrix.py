"""Every page × every persona: who gets in (200, or 302 after a write), who is sent to sign in
(302), who is told no (403) and who is told nothing exists (404).

The target is the fixed patient of clinic A (Higgins enrollment, one negative, one missed test,
a waiting and an approved request, a prize draw, a failed notification). The rules:
- anonymous visitors are sent to sign in, except on the sign-in and password-reset pages;
- a patient reaches their own portal and nothing of staff (404: a staff page does not exist for
  them), and another patient's things are not there either (404);
- clinic staff reach their clinic's patients; another clinic's counselor gets 404 on every id;
- what only administrators do answers a counselor 403 where the page is about a patient they
  know (the audit trail), and 404 for the catalog's pages, which do not exist for them;
- a superuser who works at no clinic uses the Django admin; the app's clinical pages treat them as
  no clinic's staff (404), so patient data is reached only through the audited admin;
- a supervisor reads their clinics' reports and changes nothing: every other staff page answers
  404, as for someone who works at no clinic.
The API has its own matrix (tests/api/test_permission_matrix.py) over the same personas;
`test_every_route_is_in_a_matrix` keeps both complete.
"""

import itertools
import uuid
from datetime import date, timedelta

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from cmtracker.api_tokens import api_token_new
from messaging.models import Notification
from patients.models import Specimen
from rewards import redemptions
from rewards.models import CatalogItem, PrizeDraw
from tests.api.test_permission_matrix import MATRIX as API_MATRIX
from tests.conftest import at
from tests.factories import UserFactory
from vouchers import recording
from vouchers.models import LabImport

PERSONAS = [
    "anonymous",
    "patient",
    "other patient",
    "counselor",
    "other clinic's counselor",
    "clinic admin",
    "superuser",
    "supervisor",
]

A, P, OP, C, OC, CA, SU, SV = range(8)


def row(*statuses):
    assert len(statuses) == len(PERSONAS)
    return list(statuses)


STAFF_PAGE = row(302, 404, 404, 200, 200, 200, 404, 404)  # a page of one's own clinics: no id
PATIENT_PAGE = row(302, 404, 404, 200, 404, 200, 404, 404)  # a staff page about the patient
ADMIN_ONLY = row(302, 404, 404, 403, 404, 200, 404, 404)
ADMIN_ONLY_NO_ID = row(302, 404, 404, 404, 404, 200, 404, 404)
PORTAL = row(302, 200, 200, 404, 404, 404, 404, 404)
REPORTS = row(302, 404, 404, 404, 404, 200, 404, 200)  # the clinic's administrators, supervisors
PUBLIC = row(200, 200, 200, 200, 200, 200, 200, 200)
ACTION = row(
    302, 404, 404, 302, 404, 302, 404, 404
)  # a staff write about the patient: done, redirect

# (url name, method, args from the context, form data) -> expected status per persona.
PAGES = [
    ("home", "get", [], None, row(302, 302, 302, 302, 302, 302, 302, 302)),
    ("healthz", "get", [], None, PUBLIC),
    ("login", "get", [], None, PUBLIC),
    ("logout", "post", [], None, row(302, 302, 302, 302, 302, 302, 302, 302)),
    ("password_change", "get", [], None, row(302, 200, 200, 200, 200, 200, 200, 200)),
    ("password_change_done", "get", [], None, row(302, 200, 200, 200, 200, 200, 200, 200)),
    ("password_reset", "get", [], None, PUBLIC),
    ("password_reset_done", "get", [], None, PUBLIC),
    ("password_reset_confirm", "get", ["uid", "token"], None, PUBLIC),
    ("password_reset_complete", "get", [], None, PUBLIC),
    ("set_language", "post", [], {"language": "es"}, row(*[302] * 8)),
    ("account", "get", [], None, row(302, 200, 200, 200, 200, 200, 200, 200)),
    # The patient's own API token: theirs to revoke, nobody else's (404).
    ("api-token-revoke", "post", ["api_token"], None, row(302, 302, 404, 404, 404, 404, 404, 404)),
    ("api-tokens-revoke-all", "post", [], None, row(*[302] * 8)),
    ("two-factor", "get", [], None, row(302, 302, 302, 200, 200, 200, 200, 200)),
    ("two-factor-setup", "get", [], None, row(302, 200, 200, 200, 200, 200, 200, 200)),
    ("two-factor-backup-codes", "post", [], None, row(302, 302, 302, 200, 200, 200, 200, 200)),
    ("today", "get", [], None, STAFF_PAGE),
    ("patient-list", "get", [], None, STAFF_PAGE),
    ("patient-detail", "get", ["patient"], None, PATIENT_PAGE),
    ("patient-audit", "get", ["patient"], None, ADMIN_ONLY),
    ("patient-audit-export", "get", ["patient"], None, ADMIN_ONLY),
    ("patient-access", "get", ["patient"], None, PATIENT_PAGE),
    ("specimen-record", "get", ["patient"], None, PATIENT_PAGE),
    ("attendance-record", "get", ["patient"], None, PATIENT_PAGE),
    ("specimen-correct", "get", ["specimen"], None, PATIENT_PAGE),
    ("specimen-excuse", "get", ["missed"], None, PATIENT_PAGE),
    ("enrollment-manage", "get", ["patient"], None, PATIENT_PAGE),
    ("patient-redemption-new", "get", ["patient"], None, PATIENT_PAGE),
    ("prize-draws", "get", ["patient"], None, PATIENT_PAGE),
    ("prize-claim", "get", ["draw"], None, ACTION),  # to the draws page
    ("redemptions", "get", [], None, STAFF_PAGE),
    ("redemption-action", "post", ["requested", "approve"], None, ACTION),
    ("notifications", "get", [], None, STAFF_PAGE),
    ("notification-send-again", "post", ["notification"], None, ACTION),
    ("lab-import", "get", [], None, STAFF_PAGE),
    ("lab-import-job", "get", ["lab_import"], None, PATIENT_PAGE),  # a job of clinic A's
    ("catalog", "get", [], None, ADMIN_ONLY_NO_ID),
    ("catalog-add", "get", [], None, ADMIN_ONLY_NO_ID),
    ("catalog-edit", "get", ["item"], None, ADMIN_ONLY_NO_ID),
    ("catalog-stock", "get", ["item"], None, ADMIN_ONLY_NO_ID),
    ("catalog-reconciliation", "get", [], None, ADMIN_ONLY_NO_ID),
    ("reports-dashboard", "get", [], None, REPORTS),
    ("reports-organization", "get", [], None, REPORTS),
    ("portal", "get", [], None, PORTAL),
    ("portal-reminders", "get", [], None, PORTAL),
    ("portal-catalog", "get", [], None, PORTAL),
    ("portal-redemptions", "get", [], None, PORTAL),
    (
        "portal-redemption-cancel",
        "post",
        ["requested"],
        None,
        row(302, 302, 404, 404, 404, 404, 404, 404),
    ),
    ("sms-inbound", "post", [], {"From": "+13125550123", "Body": "STOP"}, row(*[403] * 8)),
    # The payer report and the exports: the clinic's report readers (administrators and
    # supervisors); the identifiable tables, its administrators only.
    ("reports-payer", "get", [], None, row(302, 404, 404, 404, 404, 200, 404, 200)),
    ("reports-payer-csv", "get", [], None, row(302, 404, 404, 404, 404, 200, 404, 200)),
    ("reports-exports", "get", [], None, row(302, 404, 404, 404, 404, 200, 404, 200)),
    ("reports-export-research", "get", [], None, row(302, 404, 404, 404, 404, 200, 404, 200)),
    ("reports-export-table", "get", ["table"], None, row(302, 404, 404, 404, 404, 200, 404, 404)),
]


@pytest.fixture
def everyone(patient_user, other_patient, counselor, other_counselor, clinic_admin, supervisor, db):
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    return [None, patient_user, other_patient.user, counselor, other_counselor, clinic_admin,
            superuser, supervisor]  # fmt: skip


@pytest.fixture
def context(clinic, counselor, clinic_admin, patient, enrollment):
    """Makes the records the pages are about; a write gets fresh ones for each persona."""
    days = itertools.count()
    return lambda: _records(clinic, counselor, patient, enrollment, next(days))


def _records(clinic, counselor, patient, enrollment, n):
    day = date(2026, 1, 5) + timedelta(days=2 * n)  # each set on days of its own
    negative = recording.specimen_record(
        patient=patient, collected_at=at(clinic, day), results={"cocaine": "negative"}
    ).specimen
    missed = recording.specimen_record(
        patient=patient,
        collected_at=at(clinic, day + timedelta(days=1)),
        status="missed",
        results={},
    ).specimen
    assert missed.outcome == Specimen.Outcome.MISSED
    item = CatalogItem.objects.create(clinic=clinic, name="Bus pass", price_cents=50, stock=5)
    requested = redemptions.redemption_request(
        patient=patient, items=[(item, 1)], requested_by=counselor
    )
    draw = PrizeDraw.objects.create(patient=patient, enrollment=enrollment, tier="small")
    notification = Notification.objects.create(
        clinic=clinic,
        patient=patient,
        kind=Notification.Kind.TEST_REMINDER,
        channel=Notification.Channel.SMS,
        to="+13125550123",
        body="Test today",
        dedupe_key=f"matrix-{uuid.uuid4()}",
        not_before=at(clinic, date(2026, 1, 7)),
        status=Notification.Status.FAILED,
        attempts=8,
    )
    lab_import = LabImport.objects.create(
        clinic=clinic,
        created_by=counselor,
        status=LabImport.Status.RUNNING,
        expires_at=at(clinic, day),
    )
    return {
        "patient": patient.pk,
        "lab_import": lab_import.pk,
        "specimen": negative.pk,
        "missed": missed.pk,
        "item": item.pk,
        "requested": requested.pk,
        "draw": draw.pk,
        "notification": notification.pk,
        "api_token": api_token_new(user=patient.user or counselor)[0].digest,
        "approve": "approve",
        "table": "patients",
        "uid": "MQ",
        "token": "set-password",
    }


def _client(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)  # with the second factor (see tests/conftest.py)
    return client


@pytest.mark.parametrize(
    ("name", "method", "args", "data", "expected"), PAGES, ids=[page[0] for page in PAGES]
)
def test_each_persona_gets_the_answer_it_should(
    everyone, context, name, method, args, data, expected
):
    records = context()
    answers = []
    for user in everyone:
        if method == "post":
            records = context()  # a write changes its target: each persona gets a fresh one
        url = reverse(name, args=[records[a] for a in args])
        answers.append(getattr(_client(user), method)(url, data or {}).status_code)

    assert dict(zip(PERSONAS, answers, strict=True)) == dict(zip(PERSONAS, expected, strict=True))


def _routes(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            if p.namespace == "admin":
                continue  # the Django admin: staff flag + superuser, tested in tests/vouchers
            yield from _routes(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern) and p.name:
            yield p.name


class _Ids(dict):
    def __missing__(self, key):
        return 1


def test_every_route_is_in_a_matrix():
    """A new page or endpoint must say who may use it: add it to PAGES or the API matrix."""
    api = {resolve(path.format_map(_Ids()).split("?")[0]).url_name for _m, path, *_r in API_MATRIX}
    covered = {name for name, *_rest in PAGES} | api
    assert set(_routes(get_resolver().url_patterns)) - covered == set()


# Pages a signed-in staff member reaches before giving the second factor: nothing with patient data.
BEFORE_SECOND_FACTOR = {
    "healthz",
    "login",
    "logout",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    "set_language",
    "two-factor",
    "two-factor-setup",
    "two-factor-backup-codes",
    "sms-inbound",  # Twilio's, not a person's: refused without its signature
}


def test_staff_without_the_second_factor_reach_no_page_or_endpoint_with_patient_data(
    counselor, context
):
    records = context()
    client = Client()
    client.post(reverse("login"), {"username": "casey", "password": "a long test password"})
    reached = {}
    for name, method, args, data, _expected in PAGES:
        if name in BEFORE_SECOND_FACTOR:
            continue
        response = getattr(client, method)(reverse(name, args=[records[a] for a in args]), data)
        if not response.get("Location", "").startswith(reverse("two-factor")):
            reached[name] = response.status_code
    for method, path, *_rest in API_MATRIX:
        url = path.format_map(_Ids())
        if getattr(client, method)(url).status_code != 403 and "/v1/" in url:
            reached[url] = method
    assert reached == {}
