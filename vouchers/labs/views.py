"""Bulk import of lab results in the browser: upload, preview row by row, confirm, report.

Thin: the form checks the file's shape (size, encoding); every rule about the rows is in
vouchers.labs. Between the preview and the confirmation the file waits on the server in an
upload row (LabImport); the session holds only its id and a one-time token, so neither the
browser nor the session carries the file, and it is imported at most once. A long file is
imported by a background job whose page shows its progress.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from cmtracker import audit
from patients.permissions import StaffRequiredMixin, clinic_choose, staff_clinics
from vouchers.labs.importer import (
    ALL_OR_NOTHING,
    SKIP_BAD_ROWS,
    lab_import_confirm,
    lab_import_is_long,
    lab_import_upload,
)
from vouchers.labs.rows import CSV_NAMES, ERROR, MAX_BYTES, ImportReport, lab_import_preview
from vouchers.labs.selectors import lab_import_job_get
from vouchers.labs.tasks import lab_import_run

SESSION_KEY = "lab_import"
# A long file's preview lists its rows with errors only, at most this many: a page of 100,000 rows
# helps nobody.
PREVIEW_ERRORS_SHOWN = 500
MODE_CHOICES = [
    (ALL_OR_NOTHING, gettext_lazy("All or nothing: if any row is bad, write nothing")),
    (SKIP_BAD_ROWS, gettext_lazy("Skip bad rows: write the good rows, report the bad ones")),
]


def _disclosed(rows) -> None:
    """The preview and the report name the patient of each row they list."""
    audit.disclosed(row.patient.pk for row in rows if row.patient is not None)


class LabImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("CSV file"), required=False)
    text = forms.CharField(
        label=gettext_lazy("Or paste the CSV text"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
    )
    mode = forms.ChoiceField(
        label=gettext_lazy("If some rows are bad"),
        choices=MODE_CHOICES,
        initial=ALL_OR_NOTHING,
        widget=forms.RadioSelect,
    )

    def clean(self):
        cleaned = super().clean()
        upload, text = cleaned.get("file"), cleaned.get("text") or ""
        if upload:
            text = self._read(upload)
        elif len(text.encode()) > MAX_BYTES:
            raise ValidationError(_("The text is larger than 5 MB; split it into several files."))
        if not text.strip() and not self.errors:
            raise ValidationError(_("Choose a CSV file, or paste its text."))
        cleaned["csv_text"] = text
        return cleaned

    def _read(self, upload) -> str:
        if not upload.name.lower().endswith(CSV_NAMES):
            self.add_error("file", _("Choose a CSV file (its name ends in .csv)."))
            return ""
        if upload.size > MAX_BYTES:
            self.add_error("file", _("The file is larger than 5 MB; split it into several files."))
            return ""
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            self.add_error("file", _("This is not a CSV text file (save it as CSV UTF-8)."))
            return ""
        if not text.strip():
            self.add_error("file", _("The file is empty."))
        return text


class ConfirmForm(forms.Form):
    token = forms.CharField(widget=forms.HiddenInput)
    mode = forms.ChoiceField(
        label=gettext_lazy("If some rows are bad"), choices=MODE_CHOICES, widget=forms.RadioSelect
    )


class LabImportView(StaffRequiredMixin, View):
    """GET: the upload form. POST: a preview (step=preview) or the import itself (step=confirm).

    The clinic is one of the user's: the first by name, or ?clinic=<id> (another clinic's id
    answers 404).
    """

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.clinics, self.clinic = staff_clinics(request.user), None
            # Someone who works at no clinic is answered by the staff check, not with a 404.
            if self.clinics:
                self.clinic = clinic_choose(self.clinics, request.GET.get("clinic"))
        return super().dispatch(request, *args, **kwargs)

    def url(self) -> str:
        query = "?" + urlencode({"clinic": self.clinic.pk}) if len(self.clinics) > 1 else ""
        return reverse("lab-import") + query

    def render(self, template: str, **context):
        context.update(clinic=self.clinic, clinics=self.clinics, action=self.url())
        return render(self.request, f"vouchers/labs/{template}", context)

    def get(self, request):
        return self.render("upload.html", form=LabImportForm())

    def post(self, request):
        if request.POST.get("step") == "confirm":
            return self.confirm()
        form = LabImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.render("upload.html", form=form)
        text = form.cleaned_data["csv_text"]
        try:
            report = lab_import_preview(clinic=self.clinic, text=text)
        except ValidationError as error:
            form.add_error("file", error.messages)
            return self.render("upload.html", form=form)
        upload = lab_import_upload(
            clinic=self.clinic,
            actor=request.user,
            text=text,
            rows=len(report.rows),
            now=timezone.now(),
        )
        request.session[SESSION_KEY] = {
            "upload": upload.pk,
            "token": upload.token,
            "clinic": self.clinic.pk,
        }
        confirm = ConfirmForm(initial={"token": upload.token, "mode": form.cleaned_data["mode"]})
        rows, long_file = report.rows, lab_import_is_long(rows=len(report.rows))
        if long_file:
            rows = [row for row in rows if row.status == ERROR][:PREVIEW_ERRORS_SHOWN]
        _disclosed(rows)
        return self.render(
            "preview.html",
            report=report,
            rows=rows,
            long_file=long_file,
            errors_shown=PREVIEW_ERRORS_SHOWN,
            form=confirm,
        )

    def confirm(self):
        form = ConfirmForm(self.request.POST)
        stored = self.request.session.pop(SESSION_KEY, None) or {}
        result = None
        if form.is_valid() and stored.get("clinic") == self.clinic.pk:
            try:
                result = lab_import_confirm(
                    clinic=self.clinic,
                    actor=self.request.user,
                    upload_id=stored.get("upload"),
                    token=form.cleaned_data["token"],
                    mode=form.cleaned_data["mode"],
                    now=timezone.now(),
                )
            except ValidationError as error:
                for message in error.messages:
                    messages.error(self.request, message)
                return redirect(self.url())
        if result is None:
            messages.error(self.request, _("This preview has expired; upload the file again."))
            return redirect(self.url())
        if isinstance(result, ImportReport):
            _disclosed(result.rows)
            return self.render("report.html", report=result, rows=result.rows)
        transaction.on_commit(lambda: lab_import_run.delay(result.pk))
        return redirect("lab-import-job", pk=result.pk)


class LabImportJobView(StaffRequiredMixin, View):
    """A long file's import: its progress while it runs (htmx asks again every two seconds, and a
    plain link does the same), then its totals and the rows not written. Staff of the job's
    clinic only; any other id answers 404."""

    def get(self, request, pk: int):
        job = lab_import_job_get(user=request.user, pk=pk, rows_while_running=False)
        template = "job_status.html" if request.htmx else "job.html"
        return render(
            request,
            f"vouchers/labs/{template}",
            {"job": job, "clinic": job.clinic, "clinics": [job.clinic], "rows": job.error_rows},
        )
