"""The outbox for staff: what was sent, what waits, what failed — and "Send again" for a failure.

Thin views: scope to the staff member's clinics (another clinic's message answers 404), filter,
paginate, call messaging.notifications.notification_retry. A fixed number of queries per page.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import TemplateView

from cmtracker import audit
from messaging.models import Notification
from messaging.notifications import STORED_REASONS, notification_retry
from patients.permissions import StaffRequiredMixin, staff_clinic_ids

PER_PAGE = 50
Status = Notification.Status

# The filter's words for the statuses staff act on.
STATUS_GROUPS = {
    "failed": [Status.FAILED],
    "waiting": [Status.PENDING, Status.SENDING],
    "sent": [Status.SENT],
    "unsent": [Status.EXPIRED, Status.CANCELLED],
}


class NotificationFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=gettext_lazy("Show"),
        required=False,
        choices=[
            ("", gettext_lazy("All")),
            ("failed", gettext_lazy("Failed")),
            ("waiting", gettext_lazy("Waiting to send")),
            ("sent", gettext_lazy("Sent")),
            ("unsent", gettext_lazy("Expired or cancelled")),
        ],
    )


def masked(notification: Notification) -> str:
    """Enough of the address to tell two apart, not enough to read it off a screen."""
    to = notification.to
    if notification.channel == Notification.Channel.SMS:
        return "•••" + to[-4:] if len(to) > 4 else "•••"
    name, _at, domain = to.partition("@")
    return f"{name[:1]}•••@{domain}" if domain else "•••"


def notifications_visible_to(user):
    return Notification.objects.filter(clinic_id__in=staff_clinic_ids(user))


class NotificationListView(StaffRequiredMixin, TemplateView):
    template_name = "messaging/notifications.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = NotificationFilterForm(self.request.GET or None)
        rows = (
            notifications_visible_to(self.request.user)
            .select_related("clinic", "patient", "user")
            .defer("body", "clinic__test_weekdays")
            .order_by("-created_at", "-id")
        )
        status = form.cleaned_data["status"] if form.is_valid() else ""
        if status:
            rows = rows.filter(status__in=STATUS_GROUPS[status])
        page = Paginator(rows, PER_PAGE).get_page(self.request.GET.get("page"))
        notifications = list(page.object_list)
        for n in notifications:
            n.to_masked = masked(n)
            n.error_text = _(n.last_error) if n.last_error in STORED_REASONS else n.last_error
        # The page names patients and what they were told about: a read of their records.
        audit.disclosed(n.patient_id for n in notifications)
        context.update(
            form=form,
            page_obj=page,
            notifications=notifications,
            status=status,
            Status=Status,
        )
        return context


class NotificationSendAgainView(StaffRequiredMixin, View):
    """A failed message goes back to the outbox and is sent now; its attempts and last error
    stay on record. A message that is no longer failed (a double click) is left as it is."""

    def post(self, request, pk):
        notification = (
            notifications_visible_to(request.user).select_related("patient").filter(pk=pk).first()
        )
        if notification is None:
            raise Http404("No such notification")
        if notification_retry(notification=notification, actor=request.user):
            messages.success(request, _("The message will be sent again now."))
        else:
            messages.info(request, _("That message is no longer failed; nothing was changed."))
        url = reverse("notifications")
        status = request.POST.get("status", "")
        if status in STATUS_GROUPS:
            url += "?" + urlencode({"status": status})
        return redirect(url)
