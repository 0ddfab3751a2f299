"""Bulk import of lab results: a CSV file (or its text), previewed row by row or written.

The same service as the web page (vouchers.lab_import) and the same shape checks on the file
(size, encoding, name). `preview` writes nothing; `all_or_nothing` writes every row or none;
`skip_bad_rows` writes the good rows. Either way the answer is the row-by-row report.
"""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from cmtracker.models import Clinic
from patients.permissions import staff_clinic_ids
from vouchers.api.access import StaffOnly
from vouchers.lab_import import (
    ALL_OR_NOTHING,
    ERROR,
    OK,
    SKIP_BAD_ROWS,
    SKIPPED,
    WRITTEN,
    lab_import_apply,
    lab_import_preview,
)
from vouchers.views.lab_import import CSV_NAMES, MAX_BYTES

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
            clinics = Clinic.objects.filter(pk__in=staff_clinic_ids(self.context["request"].user))
            attrs["clinic"] = clinics.order_by("name", "pk").first()
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


class LabImportView(APIView):
    """Staff only. 200 with the report (whatever the rows say); 400 when the file itself is
    unreadable (no header, unknown column, not CSV) or the input is missing."""

    permission_classes = [StaffOnly]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        request={
            "application/json": LabImportSerializer,
            "multipart/form-data": LabImportUploadSerializer,
        },
        responses=ImportReportSerializer,
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


def _on_input_field(error: ValidationError, field: str) -> ValidationError:
    """The service calls the input `file`; JSON callers sent it as `csv`."""
    if field == "file" or not hasattr(error, "error_dict"):
        return error
    errors = error.message_dict
    if "file" in errors:
        errors[field] = errors.pop("file")
    return ValidationError(errors)
