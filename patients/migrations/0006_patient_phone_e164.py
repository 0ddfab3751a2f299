"""Patients' phone numbers to E.164, read as dialled in their clinic's country.

A number that is not a valid one of that country (or of the country its + names) is left exactly
as it was, never blanked: a contact number with a typo is still the clinic's best lead, and only
staff can tell what was meant. Those are listed (patient id, record number, clinic; never the
number) so staff can correct them; the patient's form then asks for a valid number. Until then
such a number matches no STOP reply, which is sent from a real number. Only the spelling of a
number changes here, so there is nothing for the audit trail.

Self-contained (phonenumbers only, no project code), so it runs the same whatever the app becomes.
"""

import sys

import phonenumbers
from django.db import migrations

BATCH = 500


def e164_or_none(raw: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def patient_phones_to_e164(apps, schema_editor, out=sys.stdout) -> tuple[int, list]:
    """Convert every patient's number; (how many changed, the patients left as they were)."""
    Patient = apps.get_model("patients", "Patient")
    changed, left = [], []
    patients = (
        Patient.objects.exclude(phone="")
        .select_related("clinic")
        .only("id", "phone", "record_number", "clinic__slug", "clinic__phone_region")
        .order_by("id")
    )
    for patient in patients.iterator(chunk_size=BATCH):
        number = e164_or_none(patient.phone, patient.clinic.phone_region)
        if number is None:
            left.append(patient)
        elif number != patient.phone:
            patient.phone = number
            changed.append(patient)
    Patient.objects.bulk_update(changed, ["phone"], batch_size=BATCH)
    if changed or left:
        out.write(f"\n  Phone numbers: {len(changed)} written in E.164")
        if left:
            out.write(f"; {len(left)} left as they were, not a valid number (correct them):")
            for patient in left:
                out.write(
                    f"\n    patient {patient.id}, record {patient.record_number} "
                    f"at clinic {patient.clinic.slug}"
                )
        out.write("\n")
    return len(changed), left


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0005_patient_phone_indexed"),
        ("cmtracker", "0004_clinic_phone_region"),
    ]

    operations = [
        # Backwards: E.164 is a spelling every older version read, so nothing to undo.
        migrations.RunPython(patient_phones_to_e164, migrations.RunPython.noop, elidable=True),
    ]
