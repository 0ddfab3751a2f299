"""Staff's Notifications page: their clinics' outbox, filtered, and "Send again" for a failure."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from cmtracker.models import AuditEvent
from messaging import sms
from messaging.models import Notification
from messaging.notifications import OPTED_OUT, notification_queue, notifications_send_due
from messaging.sms import BaseSmsBackend
from tests.factories import PatientFactory

Status = Notification.Status
URL = reverse("notifications")


def text(response) -> str:
    return " ".join(response.content.decode().split())


@pytest.fixture(autouse=True)
def texting(patient):
    """The patient takes texts at the number the messages here go to (checked when sending), and
    the clinic has no quiet hours: these tests send at the real time of day, whatever it is."""
    patient.phone = "+13125550123"
    patient.reminder_consent_sms = True
    patient.save()
    clinic = patient.clinic
    clinic.quiet_hours_start = clinic.quiet_hours_end
    clinic.save()
    return patient


def queue(clinic, patient, key, **fields):
    values = dict(
        clinic=clinic,
        kind=Notification.Kind.TEST_REMINDER,
        channel=Notification.Channel.SMS,
        to="+13125550123",
        body="Test today",
        dedupe_key=key,
        patient=patient,
        now=timezone.now() - timedelta(hours=1),
        not_before=timezone.now() - timedelta(hours=1),
    )
    values.update(fields)
    n = notification_queue(**values)
    n.refresh_from_db()
    return n


def failed(clinic, patient, key="failed"):
    """A message that has used up its attempts, as the sender leaves it."""
    return Notification.objects.create(
        clinic=clinic,
        patient=patient,
        kind=Notification.Kind.TEST_REMINDER,
        channel=Notification.Channel.SMS,
        to="+13125550123",
        body="Test today",
        dedupe_key=key,
        not_before=timezone.now() - timedelta(hours=1),
        status=Status.FAILED,
        attempts=8,
        last_error="ConnectionError: provider unreachable",
    )


class BrokenSms(BaseSmsBackend):
    def send(self, *, to, body):
        raise ConnectionError("provider unreachable")


def test_a_failing_backend_ends_failed_and_shows_on_the_page(
    client, counselor, clinic, patient, settings
):
    settings.SMS_BACKEND = "tests.messaging.test_notifications_page.BrokenSms"
    settings.NOTIFICATION_MAX_ATTEMPTS = 3
    n = queue(clinic, patient, "award:1:sms", kind=Notification.Kind.AWARD)
    now = timezone.now()
    for _ in range(3):
        notifications_send_due(now=now)
        n.refresh_from_db()
        now = max(now, n.not_before)

    client.force_login(counselor)
    page = text(client.get(URL, {"status": "failed"}))
    assert n.status == Status.FAILED
    assert "Award notice" in page
    assert patient.full_name in page
    assert "ConnectionError: provider unreachable" in page
    assert "•••0123" in page and "+13125550123" not in page
    assert reverse("notification-send-again", args=[n.pk]) in page


def test_the_status_filter_shows_only_that_status(client, counselor, clinic, patient):
    failed(clinic, patient, "f")
    queue(clinic, patient, "w", not_before=timezone.now() + timedelta(hours=2))
    sent = queue(clinic, patient, "s")
    notifications_send_due()
    sent.refresh_from_db()
    client.force_login(counselor)

    def statuses(choice):
        response = client.get(URL, {"status": choice})
        return sorted(n.dedupe_key for n in response.context["notifications"])

    assert statuses("failed") == ["f"]
    assert statuses("waiting") == ["w"]
    assert statuses("sent") == ["s"]
    assert statuses("") == ["f", "s", "w"]
    assert client.get(URL, {"status": "nonsense"}).status_code == 200


def test_send_again_sends_a_failed_message_now_keeping_its_history(
    client, counselor, clinic, patient, django_capture_on_commit_callbacks
):
    n = failed(clinic, patient)
    client.force_login(counselor)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("notification-send-again", args=[n.pk]), {"status": "failed"}, follow=True
        )

    assert response.redirect_chain[-1][0] == f"{URL}?status=failed"
    assert "The message will be sent again now." in text(response)
    n.refresh_from_db()
    # Sent at once by the task after commit (eager in tests), one more attempt on the record.
    assert (n.status, n.attempts) == (Status.SENT, 9)
    assert n.last_error == "ConnectionError: provider unreachable"
    assert sms.outbox == [("+13125550123", "Test today")]


def test_send_again_twice_sends_once(
    client, counselor, clinic, patient, django_capture_on_commit_callbacks
):
    n = failed(clinic, patient)
    client.force_login(counselor)
    url = reverse("notification-send-again", args=[n.pk])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, follow=True)

    assert "no longer failed" in text(response)
    assert len(sms.outbox) == 1


def test_another_clinics_messages_are_neither_listed_nor_sent_again(
    client, other_counselor, clinic, patient
):
    n = failed(clinic, patient)
    client.force_login(other_counselor)

    assert client.get(URL).context["notifications"] == []
    assert client.post(reverse("notification-send-again", args=[n.pk])).status_code == 404
    n.refresh_from_db()
    assert n.status == Status.FAILED


@pytest.mark.parametrize("who", ["patient_user", None])
def test_patients_and_strangers_cannot_open_the_page(client, clinic, patient, who, request):
    failed(clinic, patient)
    if who:
        client.force_login(request.getfixturevalue(who))
        assert client.get(URL).status_code == 404
    else:
        assert client.get(URL).status_code == 302


def test_send_again_is_post_only(client, counselor, clinic, patient):
    n = failed(clinic, patient)
    client.force_login(counselor)
    assert client.get(reverse("notification-send-again", args=[n.pk])).status_code == 405


def test_staff_see_the_page_in_their_navigation(client, counselor):
    client.force_login(counselor)
    assert f'href="{URL}"' in client.get(reverse("patient-list")).content.decode()


def test_the_list_costs_the_same_queries_for_5_or_60_messages(
    client, counselor, clinic, django_assert_max_num_queries
):
    client.force_login(counselor)

    def fill(n, start):
        for i in range(start, start + n):
            patient = PatientFactory(clinic=clinic, primary_counselor=counselor)
            failed(clinic, patient, key=f"k{i}")

    fill(5, 0)
    # Session, sign-in, second factor, audit and navigation take most of these; the page itself
    # counts and reads one page. A query per row would pass 16 already at 5 rows.
    with django_assert_max_num_queries(16) as small:
        assert client.get(URL).status_code == 200
    fill(55, 5)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get(URL)
    assert len(response.context["notifications"]) == 50


def test_the_list_is_logged_as_a_read_of_the_patients_it_names(client, counselor, clinic, patient):
    failed(clinic, patient)
    client.force_login(counselor)
    client.get(URL)

    [read] = AuditEvent.objects.filter(action=AuditEvent.Action.READ)
    assert (read.patient_id, read.actor_label) == (patient.pk, "casey")


def test_send_again_is_in_the_audit_log_with_who_did_it(client, counselor, clinic, patient):
    n = failed(clinic, patient)
    client.force_login(counselor)
    client.post(reverse("notification-send-again", args=[n.pk]))

    [event] = AuditEvent.objects.filter(object_type="notification")
    assert (event.object_id, event.actor_label, event.patient_id) == (
        str(n.pk),
        "casey",
        patient.pk,
    )
    assert event.changes == {"status": ["failed", "pending"]}


def test_a_message_cancelled_by_stop_says_why(client, counselor, clinic, patient):
    n = failed(clinic, patient)
    Notification.objects.filter(pk=n.pk).update(status=Status.CANCELLED, last_error=OPTED_OUT)
    client.force_login(counselor)

    page = text(client.get(URL, {"status": "unsent"}))

    assert "The patient has opted out of SMS (replied STOP)." in page
    assert "Send again" not in page
