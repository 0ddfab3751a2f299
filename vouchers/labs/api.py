"""Bulk import of lab results: a CSV file (or its text), previewed row by row or written.

The same service as the web page (vouchers.labs) and the same shape checks on the file
(size, encoding, name). `preview` writes nothing; `all_or_nothing` writes every row or none;
`skip_bad_rows` writes the good rows. Either way the answer is the row-by-row report — for a file
of up to 2,000 rows. A longer file is imported by a background job: 202 at once, with the job's
id and the URL where its progress, totals and rows not written are read.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from cmtracker.models import Clinic
from patients.permissions import staff_clinic_ids, staff_clinics
from vouchers.api.access import StaffOnly
from vouchers.labs.importer import (
    ALL_OR_NOTHING,
    SKIP_BAD_ROWS,
    lab_import_apply,
    lab_import_is_long,
    lab_import_job_create,
)
from vouchers.labs.rows import (
    CSV_NAMES,
    ERROR,
    MAX_BYTES,
    OK,
    SKIPPED,
    WRITTEN,
    lab_import_preview,
    lab_import_rows_count,
)
from vouchers.labs.selectors import lab_import_job_get
from vouchers.labs.tasks import lab_import_run
from vouchers.models import LabImport

PREVIEW = "preview"
MODES = [PREVIEW, ALL_OR_NOTHING, SKIP_BAD_ROWS]


class CallerClinicField(serializers.PrimaryKeyRelatedField):
    """One of the caller's clinics; another clinic's id reads "does not exist"."""

    def __init__(self, **kwargs):
        super().__init__(queryset=Clinic.objects.all(), **kwargs)

    def get_queryset(self):
        return Clinic.objects.filter(pk__in=staff_clinic_ids(self.context["request"].user))


class LabImportSerializer(serializers.Serializer):
    """`csv`: the file's text, a header row and then one row per specimen. `mode`: preview (the
    default) writes nothing. `clinic`: one of the caller's clinics; the first by name when left
    out."""

    csv = serializers.CharField(
        required=False, trim_whitespace=False, help_text=gettext_lazy("Or paste the CSV text")
    )
    mode = serializers.ChoiceField(choices=MODES, default=PREVIEW)
    clinic = CallerClinicField(required=False)

    def validate(self, attrs):
        attrs["text"] = self.text(attrs)
        if attrs.get("clinic") is None:
            clinics = staff_clinics(self.context["request"].user)
            attrs["clinic"] = clinics[0] if clinics else None
        return attrs

    def text(self, attrs) -> str:
        text = attrs.get("csv") or ""
        if len(text.encode()) > MAX_BYTES:
            raise serializers.ValidationError(
                {"csv": [_("The text is larger than 5 MB; split it into several files.")]}
            )
        if not text.strip():
            raise serializers.ValidationError({"csv": [_("Choose a CSV file, or paste its text.")]})
        return text


class LabImportUploadSerializer(LabImportSerializer):
    """As the JSON body, with the CSV as an uploaded `file` (UTF-8) instead of `csv`."""

    file = serializers.FileField(required=False, help_text=gettext_lazy("CSV file"))

    def text(self, attrs) -> str:
        upload = attrs.get("file")
        if upload is None:
            if not (attrs.get("csv") or "").strip():
                raise serializers.ValidationError(
                    {"file": [_("Choose a CSV file, or paste its text.")]}
                )
            return super().text(attrs)
        if not upload.name.lower().endswith(CSV_NAMES):
            raise serializers.ValidationError(
                {"file": [_("Choose a CSV file (its name ends in .csv).")]}
            )
        if upload.size > MAX_BYTES:
            raise serializers.ValidationError(
                {"file": [_("The file is larger than 5 MB; split it into several files.")]}
            )
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise serializers.ValidationError(
                {"file": [_("This is not a CSV text file (save it as CSV UTF-8).")]}
            ) from None
        if not text.strip():
            raise serializers.ValidationError({"file": [_("The file is empty.")]})
        return text


class ImportRowSerializer(serializers.Serializer):
    """One row of the file: `number` is the line it ends on (the header is line 1)."""

    number = serializers.IntegerField()
    record_number = serializers.CharField()
    status = serializers.ChoiceField(choices=[OK, ERROR, WRITTEN, SKIPPED])
    messages = serializers.ListField(child=serializers.CharField())


class ImportTotalsSerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    ok = serializers.IntegerField()
    errors = serializers.IntegerField()
    written = serializers.IntegerField()
    skipped = serializers.IntegerField()
    settled = serializers.IntegerField(help_text=gettext_lazy("Enrollments settled"))


class ImportReportSerializer(serializers.Serializer):
    """The row-by-row report. `applied` is false for a preview."""

    clinic = serializers.IntegerField()
    mode = serializers.ChoiceField(choices=MODES)
    applied = serializers.BooleanField()
    totals = ImportTotalsSerializer()
    rows = ImportRowSerializer(many=True)


class LabImportJobSerializer(serializers.Serializer):
    """A long file's import job. `status`: queued, running, done or failed. `rows_done` of
    `rows_total` rows are done (checked and written, or found bad); `rows` lists the rows not
    written, with what was wrong, once they are known."""

    id = serializers.IntegerField()
    url = serializers.CharField(help_text=gettext_lazy("Where to read this job's progress"))
    clinic = serializers.IntegerField(source="clinic_id")
    mode = serializers.ChoiceField(choices=[ALL_OR_NOTHING, SKIP_BAD_ROWS])
    status = serializers.ChoiceField(
        choices=[s for s in LabImport.Status.values if s != LabImport.Status.UPLOADED]
    )
    rows_total = serializers.IntegerField()
    rows_done = serializers.IntegerField()
    totals = ImportTotalsSerializer()
    rows = ImportRowSerializer(many=True, source="error_rows")
    failure = serializers.CharField()
    created_by = serializers.IntegerField(source="created_by_id", allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


def _job_body(job: LabImport, request) -> dict:
    job.url = request.build_absolute_uri(reverse("api-lab-import-job", args=[job.pk]))
    return LabImportJobSerializer(job).data


class LabImportView(APIView):
    """Staff only. 200 with the report (whatever the rows say); 202 with a job for a file of more
    than 2,000 rows to import; 400 when the file itself is unreadable (no header, unknown column,
    not CSV) or the input is missing."""

    permission_classes = [StaffOnly]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        request={
            "application/json": LabImportSerializer,
            "multipart/form-data": LabImportUploadSerializer,
        },
        responses={
            200: ImportReportSerializer,
            202: OpenApiResponse(
                LabImportJobSerializer,
                description=gettext_lazy(
                    "A file of more than 2,000 rows to import: a job, imported in the background."
                ),
            ),
        },
    )
    def post(self, request):
        """Preview (the default) or import a lab's CSV of results, answering row by row."""
        upload = request.content_type.startswith("multipart/") or "file" in request.FILES
        kind = LabImportUploadSerializer if upload else LabImportSerializer
        form = kind(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        data = form.validated_data
        clinic, mode = data["clinic"], data["mode"]
        try:
            if mode == PREVIEW:
                report = lab_import_preview(clinic=clinic, text=data["text"])
            elif lab_import_is_long(rows=(rows := lab_import_rows_count(text=data["text"]))):
                job = lab_import_job_create(
                    clinic=clinic,
                    actor=request.user,
                    text=data["text"],
                    rows=rows,
                    mode=mode,
                    now=timezone.now(),
                )
                transaction.on_commit(lambda: lab_import_run.delay(job.pk))
                body = _job_body(job, request)
                return Response(body, status=202, headers={"Location": body["url"]})
            else:
                report = lab_import_apply(
                    clinic=clinic, text=data["text"], actor=request.user, mode=mode
                )
        except ValidationError as error:
            raise _on_input_field(error, "file" if data.get("file") else "csv") from None
        body = {
            "clinic": clinic.pk,
            "mode": mode,
            "applied": report.applied,
            "totals": report.totals,
            "rows": [
                {
                    "number": row.number,
                    "record_number": row.record_number,
                    "status": row.status,
                    "messages": row.messages,
                }
                for row in report.rows
            ],
        }
        return Response(ImportReportSerializer(body).data)


class LabImportJobView(APIView):
    """Staff of the job's clinic only: another clinic's job, like a missing one, answers 404."""

    permission_classes = [StaffOnly]

    @extend_schema(responses=LabImportJobSerializer)
    def get(self, request, pk: int):
        """A lab file's import job: its status, progress, totals and the rows not written."""
        # The rows refused by the first check are in the answer while the job still runs.
        job = lab_import_job_get(user=request.user, pk=pk, rows_while_running=True)
        return Response(_job_body(job, request))


def _on_input_field(error: ValidationError, field: str) -> ValidationError:
    """The service calls the input `file`; JSON callers sent it as `csv`."""
    if field == "file" or not hasattr(error, "error_dict"):
        return error
    errors = error.message_dict
    if "file" in errors:
        errors[field] = errors.pop("file")
    return ValidationError(errors)
